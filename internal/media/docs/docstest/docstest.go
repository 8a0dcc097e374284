// Package docstest builds small documents of every supported format, with
// the Markdown each must turn into. Tests of docs and of media use it; it
// is never linked into the gateway.
package docstest

import (
	"archive/zip"
	"bytes"
	"fmt"
	"strings"
	"time"

	"github.com/go-pdf/fpdf"
	"github.com/xuri/excelize/v2"
)

// Zip writes an archive of name → content, in the order given.
func Zip(files ...[2]string) []byte {
	var b bytes.Buffer
	z := zip.NewWriter(&b)
	for _, f := range files {
		w, err := z.Create(f[0])
		if err != nil {
			panic(err)
		}
		w.Write([]byte(f[1]))
	}
	if err := z.Close(); err != nil {
		panic(err)
	}
	return b.Bytes()
}

const wNS = `xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships"`

func wp(style, numID, ilvl string, runs ...string) string {
	var b strings.Builder
	b.WriteString("<w:p>")
	if style != "" || numID != "" {
		b.WriteString("<w:pPr>")
		if style != "" {
			b.WriteString(`<w:pStyle w:val="` + style + `"/>`)
		}
		if numID != "" {
			b.WriteString(`<w:numPr><w:ilvl w:val="` + ilvl + `"/><w:numId w:val="` + numID + `"/></w:numPr>`)
		}
		b.WriteString("<w:tabs><w:tab w:val=\"left\" w:pos=\"720\"/></w:tabs></w:pPr>")
	}
	for _, r := range runs {
		b.WriteString(`<w:r><w:rPr><w:b/></w:rPr><w:t xml:space="preserve">` + r + `</w:t></w:r>`)
	}
	b.WriteString("</w:p>")
	return b.String()
}

func wcell(text string) string {
	return `<w:tc><w:tcPr><w:tcW w:w="2000" w:type="dxa"/></w:tcPr>` + wp("", "", "", text) + `</w:tc>`
}

// DOCX is a Word document with headings, split runs, nested bullets, a
// numbered list, a table and a deleted revision that must not show.
func DOCX() []byte {
	body := wp("Heading1", "", "", "Quarterly Report") +
		wp("", "", "", "Revenue grew ", "in every", " region.") +
		`<w:p><w:r><w:t>Kept</w:t></w:r><w:del><w:r><w:delText>DELETED</w:delText></w:r></w:del><w:r><w:tab/><w:t>text</w:t></w:r></w:p>` +
		wp("Heading2", "", "", "Highlights") +
		wp("ListParagraph", "1", "0", "Faster shipping") +
		wp("ListParagraph", "1", "1", "Two new warehouses") +
		wp("ListParagraph", "1", "0", "Lower costs") +
		wp("", "2", "0", "Plan") +
		wp("", "2", "0", "Build") +
		wp("", "2", "0", "Ship") +
		`<w:tbl><w:tblPr/><w:tblGrid><w:gridCol/><w:gridCol/></w:tblGrid>` +
		`<w:tr>` + wcell("Region") + wcell("Sales") + `</w:tr>` +
		`<w:tr>` + wcell("North") + wcell("120") + `</w:tr>` +
		`<w:tr>` + wcell("South") + wcell("95|5") + `</w:tr></w:tbl>` +
		wp("", "", "", "End of report.")
	return docxPackage(body)
}

// BigDOCX is a Word document of n sections (heading, paragraphs, a list and
// a table each), for benchmarks.
func BigDOCX(n int) []byte {
	var b strings.Builder
	for i := 0; i < n; i++ {
		b.WriteString(wp("Heading2", "", "", fmt.Sprintf("Section %d", i+1)))
		for k := 0; k < 3; k++ {
			b.WriteString(wp("", "", "", "Lorem ipsum dolor sit amet, ", "consectetur adipiscing elit, ", "sed do eiusmod tempor incididunt ut labore."))
		}
		b.WriteString(wp("", "1", "0", "First point") + wp("", "1", "1", "Nested point"))
		b.WriteString(`<w:tbl><w:tr>` + wcell("Key") + wcell("Value") + `</w:tr><w:tr>` + wcell("alpha") + wcell("1") + `</w:tr></w:tbl>`)
	}
	return docxPackage(b.String())
}

func docxPackage(body string) []byte {
	doc := `<?xml version="1.0" encoding="UTF-8" standalone="yes"?><w:document ` + wNS + `><w:body>` + body + `<w:sectPr/></w:body></w:document>`
	styles := `<?xml version="1.0"?><w:styles ` + wNS + `>` +
		`<w:style w:type="paragraph" w:styleId="Heading1"><w:name w:val="heading 1"/></w:style>` +
		`<w:style w:type="paragraph" w:styleId="Heading2"><w:name w:val="heading 2"/></w:style>` +
		`<w:style w:type="paragraph" w:styleId="ListParagraph"><w:name w:val="List Paragraph"/></w:style></w:styles>`
	numbering := `<?xml version="1.0"?><w:numbering ` + wNS + `>` +
		`<w:abstractNum w:abstractNumId="10"><w:lvl w:ilvl="0"><w:numFmt w:val="bullet"/></w:lvl><w:lvl w:ilvl="1"><w:numFmt w:val="bullet"/></w:lvl></w:abstractNum>` +
		`<w:abstractNum w:abstractNumId="20"><w:lvl w:ilvl="0"><w:numFmt w:val="decimal"/></w:lvl></w:abstractNum>` +
		`<w:num w:numId="1"><w:abstractNumId w:val="10"/></w:num><w:num w:numId="2"><w:abstractNumId w:val="20"/></w:num></w:numbering>`
	return Zip(
		[2]string{"[Content_Types].xml", `<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"><Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"/></Types>`},
		[2]string{"_rels/.rels", `<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>`},
		[2]string{"word/_rels/document.xml.rels", `<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/styles" Target="styles.xml"/><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/numbering" Target="numbering.xml"/></Relationships>`},
		[2]string{"word/document.xml", doc},
		[2]string{"word/styles.xml", styles},
		[2]string{"word/numbering.xml", numbering},
	)
}

// DOCXText is what DOCX must turn into.
const DOCXText = `# Quarterly Report

Revenue grew in every region.

Kept	text

## Highlights

- Faster shipping
  - Two new warehouses
- Lower costs

1. Plan
2. Build
3. Ship

| Region | Sales |
| --- | --- |
| North | 120 |
| South | 95\|5 |

End of report.`

const pNS = `xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" xmlns:r="http://schemas.openxmlformats.org/officeDocument/2006/relationships" xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main"`

func psp(ph string, paras ...string) string {
	nv := `<p:nvSpPr><p:cNvPr id="2" name="s"/><p:cNvSpPr/><p:nvPr/></p:nvSpPr>`
	if ph != "" {
		nv = `<p:nvSpPr><p:cNvPr id="2" name="s"/><p:cNvSpPr/><p:nvPr><p:ph type="` + ph + `"/></p:nvPr></p:nvSpPr>`
	}
	return `<p:sp>` + nv + `<p:spPr/><p:txBody><a:bodyPr/>` + strings.Join(paras, "") + `</p:txBody></p:sp>`
}

func ap(lvl int, text string) string {
	return fmt.Sprintf(`<a:p><a:pPr lvl="%d"/><a:r><a:rPr lang="en-US"/><a:t>%s</a:t></a:r></a:p>`, lvl, text)
}

func slide(shapes string) string {
	return `<?xml version="1.0"?><p:sld ` + pNS + `><p:cSld><p:spTree><p:nvGrpSpPr><p:cNvPr id="1" name=""/><p:cNvGrpSpPr/><p:nvPr/></p:nvGrpSpPr><p:grpSpPr/>` + shapes + `</p:spTree></p:cSld></p:sld>`
}

const relsNS = `xmlns="http://schemas.openxmlformats.org/package/2006/relationships"`

// PPTX is a presentation of two slides (listed out of member order) with a
// title, nested bullets, a table, a slide number and speaker notes.
func PPTX() []byte {
	return pptx(1)
}

// BigPPTX is PPTX's two slides repeated n times, for benchmarks.
func BigPPTX(n int) []byte { return pptx(n) }

func pptx(n int) []byte {
	table := `<p:graphicFrame><p:nvGraphicFramePr><p:cNvPr id="4" name="t"/><p:cNvGraphicFramePr/><p:nvPr/></p:nvGraphicFramePr><p:xfrm/><a:graphic><a:graphicData><a:tbl>` +
		`<a:tr><a:tc><a:txBody>` + ap(0, "A") + `</a:txBody></a:tc><a:tc><a:txBody>` + ap(0, "B") + `</a:txBody></a:tc></a:tr>` +
		`<a:tr><a:tc><a:txBody>` + ap(0, "1") + `</a:txBody></a:tc><a:tc><a:txBody>` + ap(0, "2") + `</a:txBody></a:tc></a:tr>` +
		`</a:tbl></a:graphicData></a:graphic></p:graphicFrame>`
	s1 := slide(psp("title", ap(0, "Welcome")) + psp("body", ap(0, "Point one"), ap(1, "Sub point")) + psp("sldNum", ap(0, "1")) + psp("", ap(0, "A text box")))
	s2 := slide(psp("ctrTitle", ap(0, "Numbers")) + table)
	notes := `<?xml version="1.0"?><p:notes ` + pNS + `><p:cSld><p:spTree>` + psp("sldImg") + psp("body", ap(0, "Say hello")) + psp("sldNum", ap(0, "1")) + `</p:spTree></p:cSld></p:notes>`
	var ids, rels strings.Builder
	files := [][2]string{
		{"[Content_Types].xml", `<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types"/>`},
		{"_rels/.rels", `<?xml version="1.0"?><Relationships ` + relsNS + `><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="ppt/presentation.xml"/></Relationships>`},
	}
	for i := 0; i < n; i++ {
		// The second file of each pair is shown first: order comes from
		// sldIdLst, not from member names.
		a, b := 2*i+1, 2*i+2
		fmt.Fprintf(&ids, `<p:sldId id="%d" r:id="rId%d"/><p:sldId id="%d" r:id="rId%d"/>`, 256+a, 100+b, 256+b, 100+a)
		fmt.Fprintf(&rels, `<Relationship Id="rId%d" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/slide" Target="slides/slide%d.xml"/>`, 100+a, a)
		fmt.Fprintf(&rels, `<Relationship Id="rId%d" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/slide" Target="slides/slide%d.xml"/>`, 100+b, b)
		files = append(files,
			[2]string{fmt.Sprintf("ppt/slides/slide%d.xml", b), s1},
			[2]string{fmt.Sprintf("ppt/slides/_rels/slide%d.xml.rels", b), `<?xml version="1.0"?><Relationships ` + relsNS + `><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/notesSlide" Target="../notesSlides/notesSlide1.xml"/></Relationships>`},
			[2]string{fmt.Sprintf("ppt/slides/slide%d.xml", a), s2})
	}
	files = append(files,
		[2]string{"ppt/presentation.xml", `<?xml version="1.0"?><p:presentation ` + pNS + `><p:sldIdLst>` + ids.String() + `</p:sldIdLst></p:presentation>`},
		[2]string{"ppt/_rels/presentation.xml.rels", `<?xml version="1.0"?><Relationships ` + relsNS + `>` + rels.String() + `</Relationships>`},
		[2]string{"ppt/notesSlides/notesSlide1.xml", notes})
	return Zip(files...)
}

// PPTXText is what PPTX must turn into.
const PPTXText = `## Slide 1

### Welcome

- Point one
  - Sub point

A text box

### Notes

Say hello

## Slide 2

### Numbers

| A | B |
| --- | --- |
| 1 | 2 |`

// BigXLSX is a workbook of one sheet of n rows, for benchmarks.
func BigXLSX(n int) []byte {
	f := excelize.NewFile()
	defer f.Close()
	w, err := f.NewStreamWriter("Sheet1")
	must(err)
	for i := 1; i <= n; i++ {
		cell, _ := excelize.CoordinatesToCellName(1, i)
		must(w.SetRow(cell, []any{"row", i, float64(i) * 1.5, "some text here"}))
	}
	must(w.Flush())
	b, err := f.WriteToBuffer()
	must(err)
	return b.Bytes()
}

// XLSX is a workbook of two sheets, with numbers and a pipe.
func XLSX() []byte {
	f := excelize.NewFile()
	defer f.Close()
	must(f.SetSheetName("Sheet1", "Sales"))
	must(f.SetSheetRow("Sales", "A1", &[]any{"Region", "Units", "Price"}))
	must(f.SetSheetRow("Sales", "A2", &[]any{"North", 10, 2.5}))
	must(f.SetSheetRow("Sales", "A3", &[]any{"South", 20, 3}))
	_, err := f.NewSheet("Notes")
	must(err)
	must(f.SetCellValue("Notes", "A1", "Remark"))
	must(f.SetCellValue("Notes", "A2", "a|b"))
	must(f.SetCellValue("Sales", "A4", "Total"))
	must(f.SetCellValue("Sales", "B4", 30))
	b, err := f.WriteToBuffer()
	must(err)
	return b.Bytes()
}

// XLSXText is what XLSX must turn into.
const XLSXText = `## Sheet: Sales

| Region | Units | Price |
| --- | --- | --- |
| North | 10 | 2.5 |
| South | 20 | 3 |
| Total | 30 |  |

## Sheet: Notes

| Remark |
| --- |
| a\|b |`

// PDF is a two-page PDF with two lines on the first page.
func PDF() []byte {
	p := newPDF()
	p.SetFont("Helvetica", "", 12)
	p.AddPage()
	p.Cell(0, 7, "Hello PDF world")
	p.Ln(7)
	p.Cell(0, 7, "Second line here")
	p.AddPage()
	p.Cell(40, 10, "Page two")
	p.Cell(40, 10, "text")
	var b bytes.Buffer
	must(p.Output(&b))
	return b.Bytes()
}

// PDFText is what PDF must turn into.
const PDFText = `## Page 1

Hello PDF world
Second line here

## Page 2

Page two text`

// BigPDF is a PDF of n pages of text, for benchmarks and page limits.
func BigPDF(pages int) []byte {
	p := newPDF()
	p.SetFont("Helvetica", "", 10)
	for i := 0; i < pages; i++ {
		p.AddPage()
		for l := 0; l < 40; l++ {
			p.Cell(0, 6, fmt.Sprintf("Page %d line %d: the quick brown fox jumps over the lazy dog.", i+1, l+1))
			p.Ln(6)
		}
	}
	var b bytes.Buffer
	must(p.Output(&b))
	return b.Bytes()
}

// newPDF is a PDF writer with fixed dates, so the same document is the
// same bytes.
func newPDF() *fpdf.Fpdf {
	p := fpdf.New("P", "mm", "A4", "")
	t := time.Date(2024, 1, 2, 3, 4, 5, 0, time.UTC)
	p.SetCreationDate(t)
	p.SetModificationDate(t)
	return p
}

func must(err error) {
	if err != nil {
		panic(err)
	}
}
