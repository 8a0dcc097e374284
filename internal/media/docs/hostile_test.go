package docs_test

import (
	"bytes"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/genrouter/genrouter/internal/media/docs"
	"github.com/genrouter/genrouter/internal/media/docs/docstest"
)

// handPDF writes objects 1..n with a classic xref table; trailer is extra
// trailer dictionary entries, %XREF% in it stands for the xref offset.
func handPDF(trailer string, objs ...string) []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n")
	offs := make([]int, len(objs))
	for i, o := range objs {
		offs[i] = b.Len()
		fmt.Fprintf(&b, "%d 0 obj\n%s\nendobj\n", i+1, o)
	}
	xref := b.Len()
	fmt.Fprintf(&b, "xref\n0 %d\n0000000000 65535 f \n", len(objs)+1)
	for _, o := range offs {
		fmt.Fprintf(&b, "%010d 00000 n \n", o)
	}
	trailer = strings.ReplaceAll(trailer, "%XREF%", fmt.Sprint(xref))
	fmt.Fprintf(&b, "trailer\n<< /Size %d /Root 1 0 R %s >>\nstartxref\n%d\n%%%%EOF\n", len(objs)+1, trailer, xref)
	return b.Bytes()
}

// TestHostilePDF feeds files built to crash or hang a PDF reader. Each must
// end, quickly, in an error or in whatever text could be read.
func TestHostilePDF(t *testing.T) {
	// An xref stream listing object 1 as stored in object stream 1 (itself):
	// upstream, a fatal stack overflow of the whole process.
	var selfRef bytes.Buffer
	selfRef.WriteString("%PDF-1.5\n")
	off := selfRef.Len()
	data := []byte{0, 0, 0, 2, 1, 0, 1, byte(off), 0}
	fmt.Fprintf(&selfRef, "2 0 obj\n<< /Type /XRef /Size 3 /W [1 1 1] /Root 1 0 R /Length %d >>\nstream\n", len(data))
	selfRef.Write(data)
	fmt.Fprintf(&selfRef, "\nendstream\nendobj\nstartxref\n%d\n%%%%EOF\n", off)

	stream := func(dict, data string) string {
		return fmt.Sprintf("<< %s /Length %d >>\nstream\n%s\nendstream", dict, len(data), data)
	}
	page := "<< /Type /Page /Parent 2 0 R /Contents 4 0 R /Resources << /Font << /F1 5 0 R >> >> >>"
	content := stream("", "BT /F1 12 Tf 72 712 Td (Hello there) Tj ET")
	font := "<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
	cmapFont := "<< /Type /Font /Subtype /Type1 /BaseFont /X /ToUnicode 7 0 R >>"
	cmap := stream("", "/CMapName /X def 1 begincodespacerange <00> <FF> endcodespacerange 999999999999 beginbfchar <01> <0041> endbfchar")

	cases := map[string][]byte{
		"self-referencing object stream": selfRef.Bytes(),
		"cyclic Prev":                    handPDF("/Prev %XREF%", "<< /Type /Catalog /Pages 2 0 R >>", "<< /Type /Pages /Kids [3 0 R] /Count 1 >>", page, content, font),
		"cyclic page tree":               handPDF("", "<< /Type /Catalog /Pages 2 0 R >>", "<< /Type /Pages /Kids [2 0 R 3 0 R] /Count 1 >>", page, content, font),
		"cyclic Parent":                  handPDF("", "<< /Type /Catalog /Pages 2 0 R >>", "<< /Type /Pages /Kids [3 0 R] /Count 1 >>", "<< /Type /Page /Parent 3 0 R /Contents 4 0 R >>", content, font),
		"huge cmap count":                handPDF("", "<< /Type /Catalog /Pages 2 0 R >>", "<< /Type /Pages /Kids [3 0 R] /Count 1 >>", strings.Replace(page, "5 0 R", "6 0 R", 1), content, font, cmapFont, cmap),
		"self-referencing form":          handPDF("", "<< /Type /Catalog /Pages 2 0 R >>", "<< /Type /Pages /Kids [3 0 R] /Count 1 >>", "<< /Type /Page /Parent 2 0 R /Contents 4 0 R /Resources << /XObject << /X 4 0 R >> >> >>", stream("/Type /XObject /Subtype /Form", "/X Do /X Do")),
	}
	for name, data := range cases {
		t.Run(name, func(t *testing.T) {
			start := time.Now()
			md, err := extract(t, data, "hostile.pdf", "", docs.Limits{})
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("took %v", d)
			}
			if want := map[string]string{
				"self-referencing object stream": "the file is corrupt or unreadable",
				"cyclic Prev":                    "the PDF is corrupt or unreadable (xref Prev chain too long)",
			}[name]; want != "" && (err == nil || err.Error() != want) {
				t.Errorf("got %q, %v; want error %q", md, err, want)
			}
			if err == nil && !strings.Contains(md, "## Page 1") {
				t.Errorf("got %q", md)
			}
		})
	}
	// The well-formed variant reads.
	good := handPDF("", "<< /Type /Catalog /Pages 2 0 R >>", "<< /Type /Pages /Kids [3 0 R] /Count 1 >>", page, content, font)
	if md, err := extract(t, good, "good.pdf", "", docs.Limits{}); err != nil || md != "## Page 1\n\nHello there" {
		t.Errorf("hand-made PDF: %q %v", md, err)
	}
}

func TestDeepNesting(t *testing.T) {
	deepHTML := strings.Repeat("<div>", 100000) + "x"
	if _, err := extract(t, []byte(deepHTML), "deep.html", "", docs.Limits{}); err == nil || !strings.Contains(err.Error(), "512") {
		t.Errorf("deep HTML: %v", err)
	}
	deepDOCX := docstest.Zip([2]string{"word/document.xml", `<w:document xmlns:w="w"><w:body>` + strings.Repeat("<w:p><w:r>", 100000) + `</w:body></w:document>`})
	if _, err := extract(t, deepDOCX, "deep.docx", "", docs.Limits{}); err == nil || !strings.Contains(err.Error(), "more than 32 deep") {
		t.Errorf("deep DOCX: %v", err)
	}
}
