package docs

import (
	"archive/zip"
	"encoding/xml"
	"io"
	"strconv"
	"strings"
)

// pptx renders a presentation slide by slide: titles, body text (bullets by
// level), tables, then the speaker notes.
func (x *extractor) pptx(z *zip.Reader) error {
	main := x.mainPart(z, "ppt/presentation.xml")
	data, err := x.readPart(z, main)
	if err != nil {
		return err
	}
	if data == nil {
		return errorf(KindCorrupt, "the presentation has no slide list")
	}
	rs, err := x.rels(z, main)
	if err != nil {
		return err
	}
	// The slide order is presentation.xml's sldIdLst, not the member names.
	// Token, not RawToken: the relationship id is r:id by convention only,
	// and the prefix may be any that names the relationships namespace.
	var ids []string
	d := newDecoder(data)
	for {
		tok, err := d.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			return xmlErr("presentation", err)
		}
		if se, ok := tok.(xml.StartElement); ok && se.Name.Local == "sldId" {
			for _, a := range se.Attr {
				if a.Name.Local == "id" && strings.Contains(a.Name.Space, "relationships") || a.Name.Space == "r" && a.Name.Local == "id" {
					ids = append(ids, a.Value)
				}
			}
		}
	}
	n := 0
	for _, id := range ids {
		r, ok := rs[id]
		if !ok || member(z, r.Target) == nil {
			continue
		}
		n++
		if err := x.slide(z, r.Target, n); err != nil {
			return err
		}
	}
	if n == 0 {
		x.out.WriteString("(the presentation has no slides)")
	}
	return nil
}

func (x *extractor) slide(z *zip.Reader, part string, n int) error {
	data, err := x.readMember(member(z, part))
	if err != nil {
		return err
	}
	o := &x.out
	o.block()
	o.WriteString("## Slide " + strconv.Itoa(n))
	if err := x.shapes(data, false, o); err != nil {
		return err
	}
	rs, err := x.rels(z, part)
	if err != nil {
		return err
	}
	for _, r := range rs {
		if !strings.HasSuffix(r.Type, "/notesSlide") || member(z, r.Target) == nil {
			continue
		}
		notes, err := x.readMember(member(z, r.Target))
		if err != nil {
			return err
		}
		// Notes go to a scratch buffer first: most notes pages are empty and
		// then get no heading.
		tmp := &out{max: x.lim.MaxChars}
		if err := x.shapes(notes, true, tmp); err != nil {
			return err
		}
		if tmp.n > 0 {
			o.block()
			o.WriteString("### Notes\n\n" + tmp.String())
		}
	}
	return nil
}

// shapes writes the text of a slide or notes part in shape-tree order. In
// notes only the body placeholder counts (the rest is the slide image and
// its number).
func (x *extractor) shapes(data []byte, notes bool, o *out) error {
	d := newDecoder(data)
	tokens := 0
	bullet := false  // the last thing written was a bullet
	var ph string    // placeholder type of the current shape
	var inShape bool // inside p:sp
	var para strings.Builder
	var lvl int
	var inText, inTable bool
	var row []string
	var rows [][]string
	var cell strings.Builder
	for {
		tokens++
		if tokens%4096 == 0 {
			if err := x.alive(); err != nil {
				return err
			}
		}
		tok, err := d.RawToken()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return xmlErr("slide", err)
		}
		switch t := tok.(type) {
		case xml.StartElement:
			switch t.Name.Local {
			case "sp":
				inShape, ph = true, ""
			case "ph":
				ph = attr(t, "type")
				if ph == "" {
					ph = "body" // a placeholder without a type is a body
				}
			case "tbl":
				inTable, rows = true, nil
			case "tr":
				row = nil
			case "tc":
				cell.Reset()
			case "p":
				para.Reset()
				lvl = 0
			case "pPr":
				lvl, _ = strconv.Atoi(attr(t, "lvl"))
			case "t":
				inText = true
			case "br":
				para.WriteByte('\n')
			case "Fallback":
				if err := skip(d); err != nil {
					return xmlErr("slide", err)
				}
			}
		case xml.CharData:
			if inText {
				para.Write(t)
			}
		case xml.EndElement:
			switch t.Name.Local {
			case "t":
				inText = false
			case "sp":
				inShape, ph = false, ""
			case "p":
				text := strings.TrimSpace(para.String())
				switch {
				case text == "":
				case inTable:
					if cell.Len() > 0 {
						cell.WriteByte('\n')
					}
					cell.WriteString(text)
				case notes && ph != "body":
				case !notes && (ph == "sldNum" || ph == "dt" || ph == "ftr" || ph == "hdr"):
				case ph == "title" || ph == "ctrTitle":
					o.block()
					o.WriteString("### " + strings.ReplaceAll(text, "\n", " "))
				case inShape && (ph == "body" || ph == "obj") && !notes:
					if bullet {
						o.line()
					} else {
						o.block()
					}
					ind := strings.Repeat("  ", min(max(lvl, 0), 8))
					o.WriteString(ind + "- " + strings.ReplaceAll(text, "\n", "\n"+ind+"  "))
					bullet = true
					continue
				default:
					o.block()
					o.WriteString(text)
				}
				if text != "" && !inTable {
					bullet = false
				}
			case "tc":
				row = append(row, cell.String())
			case "tr":
				rows = append(rows, row)
			case "tbl":
				inTable, bullet = false, false
				o.table(rows)
			}
		}
	}
}
