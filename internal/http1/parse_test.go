package http1

import (
	"bufio"
	"bytes"
	"maps"
	"net/http"
	"slices"
	"testing"
)

// FuzzParse holds the lean parser to net/http's: whatever head the lean
// path accepts, net/http must read the same way (method, target, host,
// headers, length, close). Anything the two disagree on could be used to
// smuggle a request past one of them.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /v1/chat/completions?vendor=a HTTP/1.1\r\nHost: 127.0.0.1:8082\r\nAuthorization: Bearer sk-1\r\nContent-Type: application/json\r\nContent-Length: 2\r\nX-Stainless-Lang: go\r\n\r\n{}",
		"POST /v1/messages HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\nconnection: close\r\nx-api-key: k\r\nanthropic-version: 2023-06-01\r\n\r\n",
		"GET /a%20b?c=d#e HTTP/1.1\r\nHost: x\r\nAccept: */*\r\nAccept: text/plain\r\nPragma: no-cache\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: 01\r\n\r\nz",
		"GET / HTTP/1.1\r\nHost: x\r\nX: \t a b \t\r\n\r\n",
		"GET //x HTTP/1.1\r\nHost: [::1]:80\r\nConnection: keep-alive, Close\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\u00a0\r\n\r\n", // not OWS: no close for net/http
		"GET / HTTP/1.1\r\nHost: x\r\nConnection: \u0085close\r\n\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		i := bytes.Index(in, crlfcrlf)
		if i < 0 || bytes.Contains(in[:i+4], lflf) {
			return // the lean path waits for more, or hands over
		}
		c := &conn{remote: "client"}
		lean, ok := c.parse(in[:i+4])
		if !ok {
			return // handed to net/http: nothing to compare
		}
		std, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(in)))
		if err != nil {
			t.Fatalf("lean accepted what net/http refuses (%v):\n%q", err, in)
		}
		delete(std.Header, "Host")
		switch {
		case lean.Method != std.Method, lean.RequestURI != std.RequestURI, lean.URL.String() != std.URL.String(),
			lean.Host != std.Host, lean.ContentLength != std.ContentLength, lean.Close != std.Close:
			t.Fatalf("disagree on %q:\nlean %s %s %s host %q length %d close %v\nstd  %s %s %s host %q length %d close %v",
				in, lean.Method, lean.RequestURI, lean.URL, lean.Host, lean.ContentLength, lean.Close,
				std.Method, std.RequestURI, std.URL, std.Host, std.ContentLength, std.Close)
		case !maps.EqualFunc(lean.Header, std.Header, slices.Equal):
			t.Fatalf("headers disagree on %q:\nlean %v\nstd  %v", in, lean.Header, std.Header)
		}
	})
}
