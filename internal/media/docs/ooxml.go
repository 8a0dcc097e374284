package docs

import (
	"archive/zip"
	"bytes"
	"encoding/xml"
	"io"
	"path"
	"strings"
)

// rel is one relationship of an OOXML part.
type rel struct {
	ID, Type, Target, Mode string
}

// rels reads the relationships of part (e.g. "word/document.xml"), with
// targets resolved to member names.
func (x *extractor) rels(z *zip.Reader, part string) (map[string]rel, error) {
	dir, file := path.Split(part)
	data, err := x.readPart(z, dir+"_rels/"+file+".rels")
	if err != nil || data == nil {
		return nil, err
	}
	var doc struct {
		Rels []struct {
			ID         string `xml:"Id,attr"`
			Type       string `xml:"Type,attr"`
			Target     string `xml:"Target,attr"`
			TargetMode string `xml:"TargetMode,attr"`
		} `xml:"Relationship"`
	}
	if err := xml.Unmarshal(data, &doc); err != nil {
		return nil, errorf(KindCorrupt, "the document's relationships are unreadable (%v)", err)
	}
	m := make(map[string]rel, len(doc.Rels))
	for _, r := range doc.Rels {
		t := r.Target
		if r.TargetMode != "External" {
			if strings.HasPrefix(t, "/") {
				t = strings.TrimPrefix(t, "/")
			} else {
				t = path.Join(dir, t)
			}
		}
		m[r.ID] = rel{ID: r.ID, Type: r.Type, Target: t, Mode: r.TargetMode}
	}
	return m, nil
}

// mainPart finds the package's main document through _rels/.rels, falling
// back to the conventional name.
func (x *extractor) mainPart(z *zip.Reader, fallback string) string {
	rs, err := x.rels(z, "")
	if err == nil {
		for _, r := range rs {
			if strings.HasSuffix(r.Type, "/officeDocument") && member(z, r.Target) != nil {
				return r.Target
			}
		}
	}
	return fallback
}

// attr returns the value of the attribute with the given local name.
func attr(e xml.StartElement, local string) string {
	for _, a := range e.Attr {
		if a.Name.Local == local {
			return a.Value
		}
	}
	return ""
}

// newDecoder is an XML decoder over untrusted input: no entity expansion
// beyond the XML built-ins happens in encoding/xml, so only size matters.
func newDecoder(data []byte) *xml.Decoder {
	d := xml.NewDecoder(bytes.NewReader(data))
	d.Strict = false
	return d
}

// skip consumes the rest of the element just started. The walkers read
// RawToken (no namespace bookkeeping, noticeably faster), so Decoder.Skip,
// which checks nesting against that bookkeeping, cannot be used.
func skip(d *xml.Decoder) error {
	depth := 0
	for {
		tok, err := d.RawToken()
		if err != nil {
			return err
		}
		switch tok.(type) {
		case xml.StartElement:
			depth++
		case xml.EndElement:
			if depth == 0 {
				return nil
			}
			depth--
		}
	}
}

func xmlErr(what string, err error) error {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return errorf(KindCorrupt, "the %s is corrupt (%v)", what, err)
}
