package http1

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// engine says which server ran a handler: net/http puts itself in the
// request context, the lean path does not.
func engine(r *http.Request) string {
	if r.Context().Value(http.ServerContextKey) != nil {
		return "net/http"
	}
	return "lean"
}

// countingListener counts accepted connections.
type countingListener struct {
	net.Listener
	n atomic.Int32
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

func start(t *testing.T, h http.Handler, tune ...func(*Server)) (*Server, string, *countingListener) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &countingListener{Listener: ln}
	s := &Server{Handler: h, ReadHeaderTimeout: 5 * time.Second, IdleTimeout: 30 * time.Second}
	for _, f := range tune {
		f(s)
	}
	served := make(chan error, 1)
	go func() { served <- s.Serve(cl) }()
	t.Cleanup(func() {
		s.Close()
		if err := <-served; !errors.Is(err, http.ErrServerClosed) {
			t.Errorf("Serve returned %v, want ErrServerClosed", err)
		}
	})
	return s, ln.Addr().String(), cl
}

// rawConn sends raw requests and reads answers with net/http's parser.
type rawConn struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dial(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	return &rawConn{t: t, c: c, br: bufio.NewReader(c)}
}

func (r *rawConn) send(s string) {
	r.t.Helper()
	if _, err := io.WriteString(r.c, s); err != nil {
		r.t.Fatal(err)
	}
}

// read returns the next answer with its whole body and trailers.
func (r *rawConn) read(method string) (*http.Response, string) {
	r.t.Helper()
	resp, err := http.ReadResponse(r.br, &http.Request{Method: method})
	for err == nil && resp.StatusCode == http.StatusContinue {
		resp, err = http.ReadResponse(r.br, &http.Request{Method: method})
	}
	if err != nil {
		r.t.Fatalf("reading the answer: %v", err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		r.t.Fatalf("reading the body: %v", err)
	}
	return resp, string(b)
}

// closed reports whether the server closed the connection.
func (r *rawConn) closed() bool {
	r.c.SetReadDeadline(time.Now().Add(2 * time.Second))
	_, err := r.br.ReadByte()
	return errors.Is(err, io.EOF)
}

func TestKeepAliveOnTheLeanPath(t *testing.T) {
	var engines sync.Map
	_, addr, ln := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		engines.Store(engine(r), true)
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"method":%q,"path":%q,"query":%q,"host":%q,"body":%q,"ua":%q}`,
			r.Method, r.URL.Path, r.URL.RawQuery, r.Host, b, r.Header.Get("User-Agent"))
	}))
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	for i := range 50 {
		req, _ := http.NewRequest(http.MethodPost, fmt.Sprintf("http://%s/v1/chat?n=%d", addr, i), strings.NewReader("hello"))
		req.Header.Set("User-Agent", "test/1")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		want := fmt.Sprintf(`{"method":"POST","path":"/v1/chat","query":"n=%d","host":%q,"body":"hello","ua":"test/1"}`, i, addr)
		if string(b) != want || resp.ContentLength != int64(len(want)) || resp.Header.Get("Date") == "" {
			t.Fatalf("request %d: %q (length %d, date %q), want %q", i, b, resp.ContentLength, resp.Header.Get("Date"), want)
		}
	}
	if n := ln.n.Load(); n != 1 {
		t.Errorf("50 requests used %d connections, want 1", n)
	}
	if _, ok := engines.Load("net/http"); ok {
		t.Error("plain requests were handed to net/http")
	}
}

func TestFraming(t *testing.T) {
	big := strings.Repeat("x", 10<<10)
	tests := []struct {
		name    string
		method  string
		handler http.HandlerFunc
		check   func(t *testing.T, resp *http.Response, body string)
	}{
		{"short answer gets a length", "GET", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte(`{"ok":true}`))
		}, func(t *testing.T, resp *http.Response, body string) {
			if resp.ContentLength != 11 || len(resp.TransferEncoding) != 0 || body != `{"ok":true}` {
				t.Errorf("length %d, encoding %v, body %q", resp.ContentLength, resp.TransferEncoding, body)
			}
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
				t.Errorf("sniffed type %q", ct)
			}
		}},
		{"long answer is chunked", "GET", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, big)
		}, func(t *testing.T, resp *http.Response, body string) {
			if resp.TransferEncoding == nil || body != big {
				t.Errorf("encoding %v, body %d bytes", resp.TransferEncoding, len(body))
			}
		}},
		{"declared length is kept", "GET", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "5")
			w.Write([]byte("hello"))
		}, func(t *testing.T, resp *http.Response, body string) {
			if resp.ContentLength != 5 || body != "hello" {
				t.Errorf("length %d, body %q", resp.ContentLength, body)
			}
		}},
		{"trailers follow the body", "GET", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Trailer", "X-Cost")
			w.Write([]byte("data"))
			w.Header().Set("X-Cost", "0.25")
		}, func(t *testing.T, resp *http.Response, body string) {
			if body != "data" || resp.Trailer.Get("X-Cost") != "0.25" || resp.Header.Get("X-Cost") != "" {
				t.Errorf("body %q, trailer %v, header %v", body, resp.Trailer, resp.Header)
			}
		}},
		{"HEAD has no body", "HEAD", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("hello"))
		}, func(t *testing.T, resp *http.Response, body string) {
			if body != "" || resp.ContentLength != 5 {
				t.Errorf("length %d, body %q", resp.ContentLength, body)
			}
		}},
		{"204 has no body", "GET", func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(http.StatusNoContent)
			if _, err := w.Write([]byte("x")); !errors.Is(err, http.ErrBodyNotAllowed) {
				t.Errorf("write on 204: %v", err)
			}
		}, func(t *testing.T, resp *http.Response, body string) {
			if resp.StatusCode != 204 || body != "" || resp.Header.Get("Content-Length") != "" {
				t.Errorf("status %d, body %q, header %v", resp.StatusCode, body, resp.Header)
			}
		}},
		{"prefixed trailers follow a short body", "GET", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("data"))
			w.Header().Set(http.TrailerPrefix+"X-Cost", "0.25")
		}, func(t *testing.T, resp *http.Response, body string) {
			if body != "data" || resp.Trailer.Get("X-Cost") != "0.25" {
				t.Errorf("body %q, trailer %v, header %v", body, resp.Trailer, resp.Header)
			}
		}},
		{"a long first write is sniffed", "GET", func(w http.ResponseWriter, r *http.Request) {
			w.Write([]byte("<html><body>" + big + "</body></html>"))
		}, func(t *testing.T, resp *http.Response, body string) {
			if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") || len(body) != len(big)+26 {
				t.Errorf("type %q, body %d bytes", ct, len(body))
			}
		}},
		{"304 with a length keeps the connection", "GET", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "10")
			w.WriteHeader(http.StatusNotModified)
		}, func(t *testing.T, resp *http.Response, body string) {
			if resp.StatusCode != 304 || body != "" || resp.Close {
				t.Errorf("status %d, body %q, close %v", resp.StatusCode, body, resp.Close)
			}
		}},
		{"a value cannot add a header", "GET", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("X-Echo", "a\r\nSet-Cookie: evil=1")
			w.WriteHeader(http.StatusTeapot)
		}, func(t *testing.T, resp *http.Response, body string) {
			if resp.StatusCode != 418 || resp.Header.Get("Set-Cookie") != "" || resp.Header.Get("X-Echo") != "a  Set-Cookie: evil=1" {
				t.Errorf("status %d, header %v", resp.StatusCode, resp.Header)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, addr, _ := start(t, tt.handler)
			c := dial(t, addr)
			for range 2 { // the connection stays usable after each framing
				c.send(tt.method + " / HTTP/1.1\r\nHost: x\r\n\r\n")
				resp, body := c.read(tt.method)
				tt.check(t, resp, body)
			}
		})
	}
}

func TestShortBodyClosesTheConnection(t *testing.T) {
	_, addr, _ := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "10")
		w.Write([]byte("only5"))
	}))
	c := dial(t, addr)
	c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := io.ReadAll(resp.Body); string(b) != "only5" || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("body %q, err %v: the client must see the answer cut short", b, err)
	}
}

// A flushed event reaches the client while the handler is still running.
func TestFlushStreams(t *testing.T) {
	release := make(chan struct{})
	_, addr, _ := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		rc := http.NewResponseController(w)
		for i := range 3 {
			fmt.Fprintf(w, "data: %d\n\n", i)
			if err := rc.Flush(); err != nil {
				t.Errorf("flush: %v", err)
			}
			<-release
		}
	}))
	c := dial(t, addr)
	c.send("GET /stream HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewReader(resp.Body)
	for i := range 3 {
		line, err := sc.ReadString('\n')
		if err != nil || line != fmt.Sprintf("data: %d\n", i) {
			t.Fatalf("event %d: %q, %v", i, line, err)
		}
		sc.ReadString('\n')
		release <- struct{}{}
	}
	if rest, _ := io.ReadAll(sc); len(rest) != 0 {
		t.Errorf("after the events: %q", rest)
	}
}

func TestPipelinedRequests(t *testing.T) {
	_, addr, _ := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s %s", engine(r), r.URL.Path, b)
	}))
	c := dial(t, addr)
	c.send("POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\nonePOST /b HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\ntwoGET /c HTTP/1.1\r\nHost: x\r\n\r\n")
	for _, want := range []string{"lean /a one", "lean /b two", "lean /c "} {
		if _, body := c.read("GET"); body != want {
			t.Errorf("got %q, want %q", body, want)
		}
	}
}

// Whatever the lean path does not parse itself, net/http answers on the
// same connection, from the same bytes.
func TestHandoff(t *testing.T) {
	tests := []struct {
		name   string
		req    string
		status int
		body   string // the handler's answer; "" when net/http refuses the request
	}{
		{"HTTP/1.0", "GET /x HTTP/1.0\r\nHost: x\r\n\r\n", 200, "net/http GET /x "},
		{"chunked body", "POST /x HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", 200, "net/http POST /x hello"},
		{"expect continue", "POST /x HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi", 200, "net/http POST /x hi"},
		{"long head", "GET /x HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("b", 5000) + "\r\n\r\n", 200, "net/http GET /x "},
		{"bare LF", "GET /x HTTP/1.1\nHost: x\n\n", 200, "net/http GET /x "},
		{"bare LF then blank CRLF", "GET /x HTTP/1.1\r\nHost: x\n\r\n", 200, "net/http GET /x "},
		{"absolute target", "GET http://x/x HTTP/1.1\r\nHost: x\r\n\r\n", 200, "net/http GET /x "},
		{"length and chunked", "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", 200, "net/http POST /x ok"},
		{"two lengths", "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", 400, ""},
		{"no host", "GET /x HTTP/1.1\r\nUser-Agent: a\r\n\r\n", 400, ""},
		{"folded header", "GET /x HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n", 200, "net/http GET /x "},
		{"bad header name", "GET /x HTTP/1.1\r\nHost: x\r\nX A: a\r\n\r\n", 400, ""},
		{"bad length", "POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\nhello", 400, ""},
		{"HTTP/2 preface", "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n", 0, ""},
		{"unknown version", "GET /x HTTP/1.2\r\nHost: x\r\n\r\n", 200, "net/http GET /x "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, addr, _ := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				b, _ := io.ReadAll(r.Body)
				fmt.Fprintf(w, "%s %s %s %s", engine(r), r.Method, r.URL.Path, b)
			}))
			c := dial(t, addr)
			// A lean request first: the handover happens mid-connection.
			c.send("GET /first HTTP/1.1\r\nHost: x\r\n\r\n")
			if _, body := c.read("GET"); body != "lean GET /first " {
				t.Fatalf("first request: %q", body)
			}
			c.send(tt.req)
			if tt.status == 0 { // whatever net/http answers, the handler must not run
				c.c.SetReadDeadline(time.Now().Add(2 * time.Second))
				if b, _ := io.ReadAll(c.br); strings.Contains(string(b), "GET /x") || strings.Contains(string(b), "lean") {
					t.Errorf("the handler served it: %q", b)
				}
				return
			}
			c.c.SetReadDeadline(time.Now().Add(2 * time.Second)) // at once, not after ReadHeaderTimeout
			resp, body := c.read("GET")
			if resp.StatusCode != tt.status || (tt.body != "" && body != tt.body) {
				t.Errorf("got %d %q, want %d %q", resp.StatusCode, body, tt.status, tt.body)
			}
		})
	}
}

func TestUnreadBody(t *testing.T) {
	_, addr, _ := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, r.URL.Path)
	}))
	c := dial(t, addr)
	small := strings.Repeat("s", 10<<10)
	c.send(fmt.Sprintf("POST /small HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", len(small), small))
	c.send("GET /next HTTP/1.1\r\nHost: x\r\n\r\n")
	for _, want := range []string{"/small", "/next"} {
		if _, body := c.read("GET"); body != want {
			t.Fatalf("got %q, want %q: an unread body must be skipped, not parsed", body, want)
		}
	}
	// Too much left unread: the answer goes out and the connection closes.
	c.send(fmt.Sprintf("POST /big HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n", 1<<20))
	c.send(strings.Repeat("b", 64<<10))
	resp, body := c.read("GET")
	if body != "/big" || !resp.Close {
		t.Errorf("got %q, close %v", body, resp.Close)
	}
}

func TestClientGoneCancelsTheRequest(t *testing.T) {
	started, ended := make(chan struct{}), make(chan error, 1)
	_, addr, _ := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		select {
		case <-r.Context().Done():
			ended <- nil
		case <-time.After(5 * time.Second):
			ended <- errors.New("the context was never cancelled")
		}
	}))
	c := dial(t, addr)
	c.send("POST /wait HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi")
	<-started
	c.c.Close()
	if err := <-ended; err != nil {
		t.Error(err)
	}
}

func TestTimeouts(t *testing.T) {
	_, addr, _ := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}),
		func(s *Server) { s.IdleTimeout = 100 * time.Millisecond; s.ReadHeaderTimeout = 100 * time.Millisecond })
	t.Run("idle", func(t *testing.T) {
		c := dial(t, addr)
		c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		c.read("GET")
		if !c.closed() {
			t.Error("an idle connection outlived IdleTimeout")
		}
	})
	t.Run("slow head", func(t *testing.T) {
		c := dial(t, addr)
		c.send("GET / HTTP/1.1\r\nHost: x\r\n") // never finished
		if !c.closed() {
			t.Error("a half-sent head outlived ReadHeaderTimeout")
		}
	})
	t.Run("no second timeout", func(t *testing.T) {
		// A head late by half a timeout is not served: not by the lean
		// path, and not by net/http after a handover either.
		c := dial(t, addr)
		c.send("GET / HTTP/1.1\r\n")
		time.Sleep(150 * time.Millisecond)
		io.WriteString(c.c, "Host: x\r\n\r\n") // may fail: the server has closed
		c.c.SetReadDeadline(time.Now().Add(2 * time.Second))
		if b, err := c.br.ReadByte(); err == nil || isTimeout(err) {
			t.Errorf("a head finished after ReadHeaderTimeout was answered (%q, %v)", b, err)
		}
	})
}

func TestPanicClosesOnlyItsConnection(t *testing.T) {
	_, addr, _ := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/panic" {
			panic(http.ErrAbortHandler)
		}
		io.WriteString(w, "fine")
	}))
	c := dial(t, addr)
	c.send("GET /panic HTTP/1.1\r\nHost: x\r\n\r\n")
	if !c.closed() {
		t.Error("the connection survived a panic")
	}
	d := dial(t, addr)
	d.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	if _, body := d.read("GET"); body != "fine" {
		t.Errorf("after a panic: %q", body)
	}
}

func TestShutdownFinishesInFlight(t *testing.T) {
	started, release := make(chan struct{}), make(chan struct{})
	s, addr, _ := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			close(started)
			<-release
		}
		io.WriteString(w, "done")
	}))
	idle := dial(t, addr)
	idle.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	idle.read("GET")
	busy := dial(t, addr)
	busy.send("GET /slow HTTP/1.1\r\nHost: x\r\n\r\n")
	<-started
	shut := make(chan error, 1)
	go func() { shut <- s.Shutdown(context.Background()) }()
	if !idle.closed() {
		t.Error("Shutdown left an idle connection open")
	}
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned (%v) with a request in flight", err)
	case <-time.After(100 * time.Millisecond):
	}
	close(release)
	resp, body := busy.read("GET")
	if body != "done" || !resp.Close {
		t.Errorf("in-flight answer %q, close %v", body, resp.Close)
	}
	if err := <-shut; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	if _, err := net.Dial("tcp", addr); err == nil {
		t.Error("still accepting after Shutdown")
	}
}

// The request body is the client's, byte for byte, in any read size.
func TestBodyReads(t *testing.T) {
	_, addr, _ := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var got []byte
		buf := make([]byte, 7)
		for {
			n, err := r.Body.Read(buf)
			got = append(got, buf[:n]...)
			if err == io.EOF {
				break
			}
			if err != nil {
				http.Error(w, err.Error(), 500)
				return
			}
		}
		w.Write(got)
	}))
	body := strings.Repeat("0123456789", 3000)
	resp, err := http.Post("http://"+addr+"/", "text/plain", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	http.DefaultClient.CloseIdleConnections()
	if string(b) != body {
		t.Errorf("echoed %d bytes, want %d", len(b), len(body))
	}
}

// A handler that refuses a big upload without reading it: the client,
// still sending, must get the answer rather than a reset.
func TestEarlyAnswerToAnUpload(t *testing.T) {
	_, addr, _ := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "too large", http.StatusRequestEntityTooLarge)
	}))
	client := &http.Client{Transport: &http.Transport{}}
	defer client.CloseIdleConnections()
	resp, err := client.Post("http://"+addr+"/", "text/plain", strings.NewReader(strings.Repeat("u", 4<<20)))
	if err != nil {
		t.Fatalf("the client saw %v instead of the answer", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("status %d", resp.StatusCode)
	}
}

// A deadline a handler sets through http.ResponseController ends with its
// request: the next one on the connection is not cut short by it.
func TestHandlerDeadlinesEndWithTheRequest(t *testing.T) {
	_, addr, _ := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/a" {
			rc := http.NewResponseController(w)
			rc.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
			rc.SetWriteDeadline(time.Now().Add(50 * time.Millisecond))
		}
		io.WriteString(w, r.URL.Path)
	}), func(s *Server) { s.IdleTimeout, s.ReadHeaderTimeout = 0, 0 })
	c := dial(t, addr)
	c.send("GET /a HTTP/1.1\r\nHost: x\r\n\r\n")
	if _, body := c.read("GET"); body != "/a" {
		t.Fatalf("got %q", body)
	}
	time.Sleep(150 * time.Millisecond)
	c.send("GET /b HTTP/1.1\r\nHost: x\r\n\r\n")
	if _, body := c.read("GET"); body != "/b" {
		t.Fatalf("got %q", body)
	}
}

// Close ends the running requests' contexts, as net/http's does, rather
// than waiting for handlers that wait for them.
func TestCloseCancelsRequests(t *testing.T) {
	started := make(chan struct{})
	s, addr, _ := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	c := dial(t, addr)
	c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	<-started
	t0 := time.Now()
	s.Close()
	if d := time.Since(t0); d > 2*time.Second {
		t.Errorf("Close took %v: the handler's context was not cancelled", d)
	}
}

// A connection accepted just as the server closes is either refused or
// waited for: Close never returns while its goroutine is still to run.
func TestCloseWaitsForAnAcceptedConnection(t *testing.T) {
	s, _, _ := start(t, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	rw, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	s.init()           // as Serve has, or is doing
	c := s.newConn(rw) // what Serve does between Accept and starting the goroutine
	if c == nil {
		t.Skip("no hang-up watcher here: connections are handed over")
	}
	closed := make(chan struct{})
	go func() { s.Close(); close(closed) }()
	select {
	case <-closed:
		t.Error("Close returned before an accepted connection was served")
	case <-time.After(200 * time.Millisecond):
	}
	go func() { // as in Serve
		defer s.wg.Done()
		c.serve()
	}()
	<-closed
}

// A body read from a goroutine the handler left behind fails; it must not
// reach the connection's buffer once that is back in the pool (run with
// -race).
func TestBodyReadAfterTheHandler(t *testing.T) {
	for _, path := range []string{"/close", "/panic"} {
		t.Run(path, func(t *testing.T) {
			read, got := make(chan struct{}), make(chan error, 1)
			_, addr, _ := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				go func() {
					<-read
					_, err := r.Body.Read(make([]byte, 8))
					got <- err
				}()
				if r.URL.Path == "/panic" {
					panic(http.ErrAbortHandler)
				}
			}))
			c := dial(t, addr)
			c.send("POST " + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 5\r\n\r\nhello")
			if path == "/close" {
				c.read("POST")
			}
			if !c.closed() {
				t.Fatal("the connection stayed open")
			}
			time.Sleep(50 * time.Millisecond) // the server has put its buffer back
			close(read)
			if err := <-got; !errors.Is(err, errBodyDone) { // net/http's answer too
				t.Errorf("a body read after the handler: %v, want %v", err, errBodyDone)
			}
		})
	}
}

// An informational answer has no body, so it carries no framing fields
// (net/http leaves them out too).
func TestInformationalHasNoFraming(t *testing.T) {
	_, addr, _ := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "5")
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Write([]byte("hello"))
	}))
	c := dial(t, addr)
	c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	hints, err := http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if hints.StatusCode != http.StatusEarlyHints || hints.Header.Get("Link") == "" || hints.Header["Content-Length"] != nil {
		t.Errorf("103: %d %v", hints.StatusCode, hints.Header)
	}
	if resp, body := c.read("GET"); resp.StatusCode != 200 || body != "hello" {
		t.Errorf("final answer %d %q", resp.StatusCode, body)
	}
}

// socketPair is both ends of a loopback TCP connection, closed with the test.
func socketPair(t *testing.T) (client, server net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	client, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	server, err = ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { server.Close() })
	return client, server
}

// net/http half-closes a handed connection the way it does its own.
func TestHandedConnCloseWrite(t *testing.T) {
	client, rw := socketPair(t)
	var hc net.Conn = &handedConn{Conn: rw}
	cw, ok := hc.(interface{ CloseWrite() error })
	if !ok {
		t.Fatal("a handed connection cannot be half-closed")
	}
	if err := cw.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	client.SetReadDeadline(time.Now().Add(2 * time.Second))
	if _, err := client.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("the client read %v, want EOF", err)
	}
}

// A closed watcher takes no connection, even when its descriptor's number
// has gone to another epoll set since.
func TestClosedWatcherTakesNoConnection(t *testing.T) {
	old, err := newHangupWatcher()
	if err != nil {
		t.Skip(err)
	}
	old.close()
	next, err := newHangupWatcher() // likely reuses the old set's number
	if err != nil {
		t.Fatal(err)
	}
	defer next.close()
	_, rw := socketPair(t)
	if old.add(&conn{rwc: rw}) {
		t.Error("a closed watcher took a connection")
	}
}

// EnableFullDuplex promises that a handler can answer while a goroutine of
// its own waits for more of the body: the answer must not wait for it.
func TestFullDuplex(t *testing.T) {
	_, addr, _ := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		rc.EnableFullDuplex()
		first, got := make(chan struct{}), make(chan []byte)
		go func() {
			b := make([]byte, 5)
			io.ReadFull(r.Body, b)
			close(first)
			rest, _ := io.ReadAll(r.Body) // waits for the client
			got <- append(b, rest...)
		}()
		<-first
		time.Sleep(50 * time.Millisecond) // the reader is waiting now
		io.WriteString(w, "ready\n")
		rc.Flush()
		fmt.Fprintf(w, "echo %s\n", <-got)
	}))
	c := dial(t, addr)
	c.send("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello")
	c.c.SetReadDeadline(time.Now().Add(2 * time.Second))
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatalf("no answer while the body is still coming: %v", err)
	}
	br := bufio.NewReader(resp.Body)
	if line, err := br.ReadString('\n'); line != "ready\n" {
		t.Fatalf("first line %q, %v", line, err)
	}
	c.send("world")
	if line, err := br.ReadString('\n'); line != "echo helloworld\n" {
		t.Fatalf("second line %q, %v", line, err)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// A handler's Connection header is read as tokens, as net/http reads it:
// "close" among others still closes the connection after the answer.
func TestHandlerConnectionCloseToken(t *testing.T) {
	_, addr, _ := start(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "keep-alive, close")
		io.WriteString(w, "bye")
	}))
	c := dial(t, addr)
	c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	resp, body := c.read(http.MethodGet)
	if body != "bye" || !resp.Close {
		t.Fatalf("answer %q, close %v; want \"bye\" announcing close", body, resp.Close)
	}
	if !c.closed() {
		t.Fatal("the connection stayed open after a handler's \"keep-alive, close\"")
	}
}

// BenchmarkServe is one small request and answer on a kept connection, the
// client reading raw bytes so that what is counted is the server's.
func BenchmarkServe(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	answer := `{"id":"chatcmpl-1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"hi"}}]}`
	s := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, answer)
	})}
	go s.Serve(ln)
	defer s.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	body := `{"model":"m","messages":[{"role":"user","content":"hi"}]}`
	req := []byte(fmt.Sprintf("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nAuthorization: Bearer k\r\nContent-Length: %d\r\n\r\n%s", len(body), body))
	br := bufio.NewReader(c)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := c.Write(req); err != nil {
			b.Fatal(err)
		}
		n := -1
		for { // the head, noting the length
			line, err := br.ReadSlice('\n')
			if err != nil {
				b.Fatal(err)
			}
			if len(line) == 2 {
				break
			}
			if v, ok := bytes.CutPrefix(line, []byte("Content-Length: ")); ok {
				n, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
			}
		}
		if n != len(answer) {
			b.Fatalf("Content-Length %d, want %d", n, len(answer))
		}
		if _, err := br.Discard(n); err != nil {
			b.Fatal(err)
		}
	}
}
