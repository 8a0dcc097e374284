package vendors

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/genrouter/genrouter/internal/rawsock"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// connCounter is an httptest server that counts the connections it accepted.
func connCounter(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var n atomic.Int64
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			n.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, &n
}

func post(t *testing.T, c *http.Client, ctx context.Context, url, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer sk-test")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

// The lean path speaks plain HTTP/1.1 correctly: the request arrives whole,
// answers of every framing are read whole, and one connection carries them
// all in turn.
func TestLeanTransportReusesOneConnection(t *testing.T) {
	srv, conns := connCounter(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Got", fmt.Sprintf("%s %s %s len=%d auth=%s", r.Method, r.URL.RequestURI(), r.Proto, r.ContentLength, r.Header.Get("Authorization")))
		switch r.URL.Query().Get("framing") {
		case "chunked": // an SSE stream, flushed event by event
			w.Header().Set("Content-Type", "text/event-stream")
			for i := range 3 {
				fmt.Fprintf(w, "data: %d %s\n\n", i, b)
				w.(http.Flusher).Flush()
			}
			io.WriteString(w, "data: [DONE]\n\n")
		case "empty":
			w.WriteHeader(http.StatusNoContent)
		default:
			w.Write(b)
		}
	})
	tr := NewTransport()
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	for i, framing := range []string{"length", "chunked", "empty", "length", "chunked"} {
		body := fmt.Sprintf(`{"n":%d}`, i)
		resp := post(t, c, context.Background(), srv.URL+"/v1/chat?framing="+framing, body)
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatalf("%s: read: %v", framing, err)
		}
		wantHdr := fmt.Sprintf("POST /v1/chat?framing=%s HTTP/1.1 len=%d auth=Bearer sk-test", framing, len(body))
		if h := resp.Header.Get("X-Got"); h != wantHdr {
			t.Errorf("%s: upstream saw %q, want %q", framing, h, wantHdr)
		}
		want := body
		switch framing {
		case "chunked":
			want = fmt.Sprintf("data: 0 %s\n\ndata: 1 %s\n\ndata: 2 %s\n\ndata: [DONE]\n\n", body, body, body)
		case "empty":
			want = ""
		}
		if string(got) != want {
			t.Errorf("%s: body %q, want %q", framing, got, want)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections for 5 sequential requests, want 1", n)
	}
}

// A stream whose reader stops at [DONE] and closes, without waiting for
// the end of the chunked body, still leaves its connection reusable when
// the end was already received.
func TestLeanTransportKeepsConnectionAfterEarlyClose(t *testing.T) {
	srv, conns := connCounter(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "data: {}\n\n")
		w.(http.Flusher).Flush() // chunked from here on
		io.WriteString(w, "data: [DONE]\n\n")
	})
	tr := NewTransport()
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	for range 3 {
		resp := post(t, c, context.Background(), srv.URL, "{}")
		br := bufio.NewReader(resp.Body)
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatal(err)
			}
			if line == "data: [DONE]\n" {
				break
			}
		}
		time.Sleep(20 * time.Millisecond) // let the chunked end arrive
		resp.Body.Close()
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
}

// An upstream that closes idle connections (its keep-alive timeout) costs
// the client nothing: the request is sent again on a fresh connection.
func TestLeanTransportRetriesAConnectionClosedWhileIdle(t *testing.T) {
	var served atomic.Int64
	srv, conns := connCounter(t, func(w http.ResponseWriter, r *http.Request) {
		served.Add(1)
		io.WriteString(w, "ok")
	})
	srv.Config.SetKeepAlivesEnabled(true)
	tr := NewTransport()
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	for i := range 3 {
		resp := post(t, c, context.Background(), srv.URL, "{}")
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "ok" {
			t.Fatalf("request %d: %q", i, b)
		}
		srv.CloseClientConnections() // the server drops the idle connection
		time.Sleep(10 * time.Millisecond)
	}
	if n := served.Load(); n != 3 {
		t.Errorf("served %d, want 3 (no request lost or doubled)", n)
	}
	if n := conns.Load(); n != 3 {
		t.Errorf("%d connections, want 3", n)
	}
}

// Cancelling the context ends a request blocked on the answer's head or
// body at once, and the upstream sees the connection go.
func TestLeanTransportCancellation(t *testing.T) {
	for _, where := range []string{"head", "body"} {
		t.Run(where, func(t *testing.T) {
			gone := make(chan struct{})
			release := make(chan struct{})
			srv, _ := connCounter(t, func(w http.ResponseWriter, r *http.Request) {
				io.ReadAll(r.Body) // net/http watches for the client going only after the body
				if where == "body" {
					io.WriteString(w, "data: first\n\n")
					w.(http.Flusher).Flush()
				}
				select {
				case <-r.Context().Done():
					close(gone)
				case <-release:
				}
			})
			defer close(release)
			tr := NewTransport()
			defer tr.CloseIdleConnections()
			c := &http.Client{Transport: tr}
			ctx, cancel := context.WithCancel(context.Background())
			time.AfterFunc(50*time.Millisecond, cancel)
			start := time.Now()
			req, _ := http.NewRequestWithContext(ctx, http.MethodPost, srv.URL, strings.NewReader("{}"))
			resp, err := c.Do(req)
			if where == "head" {
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("err %v, want context.Canceled", err)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				_, err = io.ReadAll(resp.Body)
				resp.Body.Close()
				if err == nil {
					t.Fatal("body read ended cleanly after cancellation")
				}
			}
			if d := time.Since(start); d > 5*time.Second {
				t.Errorf("took %v", d)
			}
			select {
			case <-gone:
			case <-time.After(5 * time.Second):
				t.Fatal("upstream never saw the client go")
			}
		})
	}
}

// Closing a body while another goroutine is blocked reading it (a stalled
// stream given up) ends the read.
func TestLeanTransportCloseUnblocksRead(t *testing.T) {
	release := make(chan struct{})
	srv, _ := connCounter(t, func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "data: first\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	defer close(release)
	tr := NewTransport()
	defer tr.CloseIdleConnections()
	resp := post(t, &http.Client{Transport: tr}, context.Background(), srv.URL, "{}")
	buf := make([]byte, 64)
	if _, err := resp.Body.Read(buf); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := resp.Body.Read(buf)
		done <- err
	}()
	time.Sleep(30 * time.Millisecond)
	resp.Body.Close()
	select {
	case err := <-done:
		if err == nil {
			t.Error("read after close returned no error")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not end the blocked Read")
	}
}

// Header values that would split the request are refused, never sent.
func TestLeanTransportRefusesHeaderInjection(t *testing.T) {
	var served atomic.Int64
	srv, _ := connCounter(t, func(w http.ResponseWriter, r *http.Request) { served.Add(1) })
	tr := NewTransport()
	defer tr.CloseIdleConnections()
	for _, h := range [][2]string{{"X-Evil", "a\r\nX-Injected: 1"}, {"Bad Name", "x"}, {"X-Nul", "a\x00b"}} {
		req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader("{}"))
		req.Header[h[0]] = []string{h[1]}
		if resp, err := tr.RoundTrip(req); err == nil {
			resp.Body.Close()
			t.Errorf("header %q: %q was sent", h[0], h[1])
		}
	}
	if served.Load() != 0 {
		t.Errorf("upstream served %d requests", served.Load())
	}
}

// What cannot take the lean path goes to the standard transport.
func TestLeanTransportChoosesPath(t *testing.T) {
	tr := NewTransport()
	tr.std.Proxy = nil
	mk := func(method, url, body string, h ...string) *http.Request {
		var r io.Reader
		if body != "" {
			r = strings.NewReader(body)
		}
		req, err := http.NewRequest(method, url, r)
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i+1 < len(h); i += 2 {
			req.Header.Set(h[i], h[i+1])
		}
		return req
	}
	unknownLength := mk(http.MethodPost, "http://127.0.0.1:1/v1", "x")
	unknownLength.ContentLength = -1
	for _, c := range []struct {
		name string
		req  *http.Request
		lean bool
	}{
		{"plain POST", mk(http.MethodPost, "http://127.0.0.1:1/v1", "{}"), true},
		{"plain GET", mk(http.MethodGet, "http://127.0.0.1:1/v1/models", ""), true},
		{"https", mk(http.MethodPost, "https://api.openai.com/v1", "{}"), false},
		{"unknown length", unknownLength, false},
		{"expect continue", mk(http.MethodPost, "http://127.0.0.1:1/v1", "{}", "Expect", "100-continue"), false},
		{"upgrade", mk(http.MethodGet, "http://127.0.0.1:1/v1", "", "Connection", "Upgrade", "Upgrade", "websocket"), false},
	} {
		if got := tr.lean(c.req); got != c.lean {
			t.Errorf("%s: lean %v, want %v", c.name, got, c.lean)
		}
	}
}

// Many goroutines share the pool; every answer is its own.
func TestLeanTransportConcurrent(t *testing.T) {
	srv, conns := connCounter(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Write(b)
	})
	tr := NewTransport()
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 50 {
				body := fmt.Sprintf("g%d-i%d", g, i)
				req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(body))
				resp, err := c.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(b) != body {
					t.Errorf("got %q, want %q", b, body)
				}
			}
		}()
	}
	wg.Wait()
	if n := conns.Load(); n > 16 {
		t.Errorf("%d connections for 16 concurrent clients", n)
	}
}

// A large body (an inlined document) is streamed from the caller's reader
// rather than copied, arrives whole, and is sent again through GetBody when
// a stale connection forces a retry.
func TestLeanTransportLargeBody(t *testing.T) {
	srv, conns := connCounter(t, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%d %d", len(b), strings.Count(string(b), "x"))
	})
	tr := NewTransport()
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	big := strings.Repeat("x", 300<<10)
	for i := range 3 {
		resp := post(t, c, context.Background(), srv.URL, big)
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := fmt.Sprintf("%d %d", len(big), len(big)); string(b) != want {
			t.Fatalf("request %d: upstream got %q, want %q", i, b, want)
		}
		if i == 1 {
			srv.CloseClientConnections()
			time.Sleep(10 * time.Millisecond)
		}
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("%d connections, want 2", n)
	}
}

// HTTPS vendors go through the standard transport, over sockets with raw
// reads and writes: TLS and HTTP/2 run over them unchanged, streams
// included.
func TestStandardPathOverRawSockets(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "text/event-stream")
		for i := range 3 {
			fmt.Fprintf(w, "data: %d %s %s\n\n", i, r.Proto, b)
			w.(http.Flusher).Flush()
		}
	}))
	srv.EnableHTTP2 = true
	srv.StartTLS()
	defer srv.Close()
	tr := NewTransport()
	defer tr.CloseIdleConnections()
	tr.std.TLSClientConfig = srv.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	tr.std.Proxy = nil
	dial := tr.std.DialContext
	var raw atomic.Bool
	tr.std.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := dial(ctx, network, addr)
		_, ok := c.(*rawsock.Conn)
		raw.Store(ok)
		return c, err
	}
	c := &http.Client{Transport: tr}
	for i := range 3 {
		resp := post(t, c, context.Background(), srv.URL+"/v1/chat", fmt.Sprintf(`{"n":%d}`, i))
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		want := fmt.Sprintf("data: 0 HTTP/2.0 {\"n\":%d}\n\ndata: 1 HTTP/2.0 {\"n\":%[1]d}\n\ndata: 2 HTTP/2.0 {\"n\":%[1]d}\n\n", i)
		if resp.Proto != "HTTP/2.0" || string(got) != want {
			t.Fatalf("request %d: %s %q, want HTTP/2.0 %q", i, resp.Proto, got, want)
		}
	}
	if !raw.Load() && runtime.GOOS == "linux" {
		t.Error("the standard path did not dial a raw socket")
	}
}

// BenchmarkLeanRoundTrip is one small POST and its answer over a kept
// connection, against a server that answers from a fixed buffer (so the
// allocations counted are the client's).
func BenchmarkLeanRoundTrip(b *testing.B) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	answer := []byte("HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 2\r\n\r\n{}")
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		for {
			// The request: head, then its 2-byte body.
			for {
				line, err := br.ReadSlice('\n')
				if err != nil {
					return
				}
				if len(line) == 2 {
					break
				}
			}
			if _, err := br.Discard(2); err != nil {
				return
			}
			if _, err := c.Write(answer); err != nil {
				return
			}
		}
	}()
	tr := NewTransport()
	defer tr.CloseIdleConnections()
	url := "http://" + ln.Addr().String() + "/v1/chat/completions"
	b.ReportAllocs()
	for b.Loop() {
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader("{}"))
		req.Header["Content-Type"] = []string{"application/json"}
		resp, err := tr.RoundTrip(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
	}
}
