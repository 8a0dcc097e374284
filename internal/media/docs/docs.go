// Package docs turns documents into Markdown that any model can read: PDF
// (text layer), DOCX, XLSX, PPTX, CSV/TSV, HTML, JSON, Markdown, plain text
// and ZIP archives of those. Everything is pure Go and bounded: input is
// untrusted, so every decompression, page, member and character is counted
// against Limits, and the caller's context bounds the time.
package docs

import (
	"context"
	"errors"
	"fmt"
	"path"
	"strings"
)

// Limits bound one extraction. Zero fields take the defaults below.
type Limits struct {
	MaxDecompressed int64 // bytes inflated from archives, in all, nested ones included
	MaxMembers      int   // archive members, in all
	MaxDepth        int   // archive nesting; an OOXML file (DOCX, XLSX, PPTX) is one level
	MaxRatio        int   // a member inflating more than this many times its size is a bomb
	MaxPages        int   // PDF pages read
	MaxChars        int   // characters of Markdown returned; the rest is cut with a marker
}

// Defaults.
const (
	DefaultMaxDecompressed = 128 << 20
	DefaultMaxMembers      = 1000
	DefaultMaxDepth        = 3
	DefaultMaxRatio        = 200
	DefaultMaxPages        = 500
	DefaultMaxChars        = 200_000
)

func (l Limits) withDefaults() Limits {
	if l.MaxDecompressed <= 0 {
		l.MaxDecompressed = DefaultMaxDecompressed
	}
	if l.MaxMembers <= 0 {
		l.MaxMembers = DefaultMaxMembers
	}
	if l.MaxDepth <= 0 {
		l.MaxDepth = DefaultMaxDepth
	}
	if l.MaxRatio <= 0 {
		l.MaxRatio = DefaultMaxRatio
	}
	if l.MaxPages <= 0 {
		l.MaxPages = DefaultMaxPages
	}
	if l.MaxChars <= 0 {
		l.MaxChars = DefaultMaxChars
	}
	return l
}

// Error kinds, for callers that map them to status codes or notes.
const (
	KindCorrupt     = "corrupt"
	KindEncrypted   = "encrypted"
	KindUnsupported = "unsupported"
	KindLimit       = "limit" // a size, member, depth or ratio limit: a possible bomb
	KindTimeout     = "timeout"
)

// Error says why a file could not be read. Reason is safe to show the client:
// it describes the client's own file and nothing of the gateway.
type Error struct {
	Kind   string
	Reason string
}

func (e *Error) Error() string { return e.Reason }

func errorf(kind, format string, a ...any) *Error {
	return &Error{Kind: kind, Reason: fmt.Sprintf(format, a...)}
}

// Extract returns the content of a file as Markdown. name and mime (either may
// be empty) help tell text formats apart; binary formats are recognised by
// their bytes. A non-nil error is an *Error.
func Extract(ctx context.Context, data []byte, name, mime string, lim Limits) (md string, err error) {
	x := &extractor{ctx: ctx, lim: lim.withDefaults()}
	x.out.max = x.lim.MaxChars
	// The PDF and spreadsheet libraries signal malformed input by panicking;
	// nothing a file contains may take the gateway down.
	defer func() {
		if r := recover(); r != nil {
			md, err = "", errorf(KindCorrupt, "the file is corrupt or unreadable")
		}
	}()
	if err := x.file(data, name, mime, 0); err != nil {
		return "", err
	}
	return x.out.String(), nil
}

// Format names a file format that extraction recognises.
type Format string

// Formats.
const (
	PDF      Format = "pdf"
	DOCX     Format = "docx"
	XLSX     Format = "xlsx"
	PPTX     Format = "pptx"
	ZIP      Format = "zip"
	CSV      Format = "csv"
	TSV      Format = "tsv"
	HTML     Format = "html"
	JSON     Format = "json"
	Markdown Format = "markdown"
	Text     Format = "text"
)

// extractor carries one extraction's budget and output across nesting.
type extractor struct {
	ctx          context.Context
	lim          Limits
	out          out
	decompressed int64
	members      int
}

func (x *extractor) alive() error {
	if err := x.ctx.Err(); err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return errorf(KindTimeout, "reading the file took too long")
		}
		return err
	}
	return nil
}

// file extracts one file of any supported format at archive depth depth.
func (x *extractor) file(data []byte, name, mime string, depth int) error {
	if err := x.alive(); err != nil {
		return err
	}
	f, err := detect(data, name, mime)
	if err != nil {
		return err
	}
	switch f {
	case PDF:
		return x.pdf(data)
	case ZIP:
		z, kind, err := openZip(data)
		if err != nil {
			return err
		}
		if depth+1 > x.lim.MaxDepth {
			return errorf(KindLimit, "archives are nested more than %d deep", x.lim.MaxDepth)
		}
		if err := x.countMembers(z); err != nil {
			return err
		}
		switch kind {
		case DOCX:
			return x.docx(z)
		case XLSX:
			return x.xlsx(data, z)
		case PPTX:
			return x.pptx(z)
		}
		return x.zip(z, name, depth+1)
	default:
		return x.text(f, data, mime)
	}
}

func ext(name string) string { return strings.ToLower(path.Ext(strings.ReplaceAll(name, "\\", "/"))) }

func baseMIME(m string) string {
	if i := strings.IndexByte(m, ';'); i >= 0 {
		m = m[:i]
	}
	return strings.ToLower(strings.TrimSpace(m))
}
