package docs

import (
	"bytes"
	"errors"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/genrouter/genrouter/internal/media/docs/internal/pdf"
)

// pdf renders the text layer page by page under "## Page N" headings.
func (x *extractor) pdf(data []byte) error {
	r, err := openPDF(data)
	if err != nil {
		if errors.Is(err, pdf.ErrInvalidPassword) || bytes.Contains(data, []byte("/Encrypt")) {
			return errorf(KindEncrypted, "the PDF is encrypted (password-protected)")
		}
		return errorf(KindCorrupt, "the PDF is corrupt or unreadable%s", detail(err))
	}
	pages, total, err := x.pdfPages(r)
	if err != nil {
		return err
	}
	if len(pages) == 0 {
		return errorf(KindCorrupt, "the PDF is corrupt or unreadable (no pages found)")
	}
	o := &x.out
	anyText := false
	for i, p := range pages {
		if err := x.alive(); err != nil {
			return err
		}
		o.block()
		o.WriteString("## Page " + strconv.Itoa(i+1) + "\n\n")
		text, err := x.pageText(p)
		var de *Error
		switch {
		case err != nil && (!errors.As(err, &de) || de.Kind != KindCorrupt):
			return err // a limit or the deadline: the whole file fails
		case err != nil:
			o.WriteString("(this page could not be read)")
		case text == "":
			o.WriteString("(no text on this page)")
		default:
			anyText = true
			o.WriteString(text)
		}
	}
	if total > len(pages) {
		o.block()
		o.WriteString("[… " + strconv.Itoa(total-len(pages)) + " more pages not extracted]")
	}
	if !anyText {
		o.block()
		o.WriteString("(the PDF has no text layer: it may be scanned images)")
	}
	return nil
}

// openPDF works around two strictnesses of the reader: it wants a 1.x
// header at offset 0 and %%EOF within the last bytes. PDF 2.0 files and
// files with junk around them are common and otherwise fine.
func openPDF(data []byte) (r *pdf.Reader, err error) {
	if i := bytes.Index(data[:min(len(data), 1024)], []byte("%PDF-")); i > 0 {
		data = data[i:]
	}
	if i := bytes.LastIndex(data, []byte("%%EOF")); i >= 0 {
		data = data[:i+5]
	}
	if len(data) < 16 {
		return nil, errors.New("the file is truncated")
	}
	defer func() {
		if v := recover(); v != nil {
			r, err = nil, errors.New("malformed PDF")
		}
	}()
	var head [9]byte
	copy(head[:], "%PDF-1.7\n")
	if c := data[8]; c == '\r' || c == '\n' {
		head[8] = c
	}
	if string(data[:7]) == "%PDF-1." && data[7] >= '0' && data[7] <= '7' {
		head[7] = data[7]
	}
	return pdf.NewReader(&patchedHead{b: data, head: head}, int64(len(data)))
}

// patchedHead presents a 1.x header over the first bytes of a file.
type patchedHead struct {
	b    []byte
	head [9]byte
}

func (p *patchedHead) ReadAt(dst []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	if off >= int64(len(p.b)) {
		return 0, io.EOF
	}
	n := copy(dst, p.b[off:])
	for i := 0; i < n && off+int64(i) < int64(len(p.head)); i++ {
		dst[i] = p.head[off+int64(i)]
	}
	if n < len(dst) {
		return n, io.EOF
	}
	return n, nil
}

// pdfPages walks the page tree itself, depth- and visit-bounded, because a
// crafted tree can be cyclic. It returns at most MaxPages pages and the
// page count the file declares.
func (x *extractor) pdfPages(r *pdf.Reader) ([]pdf.Page, int, error) {
	root := r.Trailer().Key("Root").Key("Pages")
	total := int(root.Key("Count").Int64())
	var pages []pdf.Page
	visits, more := 0, false
	var walk func(v pdf.Value, depth int)
	walk = func(v pdf.Value, depth int) {
		if depth > 32 || visits > 4*x.lim.MaxPages+1000 {
			return
		}
		visits++
		kids := v.Key("Kids")
		if v.Key("Type").Name() == "Pages" || kids.Kind() == pdf.Array {
			for i := 0; i < kids.Len(); i++ {
				if len(pages) >= x.lim.MaxPages {
					more = true
					return
				}
				walk(kids.Index(i), depth+1)
			}
			return
		}
		if v.Kind() == pdf.Dict {
			pages = append(pages, pdf.Page{V: v})
		}
	}
	walk(root, 0)
	if err := x.alive(); err != nil {
		return nil, 0, err
	}
	if total < len(pages) || (more && total <= len(pages)) {
		total = len(pages)
		if more {
			total++
		}
	}
	return pages, total, nil
}

// pageText extracts one page. Malformed content panics inside the library;
// that spoils this page only.
func (x *extractor) pageText(p pdf.Page) (text string, err error) {
	defer func() {
		if v := recover(); v != nil {
			if s, ok := v.(stopPDF); ok {
				text, err = "", s.err
				return
			}
			text, err = "", errorf(KindCorrupt, "malformed page")
		}
	}()
	t := &pdfText{x: x, fonts: map[string]*pdfFont{}}
	t.run(p.V.Key("Contents"), p.Resources(), identity(), 0)
	return t.String(), nil
}

// stopPDF unwinds the content interpreter when a limit is hit.
type stopPDF struct{ err error }

type matrix [6]float64 // a b c d e f

func identity() matrix { return matrix{1, 0, 0, 1, 0, 0} }

// mul is m×n: apply m, then n.
func (m matrix) mul(n matrix) matrix {
	return matrix{
		m[0]*n[0] + m[1]*n[2], m[0]*n[1] + m[1]*n[3],
		m[2]*n[0] + m[3]*n[2], m[2]*n[1] + m[3]*n[3],
		m[4]*n[0] + m[5]*n[2] + n[4], m[4]*n[1] + m[5]*n[3] + n[5],
	}
}

// pdfText rebuilds lines and word gaps from glyph positions: many producers
// (LaTeX, for one) never write a space character between words, only a gap.
type pdfText struct {
	x     *extractor
	fonts map[string]*pdfFont
	b     strings.Builder
	ops   int
	forms int

	// Position of the end of the last text shown, in user space.
	lastX, lastY, lastSize float64
	have                   bool
}

type gstate struct {
	ctm      matrix
	font     *pdfFont
	size     float64 // Tfs
	leading  float64 // TL
	hscale   float64 // Th
	charSp   float64 // Tc
	wordSp   float64 // Tw
	tm, tlm  matrix
	resource pdf.Value
}

func (t *pdfText) String() string {
	lines := strings.Split(t.b.String(), "\n")
	for i, l := range lines {
		// Leading and trailing blanks are layout, not text.
		lines[i] = strings.TrimSpace(l)
	}
	s := strings.Join(lines, "\n")
	for strings.Contains(s, "\n\n\n") {
		s = strings.ReplaceAll(s, "\n\n\n", "\n\n")
	}
	return strings.TrimSpace(s)
}

// run interprets one content stream (a page's or a form's).
func (t *pdfText) run(strm, res pdf.Value, ctm matrix, depth int) {
	// Inflate the stream once up front, counting it against the budget: the
	// interpreter would otherwise read a content-stream bomb to the end.
	if err := t.measure(strm); err != nil {
		panic(stopPDF{err})
	}
	g := gstate{ctm: ctm, hscale: 1, tm: identity(), tlm: identity(), resource: res}
	var stack []gstate
	pdf.Interpret(strm, func(stk *pdf.Stack, op string) {
		t.ops++
		if t.ops%8192 == 0 {
			if err := t.x.alive(); err != nil {
				panic(stopPDF{err})
			}
		}
		args := make([]pdf.Value, stk.Len())
		for i := len(args) - 1; i >= 0; i-- {
			args[i] = stk.Pop()
		}
		num := func(i int) float64 {
			if i < len(args) {
				return args[i].Float64()
			}
			return 0
		}
		switch op {
		case "q":
			if len(stack) < 256 {
				stack = append(stack, g)
			}
		case "Q":
			if n := len(stack); n > 0 {
				g = stack[n-1]
				stack = stack[:n-1]
			}
		case "cm":
			if len(args) == 6 {
				g.ctm = matrix{num(0), num(1), num(2), num(3), num(4), num(5)}.mul(g.ctm)
			}
		case "BT":
			g.tm, g.tlm = identity(), identity()
		case "Tf":
			if len(args) == 2 {
				g.font = t.font(g.resource, args[0].Name())
				g.size = num(1)
			}
		case "TL":
			g.leading = num(0)
		case "Tz":
			g.hscale = num(0) / 100
		case "Tc":
			g.charSp = num(0)
		case "Tw":
			g.wordSp = num(0)
		case "Td", "TD":
			if op == "TD" {
				g.leading = -num(1)
			}
			g.tlm = matrix{1, 0, 0, 1, num(0), num(1)}.mul(g.tlm)
			g.tm = g.tlm
		case "Tm":
			if len(args) == 6 {
				g.tlm = matrix{num(0), num(1), num(2), num(3), num(4), num(5)}
				g.tm = g.tlm
			}
		case "T*":
			g.tlm = matrix{1, 0, 0, 1, 0, -g.leading}.mul(g.tlm)
			g.tm = g.tlm
		case "'", "\"":
			if op == "\"" && len(args) == 3 {
				g.wordSp, g.charSp = num(0), num(1)
				args = args[2:]
			}
			g.tlm = matrix{1, 0, 0, 1, 0, -g.leading}.mul(g.tlm)
			g.tm = g.tlm
			if len(args) == 1 {
				t.show(&g, args[0].RawString())
			}
		case "Tj":
			if len(args) == 1 {
				t.show(&g, args[0].RawString())
			}
		case "TJ":
			if len(args) != 1 {
				return
			}
			a := args[0]
			for i := 0; i < a.Len(); i++ {
				v := a.Index(i)
				if v.Kind() == pdf.String {
					t.show(&g, v.RawString())
				} else {
					g.tm = matrix{1, 0, 0, 1, -v.Float64() / 1000 * g.size * g.hscale, 0}.mul(g.tm)
				}
			}
		case "Do":
			if len(args) != 1 || depth >= 8 || t.forms >= 1000 {
				return
			}
			xo := g.resource.Key("XObject").Key(args[0].Name())
			if xo.Key("Subtype").Name() != "Form" {
				return
			}
			t.forms++
			m := identity()
			if mm := xo.Key("Matrix"); mm.Len() == 6 {
				for i := range m {
					m[i] = mm.Index(i).Float64()
				}
			}
			fres := xo.Key("Resources")
			if fres.IsNull() {
				fres = g.resource
			}
			t.run(xo, fres, m.mul(g.ctm), depth+1)
		}
	})
}

// measure inflates a content stream to count its size against the budget.
func (t *pdfText) measure(strm pdf.Value) error {
	var parts []pdf.Value
	if strm.Kind() == pdf.Array {
		for i := 0; i < strm.Len(); i++ {
			parts = append(parts, strm.Index(i))
		}
	} else {
		parts = append(parts, strm)
	}
	x := t.x
	for _, p := range parts {
		rc := p.Reader()
		room := x.lim.MaxDecompressed - x.decompressed
		n, _ := io.Copy(io.Discard, io.LimitReader(rc, room+1))
		rc.Close()
		x.decompressed += n
		if n > room {
			return errorf(KindLimit, "the PDF inflates to more than %d bytes", x.lim.MaxDecompressed)
		}
	}
	return nil
}

// pdfFont is a font with its encoding and widths read once.
type pdfFont struct {
	enc    pdf.TextEncoding
	first  int
	widths []float64
	// Composite (Type0) fonts: two-byte codes, widths from the descendant's
	// W array with DW for the rest.
	cid  bool
	dw   float64
	cidW map[int]float64
}

func (t *pdfText) font(res pdf.Value, name string) *pdfFont {
	if f, ok := t.fonts[name]; ok {
		return f
	}
	pf := pdf.Font{V: res.Key("Font").Key(name)}
	f := &pdfFont{}
	if !pf.V.IsNull() {
		f.enc = encoder(&pf)
		f.first = pf.FirstChar()
		if w := pf.V.Key("Widths"); w.Len() > 0 && w.Len() <= 65536 {
			f.widths = pf.Widths()
		}
		if pf.V.Key("Subtype").Name() == "Type0" {
			f.cid, f.dw, f.cidW = true, 1000, map[int]float64{}
			desc := pf.V.Key("DescendantFonts").Index(0)
			if dw := desc.Key("DW"); dw.Kind() == pdf.Integer || dw.Kind() == pdf.Real {
				f.dw = dw.Float64()
			}
			w := desc.Key("W")
			for i := 0; i+1 < w.Len() && len(f.cidW) < 65536; {
				first, next := int(w.Index(i).Int64()), w.Index(i+1)
				if next.Kind() == pdf.Array {
					for j := 0; j < next.Len() && j < 65536; j++ {
						f.cidW[first+j] = next.Index(j).Float64()
					}
					i += 2
					continue
				}
				if i+2 >= w.Len() {
					break
				}
				last, width := int(next.Int64()), w.Index(i+2).Float64()
				for c := first; c <= last && c-first < 65536; c++ {
					f.cidW[c] = width
				}
				i += 3
			}
		}
	}
	if len(t.fonts) < 4096 {
		t.fonts[name] = f
	}
	return f
}

// encoder reads a font's encoding; a malformed one (a broken ToUnicode
// map, say) leaves the bytes undecoded rather than losing the page.
func encoder(f *pdf.Font) (enc pdf.TextEncoding) {
	defer func() {
		if recover() != nil {
			enc = nil
		}
	}()
	return f.Encoder()
}

// show places one string: a new line when the baseline moved, a space when
// the gap from the previous text is wider than a fraction of the font size.
func (t *pdfText) show(g *gstate, raw string) {
	if raw == "" {
		return
	}
	s := raw
	if g.font != nil && g.font.enc != nil {
		s = g.font.enc.Decode(raw)
	}
	trm := g.tm.mul(g.ctm)
	x, y := trm[4], trm[5]
	size := math.Abs(g.size) * math.Hypot(trm[2], trm[3])
	if size == 0 {
		size = 1
	}
	if t.have {
		dy := y - t.lastY
		switch {
		case math.Abs(dy) > 0.5*math.Max(size, t.lastSize):
			t.b.WriteByte('\n')
			if -dy > 2.2*math.Max(size, t.lastSize) {
				t.b.WriteByte('\n')
			}
		case x-t.lastX > 0.15*size || x < t.lastX-size:
			if !strings.HasSuffix(t.b.String(), " ") && !strings.HasPrefix(s, " ") {
				t.b.WriteByte(' ')
			}
		}
	}
	t.b.WriteString(s)
	// Advance by the glyph widths; fonts without widths (the standard 14)
	// get an average of half an em per character.
	var w float64
	if g.font != nil && g.font.cid {
		for i := 0; i+1 < len(raw); i += 2 {
			cw, ok := g.font.cidW[int(raw[i])<<8|int(raw[i+1])]
			if !ok {
				cw = g.font.dw
			}
			w += cw / 1000
		}
	} else if g.font != nil && len(g.font.widths) > 0 {
		for i := 0; i < len(raw); i++ {
			if k := int(raw[i]) - g.font.first; k >= 0 && k < len(g.font.widths) {
				w += g.font.widths[k] / 1000
			} else {
				w += 0.5
			}
		}
	} else {
		w = 0.5 * float64(utf8.RuneCountInString(s))
	}
	adv := (w*g.size + g.charSp*float64(len(raw)) + g.wordSp*float64(strings.Count(raw, " "))) * g.hscale
	g.tm = matrix{1, 0, 0, 1, adv, 0}.mul(g.tm)
	end := g.tm.mul(g.ctm)
	t.lastX, t.lastY, t.lastSize, t.have = end[4], end[5], size, true
}
