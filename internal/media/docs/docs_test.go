package docs_test

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/genrouter/genrouter/internal/media/docs"
	"github.com/genrouter/genrouter/internal/media/docs/docstest"
)

func extract(t *testing.T, data []byte, name, mime string, lim docs.Limits) (string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return docs.Extract(ctx, data, name, mime, lim)
}

func TestFormats(t *testing.T) {
	cases := []struct {
		name, file, mime string
		data             []byte
		want             string
	}{
		{"docx", "report.docx", "", docstest.DOCX(), docstest.DOCXText},
		{"pptx", "deck.pptx", "", docstest.PPTX(), docstest.PPTXText},
		{"xlsx", "book.xlsx", "", docstest.XLSX(), docstest.XLSXText},
		{"pdf", "doc.pdf", "", docstest.PDF(), docstest.PDFText},
		{"csv", "t.csv", "", []byte("name,qty\nwidget,3\n\"a, b\",4\n"), "| name | qty |\n| --- | --- |\n| widget | 3 |\n| a, b | 4 |"},
		{"csv semicolon", "t.csv", "", []byte("name;qty\nwidget;3\n"), "| name | qty |\n| --- | --- |\n| widget | 3 |"},
		{"tsv", "t.tsv", "", []byte("a\tb\n1\t2\n"), "| a | b |\n| --- | --- |\n| 1 | 2 |"},
		{"html", "page.html", "", []byte(`<html><head><style>p{}</style><script>alert(1)</script></head><body><h1>Title</h1><p>Some <b>bold</b> text.</p><img src="data:image/png;base64,AAAA"><ul><li>one</li><li>two</li></ul><table><tr><th>K</th><th>V</th></tr><tr><td>a</td><td>1</td></tr></table></body></html>`),
			"# Title\n\nSome **bold** text.\n\n- one\n- two\n\n| K | V |\n|---|---|\n| a | 1 |"},
		{"json", "data.json", "", []byte(`{"a": [1, 2]}`), "```json\n{\"a\": [1, 2]}\n```"},
		{"json sniffed", "", "", []byte(`[{"a":1}]`), "```json\n[{\"a\":1}]\n```"},
		{"json with fence", "x.json", "", []byte("\"```\""), "````json\n\"```\"\n````"},
		{"markdown", "notes.md", "", []byte("# Notes\n\n- a\n"), "# Notes\n\n- a"},
		{"text", "a.txt", "text/plain", []byte("hello\nworld\n"), "hello\nworld"},
		{"utf16 text", "a.txt", "", []byte("\xff\xfeh\x00i\x00"), "hi"},
		{"latin1 text", "a.txt", "", []byte("caf\xe9"), "café"},
		{"zip", "bundle.zip", "", docstest.Zip(
			[2]string{"readme.txt", "Read me."},
			[2]string{"__MACOSX/._readme.txt", "junk"},
			[2]string{"dir/report.docx", string(docstest.DOCX())},
			[2]string{"data.csv", "x,y\n1,2\n"},
			[2]string{"blob.bin", "\x00\x01\x02"},
			[2]string{"inner.zip", string(docstest.Zip([2]string{"deep.txt", "Deep text."}))},
		), "## readme.txt\n\nRead me.\n\n## dir/report.docx\n\n" + docstest.DOCXText +
			"\n\n## data.csv\n\n| x | y |\n| --- | --- |\n| 1 | 2 |\n\n## blob.bin\n\n(not extracted: the file type is not supported (binary data))" +
			"\n\n## inner.zip\n\n## inner.zip/deep.txt\n\nDeep text."},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got, err := extract(t, c.data, c.file, c.mime, docs.Limits{})
			if err != nil {
				t.Fatalf("error: %v", err)
			}
			if got != c.want {
				t.Errorf("got:\n%s\n---- want:\n%s", got, c.want)
			}
		})
	}
}

func kind(err error) string {
	var de *docs.Error
	if errors.As(err, &de) {
		return de.Kind
	}
	return ""
}

func TestRefused(t *testing.T) {
	bomb := func(size int) []byte {
		var b bytes.Buffer
		z := zip.NewWriter(&b)
		w, _ := z.Create("zeros.txt")
		w.Write(make([]byte, size))
		z.Close()
		return b.Bytes()
	}
	// A member whose header declares 100 bytes but which inflates to 1 MiB:
	// archive/zip stops at the declared size.
	lying := func() []byte {
		var raw bytes.Buffer
		fw, _ := flate.NewWriter(&raw, flate.BestCompression)
		fw.Write(make([]byte, 1<<20))
		fw.Close()
		var b bytes.Buffer
		z := zip.NewWriter(&b)
		w, _ := z.CreateRaw(&zip.FileHeader{Name: "zeros.txt", Method: zip.Deflate, CompressedSize64: uint64(raw.Len()), UncompressedSize64: 100})
		w.Write(raw.Bytes())
		z.Close()
		return b.Bytes()
	}
	nested := []byte("bottom")
	for i := 0; i < 6; i++ {
		nested = docstest.Zip([2]string{"level.zip", string(nested)})
	}
	pdf := docstest.PDF()
	corrupt := append([]byte(nil), pdf[:len(pdf)/2]...)
	corrupt = append(corrupt, "\n%%EOF\n"...)
	encryptedOffice := append([]byte("\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1"), make([]byte, 512)...)
	encryptedOffice = append(encryptedOffice, []byte("E\x00n\x00c\x00r\x00y\x00p\x00t\x00e\x00d\x00P\x00a\x00c\x00k\x00a\x00g\x00e\x00")...)
	var many [][2]string
	for i := 0; i < 30; i++ {
		many = append(many, [2]string{strings.Repeat("m", i+1) + ".txt", "x"})
	}
	cases := []struct {
		name string
		data []byte
		file string
		lim  docs.Limits
		kind string
		msg  string
	}{
		{"zip bomb by ratio", bomb(4 << 20), "bomb.zip", docs.Limits{}, docs.KindLimit, "zip bomb"},
		{"zip bomb by total", bomb(2 << 20), "bomb.zip", docs.Limits{MaxDecompressed: 1 << 20, MaxRatio: 1 << 30}, docs.KindLimit, "inflates to more than"},
		{"nested zip", nested, "nested.zip", docs.Limits{}, docs.KindLimit, "nested more than 3 deep"},
		{"too many members", docstest.Zip(many...), "many.zip", docs.Limits{MaxMembers: 20}, docs.KindLimit, "more than 20 members"},
		{"corrupt pdf", corrupt, "broken.pdf", docs.Limits{}, docs.KindCorrupt, "the PDF is corrupt or unreadable"},
		{"not a pdf body", []byte("%PDF-1.4\ngarbage\n%%EOF"), "x.pdf", docs.Limits{}, docs.KindCorrupt, "the PDF is corrupt"},
		{"encrypted office", encryptedOffice, "secret.docx", docs.Limits{}, docs.KindEncrypted, "encrypted"},
		{"legacy office", append([]byte("\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1"), make([]byte, 512)...), "old.doc", docs.Limits{}, docs.KindUnsupported, "legacy binary Office"},
		{"binary", []byte{0, 1, 2, 3, 0, 0}, "blob", docs.Limits{}, docs.KindUnsupported, "not supported"},
		{"gzip", []byte("\x1f\x8b\x08\x00rest"), "a.gz", docs.Limits{}, docs.KindUnsupported, "gzip"},
		{"corrupt zip", []byte("PK\x03\x04 not really"), "a.zip", docs.Limits{}, docs.KindCorrupt, "corrupt"},
		{"corrupt docx", docstest.Zip([2]string{"word/document.xml", "<w:document><w:body><w:p>"}), "a.docx", docs.Limits{}, docs.KindCorrupt, "Word document is corrupt"},
	}
	t.Run("zip bomb with a lying header", func(t *testing.T) {
		got, err := extract(t, lying(), "liar.zip", "", docs.Limits{})
		if err != nil || got != "## zeros.txt\n\n(not extracted: zeros.txt is corrupt (not a valid zip file))" {
			t.Errorf("got %q, %v", got, err)
		}
	})
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			start := time.Now()
			got, err := extract(t, c.data, c.file, "", c.lim)
			if err == nil {
				t.Fatalf("no error; got %.200q", got)
			}
			if kind(err) != c.kind || !strings.Contains(err.Error(), c.msg) {
				t.Errorf("got %s %q, want %s containing %q", kind(err), err, c.kind, c.msg)
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v", d)
			}
		})
	}
}

func TestEncryptedPDF(t *testing.T) {
	// A trailer naming an /Encrypt dictionary the reader cannot open with an
	// empty password.
	pdf := string(docstest.PDF())
	i := strings.LastIndex(pdf, "trailer")
	j := strings.Index(pdf[i:], "<<") + i
	enc := pdf[:j+2] + "/Encrypt << /Filter /Standard /V 5 /R 6 /Length 256 >> " + pdf[j+2:]
	_, err := extract(t, []byte(enc), "locked.pdf", "", docs.Limits{})
	if kind(err) != docs.KindEncrypted || !strings.Contains(err.Error(), "encrypted") {
		t.Fatalf("got %v", err)
	}
}

func TestLimits(t *testing.T) {
	t.Run("chars", func(t *testing.T) {
		got, err := extract(t, []byte(strings.Repeat("abcdefghij", 100)), "a.txt", "", docs.Limits{MaxChars: 25})
		if err != nil {
			t.Fatal(err)
		}
		want := "abcdefghijabcdefghijabcde\n\n[… truncated: 975 more characters]"
		if got != want {
			t.Errorf("got %q", got)
		}
	})
	t.Run("csv rows", func(t *testing.T) {
		csv := "a,b\n" + strings.Repeat("1,2\n", 1000)
		got, err := extract(t, []byte(csv), "a.csv", "", docs.Limits{MaxChars: 100})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(got, "| a | b |\n| --- | --- |\n| 1 | 2 |") || !strings.Contains(got, "[… truncated: ") {
			t.Errorf("got %q", got)
		}
	})
	t.Run("pages", func(t *testing.T) {
		got, err := extract(t, docstest.BigPDF(5), "big.pdf", "", docs.Limits{MaxPages: 2})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(got, "## Page 2\n\nPage 2 line 1: the quick brown fox") || strings.Contains(got, "## Page 3") ||
			!strings.HasSuffix(got, "[… 3 more pages not extracted]") {
			t.Errorf("got %q", got)
		}
	})
	t.Run("deadline", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Nanosecond)
		defer cancel()
		time.Sleep(time.Millisecond)
		_, err := docs.Extract(ctx, docstest.BigPDF(3), "big.pdf", "", docs.Limits{})
		if kind(err) != docs.KindTimeout {
			t.Errorf("got %v", err)
		}
	})
}

func BenchmarkExtract(b *testing.B) {
	var rows strings.Builder
	rows.WriteString("id,name,amount\n")
	for i := 0; i < 5000; i++ {
		rows.WriteString("1234,some name here,56.78\n")
	}
	var html strings.Builder
	html.WriteString("<html><body>")
	for i := 0; i < 2000; i++ {
		html.WriteString("<h2>Section</h2><p>Some <b>bold</b> and <a href='https://example.com'>linked</a> text.</p><ul><li>a</li><li>b</li></ul>")
	}
	html.WriteString("</body></html>")
	cases := []struct {
		name, file string
		data       []byte
	}{
		{"pdf", "a.pdf", docstest.BigPDF(20)},
		{"docx", "a.docx", docstest.BigDOCX(500)},
		{"pptx", "a.pptx", docstest.BigPPTX(100)},
		{"xlsx", "a.xlsx", docstest.BigXLSX(5000)},
		{"csv", "a.csv", []byte(rows.String())},
		{"html", "a.html", []byte(html.String())},
		{"json", "a.json", []byte(strings.Repeat(`{"k": "value", "n": 12345}`+"\n", 5000))},
		{"text", "a.txt", []byte(strings.Repeat("The quick brown fox jumps over the lazy dog.\n", 5000))},
		{"zip", "a.zip", docstest.Zip([2]string{"a.txt", strings.Repeat("lorem ipsum ", 10000)}, [2]string{"b.docx", string(docstest.BigDOCX(100))}, [2]string{"c.csv", rows.String()})},
	}
	lim := docs.Limits{MaxChars: 10 << 20}
	for _, c := range cases {
		b.Run(c.name, func(b *testing.B) {
			b.SetBytes(int64(len(c.data)))
			for b.Loop() {
				if _, err := docs.Extract(context.Background(), c.data, c.file, "", lim); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// Text that is not UTF-8 is what Windows writes: Windows-1252, whose
// 0x80-0x9F are curly quotes, dashes and the euro sign. Read as Latin-1
// they became invisible C1 control characters.
func TestWindows1252Text(t *testing.T) {
	for _, c := range []struct {
		name string
		data []byte
		want string
	}{
		{"prices.csv", []byte("item;price\n\x93Caf\xe9\x94 \x96 large;\x804.50\n"), "| item | price |\n| --- | --- |\n| “Café” – large | €4.50 |"},
		{"note.txt", []byte("It\x92s done\x85 \x95 50\x89 \x99"), "It’s done… • 50‰ ™"},
		{"page.html", []byte("<html><body><p>\x84Gr\xfc\xdfe\x93 \x97 S\x9aO</p></body></html>"), "„Grüße“ — SšO"},
	} {
		got, err := extract(t, c.data, c.name, "", docs.Limits{})
		if err != nil || got != c.want {
			t.Errorf("%s: got %q, %v; want %q", c.name, got, err, c.want)
		}
	}
}

// The relationship id of a slide is an attribute in the relationships
// namespace; "r" is only the usual prefix for it. With any other prefix
// every slide was missed and the deck read as having none.
func TestPPTXRelationshipPrefix(t *testing.T) {
	const ns = `xmlns:a="http://schemas.openxmlformats.org/drawingml/2006/main" xmlns:p="http://schemas.openxmlformats.org/presentationml/2006/main"`
	const rel = `"http://schemas.openxmlformats.org/officeDocument/2006/relationships"`
	sld := func(title string) string {
		return `<?xml version="1.0"?><p:sld ` + ns + `><p:cSld><p:spTree><p:sp><p:nvSpPr><p:cNvPr id="2" name="t"/><p:cNvSpPr/><p:nvPr><p:ph type="title"/></p:nvPr></p:nvSpPr><p:txBody><a:p><a:r><a:t>` + title + `</a:t></a:r></a:p></p:txBody></p:sp></p:spTree></p:cSld></p:sld>`
	}
	deck := docstest.Zip(
		[2]string{"_rels/.rels", `<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="ppt/presentation.xml"/></Relationships>`},
		[2]string{"ppt/presentation.xml", `<?xml version="1.0"?><p:presentation ` + ns + ` xmlns:rel=` + rel + `><p:sldIdLst><p:sldId id="256" rel:id="rId3"/><p:sldId id="257" rel:id="rId2"/></p:sldIdLst></p:presentation>`},
		[2]string{"ppt/_rels/presentation.xml.rels", `<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId2" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/slide" Target="slides/slide1.xml"/><Relationship Id="rId3" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/slide" Target="slides/slide2.xml"/></Relationships>`},
		[2]string{"ppt/slides/slide1.xml", sld("Second")},
		[2]string{"ppt/slides/slide2.xml", sld("First")},
	)
	got, err := extract(t, deck, "deck.pptx", "", docs.Limits{})
	if want := "## Slide 1\n\n### First\n\n## Slide 2\n\n### Second"; err != nil || got != want {
		t.Errorf("got %q, %v; want %q", got, err, want)
	}
}

// With track changes on, Word keeps the old version next to the new one:
// a formatting change keeps the old paragraph properties in pPrChange, a
// move keeps the text at its old place in moveFrom. The document as it
// reads now is what counts: a paragraph that was a heading is text now,
// and moved text appears once, where it went.
func TestDOCXTrackedChanges(t *testing.T) {
	const ns = `xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"`
	body := `<w:p><w:pPr><w:pStyle w:val="Normal"/><w:pPrChange w:id="1" w:author="a"><w:pPr><w:pStyle w:val="Heading1"/></w:pPr></w:pPrChange></w:pPr><w:r><w:t>No longer a heading</w:t></w:r></w:p>` +
		`<w:p><w:pPr><w:pPrChange w:id="2" w:author="a"><w:pPr><w:numPr><w:ilvl w:val="0"/><w:numId w:val="1"/></w:numPr></w:pPr></w:pPrChange></w:pPr><w:r><w:t>No longer a list item</w:t></w:r></w:p>` +
		`<w:p><w:r><w:t xml:space="preserve">Alpha. </w:t></w:r><w:moveFrom w:id="3" w:author="a"><w:r><w:t>Moved text.</w:t></w:r></w:moveFrom></w:p>` +
		`<w:p><w:r><w:t xml:space="preserve">Beta. </w:t></w:r><w:moveTo w:id="4" w:author="a"><w:r><w:t>Moved text.</w:t></w:r></w:moveTo></w:p>`
	doc := docstest.Zip(
		[2]string{"_rels/.rels", `<?xml version="1.0"?><Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships"><Relationship Id="rId1" Type="http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument" Target="word/document.xml"/></Relationships>`},
		[2]string{"word/document.xml", `<?xml version="1.0"?><w:document ` + ns + `><w:body>` + body + `</w:body></w:document>`},
	)
	got, err := extract(t, doc, "edited.docx", "", docs.Limits{})
	if want := "No longer a heading\n\nNo longer a list item\n\nAlpha.\n\nBeta. Moved text."; err != nil || got != want {
		t.Errorf("got %q, %v; want %q", got, err, want)
	}
}
