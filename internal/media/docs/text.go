package docs

import (
	"encoding/csv"
	"errors"
	"io"
	"strings"

	"github.com/JohannesKaufmann/html-to-markdown/v2/converter"
	"github.com/JohannesKaufmann/html-to-markdown/v2/plugin/base"
	"github.com/JohannesKaufmann/html-to-markdown/v2/plugin/commonmark"
	"github.com/JohannesKaufmann/html-to-markdown/v2/plugin/table"
	"golang.org/x/net/html"
)

// text handles the formats that are text to begin with.
func (x *extractor) text(f Format, data []byte, mime string) error {
	s := decodeText(data)
	switch f {
	case CSV, TSV:
		return x.csv(s, f == TSV)
	case HTML:
		return x.html(s)
	case JSON:
		fence := "```"
		for strings.Contains(s, fence) {
			fence += "`"
		}
		x.out.WriteString(fence + "json\n" + strings.TrimRight(s, "\r\n") + "\n" + fence)
	default:
		x.out.WriteString(strings.TrimRight(s, "\r\n"))
	}
	return nil
}

// csv renders a delimited file as a table. Rows are kept only while they can
// still fit the output; the rest are counted for the cut marker.
func (x *extractor) csv(s string, tab bool) error {
	r := csv.NewReader(strings.NewReader(s))
	r.FieldsPerRecord = -1
	r.LazyQuotes = true
	r.ReuseRecord = false
	switch {
	case tab:
		r.Comma = '\t'
	default:
		r.Comma = sniffComma(s)
	}
	var rows [][]string
	kept, room := 0, x.lim.MaxChars-x.out.n
	for i := 0; ; i++ {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				// Not really CSV after all: the text itself is the best rendering.
				x.out.WriteString(strings.TrimRight(s, "\r\n"))
				return nil
			}
			return errorf(KindCorrupt, "the table is unreadable (%v)", err)
		}
		if i%1024 == 0 {
			if err := x.alive(); err != nil {
				return err
			}
		}
		if kept <= room {
			rows = append(rows, rec)
			kept += rowChars(rec)
		} else {
			x.out.over += rowChars(rec)
		}
	}
	if len(rows) == 0 {
		x.out.WriteString("(empty table)")
		return nil
	}
	x.out.table(rows)
	return nil
}

// rowChars estimates a row's rendered size: cells plus "| " separators.
func rowChars(r []string) int {
	n := 2
	for _, c := range r {
		n += len(c) + 3
	}
	return n
}

// sniffComma picks the delimiter of the first line: comma, semicolon (common
// in European exports) or tab.
func sniffComma(s string) rune {
	line := s
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		line = s[:i]
	}
	best, n := ',', strings.Count(line, ",")
	for _, c := range []rune{';', '\t'} {
		if k := strings.Count(line, string(c)); k > n {
			best, n = c, k
		}
	}
	return best
}

// html converts a page to Markdown. Inline data: images are dropped first:
// they are bytes, not text, and would eat the character budget.
func (x *extractor) html(s string) error {
	doc, err := html.Parse(strings.NewReader(s))
	if err != nil {
		return errorf(KindCorrupt, "the HTML is unreadable (%v)", err)
	}
	// The converter recurses over the tree; bound its depth before it does.
	if deeper(doc, 512) {
		return errorf(KindLimit, "the HTML is nested more than 512 elements deep")
	}
	dropDataImages(doc)
	conv := converter.NewConverter(converter.WithPlugins(
		base.NewBasePlugin(), commonmark.NewCommonmarkPlugin(), table.NewTablePlugin()))
	md, err := conv.ConvertNode(doc, converter.WithContext(x.ctx))
	if err != nil {
		if aerr := x.alive(); aerr != nil {
			return aerr
		}
		return errorf(KindCorrupt, "the HTML could not be converted (%v)", err)
	}
	x.out.WriteString(strings.TrimSpace(string(md)))
	return nil
}

// deeper reports whether the tree is more than limit levels deep, walking it
// without recursion.
func deeper(root *html.Node, limit int) bool {
	depth := 0
	for n := root; n != nil; {
		if n.FirstChild != nil {
			n = n.FirstChild
			if depth++; depth > limit {
				return true
			}
			continue
		}
		for n != root && n.NextSibling == nil {
			n = n.Parent
			depth--
		}
		if n == root {
			return false
		}
		n = n.NextSibling
	}
	return false
}

func dropDataImages(n *html.Node) {
	for c := n.FirstChild; c != nil; {
		next := c.NextSibling
		if c.Type == html.ElementNode && (c.Data == "img" || c.Data == "source") {
			for _, a := range c.Attr {
				if (a.Key == "src" || a.Key == "srcset") && strings.HasPrefix(strings.TrimSpace(strings.ToLower(a.Val)), "data:") {
					n.RemoveChild(c)
					break
				}
			}
		} else {
			dropDataImages(c)
		}
		c = next
	}
}
