package docs

import (
	"archive/zip"
	"encoding/xml"
	"io"
	"strconv"
	"strings"
)

// docx renders a Word document: headings, paragraphs, lists (numbered or
// bulleted, nested) and tables as Markdown tables.
func (x *extractor) docx(z *zip.Reader) error {
	main := x.mainPart(z, "word/document.xml")
	data, err := x.readPart(z, main)
	if err != nil {
		return err
	}
	if data == nil {
		return errorf(KindCorrupt, "the Word document has no body")
	}
	w := &docxWalker{x: x, counters: map[string][]int{}}
	rs, err := x.rels(z, main)
	if err != nil {
		return err
	}
	stylesPart, numberingPart := "word/styles.xml", "word/numbering.xml"
	for _, r := range rs {
		switch {
		case strings.HasSuffix(r.Type, "/styles"):
			stylesPart = r.Target
		case strings.HasSuffix(r.Type, "/numbering"):
			numberingPart = r.Target
		}
	}
	if b, err := x.readPart(z, stylesPart); err != nil {
		return err
	} else if b != nil {
		w.styles = parseStyles(b)
	}
	if b, err := x.readPart(z, numberingPart); err != nil {
		return err
	} else if b != nil {
		w.formats = parseNumbering(b)
	}
	if err := w.body(newDecoder(data)); err != nil {
		return err
	}
	if x.out.n == 0 && x.out.over == 0 {
		x.out.WriteString("(the document has no text)")
	}
	return nil
}

type docxStyle struct {
	heading int // 1-9, 0 for none
	numID   string
}

type docxWalker struct {
	x        *extractor
	styles   map[string]docxStyle
	formats  map[string]map[int]string // numId → level → numFmt
	counters map[string][]int
	inList   bool
	listID   string // numId of the list being written
	nest     int    // paragraphs and tables open, bounded against hostile nesting
	tokens   int
}

type para struct {
	text    strings.Builder
	style   string
	numID   string
	ilvl    int
	outline int // outline level + 1, 0 for none
}

// next reads a token, checking the deadline now and then.
func (w *docxWalker) next(d *xml.Decoder) (xml.Token, error) {
	w.tokens++
	if w.tokens%4096 == 0 {
		if err := w.x.alive(); err != nil {
			return nil, err
		}
	}
	t, err := d.RawToken()
	if err != nil {
		return nil, xmlErr("Word document", err)
	}
	return t, nil
}

func (w *docxWalker) body(d *xml.Decoder) error {
	for {
		w.tokens++
		if w.tokens%4096 == 0 {
			if err := w.x.alive(); err != nil {
				return err
			}
		}
		tok, err := d.RawToken()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return xmlErr("Word document", err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		switch se.Name.Local {
		case "p":
			var p para
			if err := w.paragraph(d, &p); err != nil {
				return err
			}
			w.emit(&p)
		case "tbl":
			rows, err := w.table(d)
			if err != nil {
				return err
			}
			w.x.out.table(rows)
			w.inList = false
		case "Fallback", "sectPr":
			// Fallback repeats what its mc:Choice sibling holds.
			if err := skip(d); err != nil {
				return xmlErr("Word document", err)
			}
		}
	}
}

// paragraph reads a w:p up to its end tag. Text boxes nest paragraphs
// inside runs; their text follows on new lines.
func (w *docxWalker) paragraph(d *xml.Decoder, p *para) error {
	if w.nest++; w.nest > 32 {
		return errorf(KindLimit, "the Word document nests paragraphs or tables more than 32 deep")
	}
	defer func() { w.nest-- }()
	depth, inText := 0, false
	for {
		tok, err := w.next(d)
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "pPr":
				if err := w.props(d, p); err != nil {
					return err
				}
				continue
			case "t":
				inText = true
			case "tab", "ptab":
				p.text.WriteByte('\t')
			case "br", "cr":
				p.text.WriteByte('\n')
			case "noBreakHyphen":
				p.text.WriteByte('-')
			case "delText", "instrText", "rPr", "Fallback", "footnoteReference", "endnoteReference",
				"moveFrom": // tracked move: the text shows where it went (moveTo)
				if err := skip(d); err != nil {
					return xmlErr("Word document", err)
				}
				continue
			case "p":
				var q para
				if err := w.paragraph(d, &q); err != nil {
					return err
				}
				if s := strings.TrimSpace(q.text.String()); s != "" {
					p.text.WriteString("\n" + s)
				}
				continue
			}
			depth++
		case xml.EndElement:
			if depth == 0 {
				return nil
			}
			depth--
			if t.Name.Local == "t" {
				inText = false
			}
		case xml.CharData:
			if inText {
				p.text.Write(t)
			}
		}
	}
}

// props reads a w:pPr: style, list membership and outline level. A tracked
// formatting change (pPrChange) holds the properties as they were before,
// and the paragraph mark's run properties and a section break hold none of
// the paragraph's: those are skipped.
func (w *docxWalker) props(d *xml.Decoder, p *para) error {
	depth := 0
	for {
		tok, err := w.next(d)
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "pPrChange", "rPr", "sectPr":
				if err := skip(d); err != nil {
					return xmlErr("Word document", err)
				}
				continue
			case "pStyle":
				p.style = attr(t, "val")
			case "ilvl":
				p.ilvl, _ = strconv.Atoi(attr(t, "val"))
			case "numId":
				p.numID = attr(t, "val")
			case "outlineLvl":
				if n, err := strconv.Atoi(attr(t, "val")); err == nil && n < 9 {
					p.outline = n + 1
				}
			}
			depth++
		case xml.EndElement:
			if depth == 0 {
				return nil
			}
			depth--
		}
	}
}

// table reads a w:tbl into rows of cell text. Merged cells keep the column
// grid: a horizontal span adds empty cells, a vertical continuation is empty.
func (w *docxWalker) table(d *xml.Decoder) ([][]string, error) {
	if w.nest++; w.nest > 32 {
		return nil, errorf(KindLimit, "the Word document nests paragraphs or tables more than 32 deep")
	}
	defer func() { w.nest-- }()
	var rows [][]string
	var row []string
	depth := 0
	for {
		tok, err := w.next(d)
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "tr":
				row = nil
			case "tc":
				text, span, err := w.cell(d)
				if err != nil {
					return nil, err
				}
				row = append(row, text)
				for i := 1; i < span; i++ {
					row = append(row, "")
				}
				continue
			case "tblPr", "tblGrid", "trPr", "Fallback":
				if err := skip(d); err != nil {
					return nil, xmlErr("Word document", err)
				}
				continue
			}
			depth++
		case xml.EndElement:
			if depth == 0 {
				return rows, nil
			}
			depth--
			if t.Name.Local == "tr" {
				rows = append(rows, row)
			}
		}
	}
}

func (w *docxWalker) cell(d *xml.Decoder) (string, int, error) {
	var parts []string
	span, merged, depth := 1, false, 0
	for {
		tok, err := w.next(d)
		if err != nil {
			return "", 0, err
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "gridSpan":
				if n, err := strconv.Atoi(attr(t, "val")); err == nil && n > 1 && n < 64 {
					span = n
				}
			case "vMerge":
				merged = attr(t, "val") != "restart"
			case "p":
				var p para
				if err := w.paragraph(d, &p); err != nil {
					return "", 0, err
				}
				if s := strings.TrimSpace(p.text.String()); s != "" {
					parts = append(parts, s)
				}
				continue
			case "tbl":
				rows, err := w.table(d)
				if err != nil {
					return "", 0, err
				}
				for _, r := range rows {
					parts = append(parts, strings.TrimSpace(strings.Join(r, " ")))
				}
				continue
			}
			depth++
		case xml.EndElement:
			if depth == 0 {
				if merged {
					return "", span, nil
				}
				return strings.Join(parts, "\n"), span, nil
			}
			depth--
		}
	}
}

// emit writes a paragraph as a heading, a list item or plain text.
func (w *docxWalker) emit(p *para) {
	text := strings.TrimSpace(p.text.String())
	st := w.styles[p.style]
	level := p.outline
	if level == 0 {
		level = st.heading
	}
	if level == 0 {
		level = headingLevel(p.style)
	}
	numID := p.numID
	if numID == "" {
		numID = st.numID
	}
	o := &w.x.out
	switch {
	case text == "":
		return
	case level > 0:
		o.block()
		o.WriteString(strings.Repeat("#", min(level, 6)) + " " + strings.ReplaceAll(text, "\n", " "))
		w.inList = false
	case numID != "" && numID != "0":
		if w.inList && w.listID == numID {
			o.line()
		} else {
			o.block()
		}
		w.listID = numID
		ilvl := min(max(p.ilvl, 0), 8)
		marker := "- "
		if f := w.formats[numID][ilvl]; f != "" && f != "bullet" && f != "none" {
			c := w.counters[numID]
			if c == nil {
				c = make([]int, 9)
				w.counters[numID] = c
			}
			c[ilvl]++
			for i := ilvl + 1; i < len(c); i++ {
				c[i] = 0
			}
			marker = strconv.Itoa(c[ilvl]) + ". "
		}
		indent := strings.Repeat("  ", ilvl)
		o.WriteString(indent + marker + strings.ReplaceAll(text, "\n", "\n"+indent+"  "))
		w.inList = true
	default:
		o.block()
		o.WriteString(text)
		w.inList = false
	}
}

// headingLevel reads "Heading1", "heading 2" or "Title" style names.
func headingLevel(name string) int {
	n := strings.ToLower(strings.ReplaceAll(name, " ", ""))
	switch {
	case n == "title":
		return 1
	case strings.HasPrefix(n, "heading"):
		if l, err := strconv.Atoi(n[len("heading"):]); err == nil && l >= 1 && l <= 9 {
			return l
		}
	}
	return 0
}

type xmlVal struct {
	Val string `xml:"val,attr"`
}

func parseStyles(b []byte) map[string]docxStyle {
	var doc struct {
		Styles []struct {
			ID   string `xml:"styleId,attr"`
			Name xmlVal `xml:"name"`
			PPr  struct {
				Outline *xmlVal `xml:"outlineLvl"`
				NumPr   struct {
					NumID xmlVal `xml:"numId"`
				} `xml:"numPr"`
			} `xml:"pPr"`
		} `xml:"style"`
	}
	if xml.Unmarshal(b, &doc) != nil {
		return nil
	}
	m := make(map[string]docxStyle, len(doc.Styles))
	for _, s := range doc.Styles {
		st := docxStyle{heading: headingLevel(s.Name.Val), numID: s.PPr.NumPr.NumID.Val}
		if st.heading == 0 {
			st.heading = headingLevel(s.ID)
		}
		if s.PPr.Outline != nil {
			if n, err := strconv.Atoi(s.PPr.Outline.Val); err == nil && n < 9 {
				st.heading = n + 1
			}
		}
		m[s.ID] = st
	}
	return m
}

func parseNumbering(b []byte) map[string]map[int]string {
	var doc struct {
		Abstract []struct {
			ID   string `xml:"abstractNumId,attr"`
			Lvls []struct {
				Ilvl string `xml:"ilvl,attr"`
				Fmt  xmlVal `xml:"numFmt"`
			} `xml:"lvl"`
		} `xml:"abstractNum"`
		Nums []struct {
			ID  string `xml:"numId,attr"`
			Abs xmlVal `xml:"abstractNumId"`
		} `xml:"num"`
	}
	if xml.Unmarshal(b, &doc) != nil {
		return nil
	}
	abs := map[string]map[int]string{}
	for _, a := range doc.Abstract {
		lv := map[int]string{}
		for _, l := range a.Lvls {
			if n, err := strconv.Atoi(l.Ilvl); err == nil {
				lv[n] = l.Fmt.Val
			}
		}
		abs[a.ID] = lv
	}
	m := make(map[string]map[int]string, len(doc.Nums))
	for _, n := range doc.Nums {
		m[n.ID] = abs[n.Abs.Val]
	}
	return m
}
