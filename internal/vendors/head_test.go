package vendors

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http"
	"net/textproto"
	"reflect"
	"strings"
	"testing"
)

// headSeeds are answers; the first plainSeeds are the plain kind readHead
// reads itself.
const plainSeeds = 10

var headSeeds = []string{
	"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 5\r\n\r\nhello",
	"HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\ntransfer-encoding: chunked\r\nx-request-id: abc\r\n\r\n5\r\ndata:\r\n0\r\n\r\nHTTP/1.1",
	"HTTP/1.1 429 Too Many Requests\r\nRetry-After: 3\r\nx-ratelimit-remaining-requests: 0\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}",
	"HTTP/1.1 200\r\nContent-Length: 0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nSet-Cookie: a=1\r\nSet-Cookie: b=2\r\nContent-Length: 1\r\n\r\nx",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\nX-Trailer: 1\r\n\r\nnext",
	"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nab",
	"HTTP/1.1 200 OK\r\nX-Empty:\r\nX-Tab:\tv \t\r\nContent-Length: 1\r\n\r\nx",
	"HTTP/1.1 200 OK\r\nConnection: keep-alive, close\r\nContent-Length: 1\r\n\r\nx",
	"HTTP/1.1 204 No Content\r\n\r\n",
	"HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\nx",
	"HTTP/1.1 200 OK\r\nX: a\r\n b\r\nContent-Length: 1\r\n\r\nx",
	"HTTP/1.1 200 OK\nContent-Length: 1\n\nx",
	"HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 1\r\n\r\nx",
	"HTTP/1.1 200 OK\r\nContent-Length: +1\r\n\r\nx",
	"HTTP/1.1 200 OK\r\nTrailer: X-Sum\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX-Sum: 1\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
	"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n0\r\n\r\n",
	"HTTP/1.1 200 OK\r\n\r\nuntil close",
	"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nx",
}

// FuzzReadHead holds readHead to http.ReadResponse: whatever readHead
// takes, ReadResponse reads the same way (status, headers, framing,
// body, and where the next answer starts).
func FuzzReadHead(f *testing.F) {
	for _, s := range headSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		req, _ := http.NewRequest(http.MethodPost, "http://up/v1/chat/completions", nil)
		mine := bufio.NewReaderSize(bytes.NewReader(in), 4096)
		if _, err := mine.Peek(1); err != nil {
			return
		}
		got, ok := readHead(mine, req)
		if !ok {
			if mine.Buffered() != min(len(in), 4096) {
				t.Fatal("readHead declined but consumed input")
			}
			return
		}
		theirs := bufio.NewReaderSize(bytes.NewReader(in), 4096)
		want, err := http.ReadResponse(theirs, req)
		if err != nil {
			t.Fatalf("readHead took a head ReadResponse refuses (%v):\n%q", err, in)
		}
		if got.Status != want.Status || got.StatusCode != want.StatusCode || got.Proto != want.Proto ||
			got.ContentLength != want.ContentLength || got.Close != want.Close ||
			!reflect.DeepEqual(got.TransferEncoding, want.TransferEncoding) || !reflect.DeepEqual(got.Header, want.Header) {
			t.Fatalf("heads differ for %q:\nmine   %q %d %q cl=%d close=%v te=%q %q\ntheirs %q %d %q cl=%d close=%v te=%q %q", in,
				got.Status, got.StatusCode, got.Proto, got.ContentLength, got.Close, got.TransferEncoding, got.Header,
				want.Status, want.StatusCode, want.Proto, want.ContentLength, want.Close, want.TransferEncoding, want.Header)
		}
		gb, gerr := io.ReadAll(got.Body)
		wb, werr := io.ReadAll(want.Body)
		// Only a trailer ReadResponse finds malformed may be read anyway.
		lenient := gerr == nil && werr != nil && strings.Contains(werr.Error(), "trailer") ||
			errors.As(werr, new(textproto.ProtocolError))
		if !bytes.Equal(gb, wb) || (gerr == nil) != (werr == nil) && !lenient {
			t.Fatalf("bodies differ for %q:\nmine   %q, %v\ntheirs %q, %v", in, gb, gerr, wb, werr)
		}
		if gerr == nil && werr == nil {
			rg, _ := io.ReadAll(mine)
			rw, _ := io.ReadAll(theirs)
			if !bytes.Equal(rg, rw) {
				t.Fatalf("the next answer starts at different places for %q:\nmine   %q\ntheirs %q", in, rg, rw)
			}
		}
	})
}

// The plain answers model servers send are read by readHead itself, not
// handed to ReadResponse; the unusual ones are declined.
func TestReadHeadTakesThePlainCases(t *testing.T) {
	req, _ := http.NewRequest(http.MethodPost, "http://up/", nil)
	for i, s := range headSeeds {
		br := bufio.NewReaderSize(strings.NewReader(s), 4096)
		br.Peek(1)
		_, ok := readHead(br, req)
		if want := i < plainSeeds; ok != want {
			t.Errorf("seed %d: readHead took it = %v, want %v:\n%q", i, ok, want, s)
		}
	}
	head, _ := http.NewRequest(http.MethodHead, "http://up/", nil)
	br := bufio.NewReaderSize(strings.NewReader(headSeeds[0]), 4096)
	br.Peek(1)
	if _, ok := readHead(br, head); ok {
		t.Error("readHead took the answer to a HEAD request (its Content-Length frames no body)")
	}
}

func BenchmarkReadHead(b *testing.B) {
	in := []byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nDate: Wed, 25 Nov 2026 20:00:00 GMT\r\nX-Request-Id: req_123\r\nOpenai-Processing-Ms: 12\r\nContent-Length: 5\r\n\r\nhello")
	req, _ := http.NewRequest(http.MethodPost, "http://up/", nil)
	for _, c := range []struct {
		name string
		read func(*bufio.Reader) (*http.Response, error)
	}{
		{"lean", func(br *bufio.Reader) (*http.Response, error) { r, _ := readHead(br, req); return r, nil }},
		{"ReadResponse", func(br *bufio.Reader) (*http.Response, error) { return http.ReadResponse(br, req) }},
	} {
		b.Run(c.name, func(b *testing.B) {
			rd := bytes.NewReader(in)
			br := bufio.NewReaderSize(rd, 2048)
			b.ReportAllocs()
			for b.Loop() {
				rd.Reset(in)
				br.Reset(rd)
				br.Peek(1)
				resp, _ := c.read(br)
				io.Copy(io.Discard, resp.Body)
			}
		})
	}
}
