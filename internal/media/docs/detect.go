package docs

import (
	"archive/zip"
	"bytes"
	"encoding/json"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// detect recognises binary formats by their bytes and text formats by name,
// declared type and content, in that order of trust.
func detect(data []byte, name, mime string) (Format, error) {
	head := data
	if len(head) > 1024 {
		head = head[:1024]
	}
	switch {
	case len(data) == 0:
		return Text, nil
	case bytes.HasPrefix(bytes.TrimLeft(head, " \t\r\n"), []byte("%PDF-")),
		bytes.Contains(head, []byte("%PDF-")) && (ext(name) == ".pdf" || baseMIME(mime) == "application/pdf"):
		// The header may follow some junk, within the first KiB.
		return PDF, nil
	case bytes.HasPrefix(data, []byte("PK\x03\x04")) || bytes.HasPrefix(data, []byte("PK\x05\x06")):
		// Which kind of archive (OOXML or plain ZIP) is left to zipFormat,
		// once the extractor has read the directory.
		return ZIP, nil
	case bytes.HasPrefix(data, []byte("\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1")):
		// An OLE compound file: either an encrypted OOXML package or a legacy
		// binary Office file. The stream name is stored in UTF-16LE.
		if bytes.Contains(data, utf16le("EncryptedPackage")) {
			return "", errorf(KindEncrypted, "the file is encrypted (password-protected)")
		}
		return "", errorf(KindUnsupported, "legacy binary Office files (.doc, .xls, .ppt) are not supported; save it as .docx, .xlsx or .pptx")
	}
	if kind := binaryKind(data); kind != "" {
		return "", errorf(KindUnsupported, "%s files are not supported", kind)
	}
	if !looksText(data) {
		return "", errorf(KindUnsupported, "the file type is not supported (binary data)")
	}
	e, m := ext(name), baseMIME(mime)
	switch {
	case e == ".csv" || m == "text/csv":
		return CSV, nil
	case e == ".tsv" || e == ".tab" || m == "text/tab-separated-values":
		return TSV, nil
	case e == ".html" || e == ".htm" || e == ".xhtml" || m == "text/html" || m == "application/xhtml+xml":
		return HTML, nil
	case e == ".json" || m == "application/json":
		return JSON, nil
	case e == ".md" || e == ".markdown" || m == "text/markdown":
		return Markdown, nil
	}
	t := bytes.TrimSpace(head)
	if len(t) > 0 && (t[0] == '{' || t[0] == '[') && json.Valid(bytes.TrimSpace(data)) {
		return JSON, nil
	}
	lt := strings.ToLower(string(t[:min(len(t), 64)]))
	if strings.HasPrefix(lt, "<!doctype html") || strings.HasPrefix(lt, "<html") {
		return HTML, nil
	}
	return Text, nil
}

// zipFormat looks inside an archive for the parts that make it an OOXML file.
func zipFormat(z *zip.Reader) (Format, error) {
	f := ZIP
	for _, m := range z.File {
		switch m.Name {
		case "word/document.xml":
			f = DOCX
		case "xl/workbook.xml":
			f = XLSX
		case "ppt/presentation.xml":
			f = PPTX
		case "mimetype":
			if rc, err := m.Open(); err == nil {
				var b [80]byte
				n, _ := rc.Read(b[:])
				rc.Close()
				if bytes.HasPrefix(b[:n], []byte("application/vnd.oasis.opendocument")) {
					return "", errorf(KindUnsupported, "OpenDocument files are not supported; save it as .docx, .xlsx or .pptx")
				}
			}
		}
	}
	return f, nil
}

// binaryKind names common binary formats that are not documents.
func binaryKind(b []byte) string {
	switch {
	case bytes.HasPrefix(b, []byte("\x1f\x8b")):
		return "gzip"
	case bytes.HasPrefix(b, []byte("Rar!\x1a\x07")):
		return "RAR"
	case bytes.HasPrefix(b, []byte("7z\xbc\xaf\x27\x1c")):
		return "7-Zip"
	case bytes.HasPrefix(b, []byte("\x7fELF")):
		return "executable"
	case bytes.HasPrefix(b, []byte("\x89PNG")), bytes.HasPrefix(b, []byte("\xff\xd8\xff")),
		bytes.HasPrefix(b, []byte("GIF8")), len(b) > 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WEBP":
		return "image"
	case len(b) > 12 && string(b[:4]) == "RIFF" && string(b[8:12]) == "WAVE",
		bytes.HasPrefix(b, []byte("ID3")), bytes.HasPrefix(b, []byte("OggS")), bytes.HasPrefix(b, []byte("fLaC")):
		return "audio"
	}
	return ""
}

// looksText accepts UTF-8 and UTF-16 with a BOM, and 8-bit text with few
// control characters (decoded as Latin-1 later).
func looksText(b []byte) bool {
	if bytes.HasPrefix(b, []byte("\xff\xfe")) || bytes.HasPrefix(b, []byte("\xfe\xff")) {
		return true
	}
	sample := b[:min(len(b), 8192)]
	ctl := 0
	for _, c := range sample {
		switch {
		case c == 0:
			return false
		case c < 0x20 && c != '\n' && c != '\r' && c != '\t' && c != '\f' && c != 0x1b:
			ctl++
		}
	}
	return ctl*100 < len(sample)
}

// decodeText returns the text of b as UTF-8: a BOM picks UTF-16 or strips
// itself; invalid UTF-8 is read as Windows-1252 (what Windows exports are,
// and what browsers read "Latin-1" as): Latin-1 with curly quotes, dashes,
// the euro sign and the like in 0x80-0x9F, where Latin-1 has only control
// characters.
func decodeText(b []byte) string {
	switch {
	case bytes.HasPrefix(b, []byte("\xef\xbb\xbf")):
		b = b[3:]
	case bytes.HasPrefix(b, []byte("\xff\xfe")), bytes.HasPrefix(b, []byte("\xfe\xff")):
		be := b[0] == 0xfe
		b = b[2:]
		u := make([]uint16, len(b)/2)
		for i := range u {
			if be {
				u[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
			} else {
				u[i] = uint16(b[2*i+1])<<8 | uint16(b[2*i])
			}
		}
		return string(utf16.Decode(u))
	}
	if utf8.Valid(b) {
		return string(b)
	}
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
		if c >= 0x80 && c < 0xa0 {
			r[i] = cp1252[c-0x80]
		}
	}
	return string(r)
}

// cp1252 is Windows-1252's 0x80-0x9F; the five unassigned codes stay as
// they are, as browsers read them.
var cp1252 = [32]rune{
	'\u20ac', '\u0081', '\u201a', '\u0192', '\u201e', '\u2026', '\u2020', '\u2021',
	'\u02c6', '\u2030', '\u0160', '\u2039', '\u0152', '\u008d', '\u017d', '\u008f',
	'\u0090', '\u2018', '\u2019', '\u201c', '\u201d', '\u2022', '\u2013', '\u2014',
	'\u02dc', '\u2122', '\u0161', '\u203a', '\u0153', '\u009d', '\u017e', '\u0178',
}

func utf16le(s string) []byte {
	b := make([]byte, 0, 2*len(s))
	for _, c := range []byte(s) {
		b = append(b, c, 0)
	}
	return b
}

// detail is " (reason)" from a library error's last clause, the useful
// one, or "" when that clause is a dump of the file's own bytes.
func detail(err error) string {
	s := err.Error()
	if i := strings.LastIndex(s, ": "); i >= 0 && i+2 < len(s) {
		s = s[i+2:]
	}
	if len(s) > 60 || strings.ContainsAny(s, "{}<>[]") {
		return ""
	}
	for _, c := range s {
		if c < ' ' || c > '~' {
			return ""
		}
	}
	return " (" + s + ")"
}
