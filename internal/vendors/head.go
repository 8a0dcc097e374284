package vendors

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/http/httputil"
	"net/textproto"
	"strconv"
	"strings"

	"golang.org/x/net/http/httpguts"
)

// readHead reads an answer's head straight from the buffer when it is the
// plain kind every model server sends: HTTP/1.1, all of the head already
// buffered, a status that has a body, and either a Content-Length or a
// chunked body. It makes one string of the head and slices the header
// values out of it: http.ReadResponse spends a textproto.Reader, a string
// per line and a slice per header on the same work. Anything else
// (ok=false, nothing consumed) is left to http.ReadResponse, which a fuzz
// test holds this reading to.
func readHead(br *bufio.Reader, req *http.Request) (resp *http.Response, ok bool) {
	if req.Method == http.MethodHead {
		return nil, false
	}
	buf, _ := br.Peek(br.Buffered())
	end := bytes.Index(buf, []byte("\r\n\r\n"))
	if end < 0 {
		return nil, false
	}
	head := string(buf[:end+2]) // each line ends in CRLF
	line, rest, _ := strings.Cut(head, "\r\n")
	status, code, ok := statusLine(line)
	if !ok {
		return nil, false
	}
	n := strings.Count(rest, "\r\n")
	h := make(http.Header, n)
	vals := make([]string, n) // one backing array for single values
	for rest != "" {
		line, rest, _ = strings.Cut(rest, "\r\n")
		k, v, ok := headerLine(line)
		if !ok {
			return nil, false
		}
		k = textproto.CanonicalMIMEHeaderKey(k)
		if old, dup := h[k]; dup {
			h[k] = append(old, v)
			continue
		}
		vals[0] = v
		h[k], vals = vals[:1:1], vals[1:]
	}

	resp = &http.Response{
		Status: status, StatusCode: code,
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: h, Request: req,
	}
	if !framing(resp) {
		return nil, false
	}
	br.Discard(end + 4)
	switch {
	case resp.ContentLength == 0:
		resp.Body = http.NoBody
	case resp.ContentLength > 0:
		resp.Body = &sizedBody{r: br, left: resp.ContentLength}
	default:
		resp.Body = &chunkedBody{br: br, r: httputil.NewChunkedReader(br)}
	}
	return resp, true
}

// statusLine parses "HTTP/1.1 200 OK" into "200 OK" and 200. Codes outside
// 200-599, and 204 and 304 (no body), are ReadResponse's to handle.
func statusLine(line string) (status string, code int, ok bool) {
	status, found := strings.CutPrefix(line, "HTTP/1.1 ")
	if !found || len(status) < 3 || len(status) > 3 && status[3] != ' ' || strings.ContainsAny(status, "\r\n") {
		return "", 0, false
	}
	for _, c := range []byte(status[:3]) {
		if c < '0' || c > '9' {
			return "", 0, false
		}
		code = code*10 + int(c-'0')
	}
	if code < 200 || code > 599 || code == http.StatusNoContent || code == http.StatusNotModified {
		return "", 0, false
	}
	return status, code, true
}

// headerLine splits "Name: value". Lines ReadResponse would reject, fold or
// repair (no colon, space before it, a non-token name, control bytes in the
// value) are refused, so that only ReadResponse ever judges them.
func headerLine(line string) (k, v string, ok bool) {
	k, v, found := strings.Cut(line, ":")
	if !found || k == "" {
		return "", "", false
	}
	for i := 0; i < len(k); i++ {
		if !isToken(k[i]) {
			return "", "", false
		}
	}
	v = strings.Trim(v, " \t")
	for i := 0; i < len(v); i++ {
		if c := v[i]; c < ' ' && c != '\t' || c == 0x7f {
			return "", "", false
		}
	}
	return k, v, true
}

// isToken reports whether c may appear in a header name (RFC 9110 tchar).
func isToken(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}

// framing sets ContentLength, TransferEncoding and Close from the headers,
// and reports false for every case but one Content-Length or a lone
// "chunked".
func framing(resp *http.Response) bool {
	h := resp.Header
	if _, ok := h["Trailer"]; ok {
		return false
	}
	if httpguts.HeaderValuesContainsToken(h["Connection"], "close") {
		resp.Close = true
		delete(h, "Connection") // as ReadResponse does
	}
	te, cl := h["Transfer-Encoding"], h["Content-Length"]
	switch {
	case len(te) == 1 && len(cl) == 0 && strings.EqualFold(te[0], "chunked"):
		delete(h, "Transfer-Encoding")
		resp.TransferEncoding = []string{"chunked"}
		resp.ContentLength = -1
		return true
	case len(te) == 0 && len(cl) == 1:
		n, err := strconv.ParseUint(cl[0], 10, 63)
		if err != nil {
			return false
		}
		resp.ContentLength = int64(n)
		return true
	}
	return false // until close, or ambiguous
}

// sizedBody is a Content-Length body: exactly left bytes, and
// io.ErrUnexpectedEOF when the connection ends before them.
type sizedBody struct {
	r    io.Reader
	left int64
}

func (b *sizedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.r.Read(p)
	b.left -= int64(n)
	switch {
	case b.left == 0:
		err = io.EOF
	case err == io.EOF:
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

func (b *sizedBody) Close() error { return nil }

// chunkedBody is a chunked body. The chunked reader stops at the last
// chunk; the trailer section after it (empty, or fields nobody declared)
// is consumed up to its blank line before io.EOF, so the connection is
// left at the next answer. Trailer fields are dropped unread: no adapter
// uses them, and unlike ReadResponse a malformed one does not break an
// answer whose body already arrived whole.
type chunkedBody struct {
	br  *bufio.Reader
	r   io.Reader
	err error
}

// maxTrailer bounds the trailer section read after the last chunk.
const maxTrailer = 8 << 10

var errTrailer = errors.New("chunked trailer too long")

func (b *chunkedBody) Read(p []byte) (int, error) {
	if b.err != nil {
		return 0, b.err
	}
	n, err := b.r.Read(p)
	if err == io.EOF {
		err = b.trailer()
	}
	if err != nil {
		b.err = err
		if n > 0 {
			return n, nil // the data first, the end on the next call
		}
	}
	return n, err
}

func (b *chunkedBody) trailer() error {
	for read := 0; read < maxTrailer; {
		line, err := b.br.ReadSlice('\n')
		if err != nil {
			if err == io.EOF {
				return io.ErrUnexpectedEOF
			}
			return err
		}
		if string(line) == "\r\n" || string(line) == "\n" { // textproto ends it at either
			return io.EOF
		}
		read += len(line)
	}
	return errTrailer
}

func (b *chunkedBody) Close() error { return nil }
