package vendors

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
)

// rawVendor is a plain-HTTP upstream on a raw socket: serve decides, per
// request, whether to answer it (true) or to hang up without a word.
func rawVendor(t *testing.T, serve func(conn, req int) bool) (url string, requests *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	requests = new(atomic.Int64)
	var wg sync.WaitGroup
	var conns sync.Map
	t.Cleanup(func() {
		ln.Close()
		conns.Range(func(k, _ any) bool { k.(net.Conn).Close(); return true })
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for n := 0; ; n++ {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Store(c, true)
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				br := bufio.NewReader(c)
				for i := 0; ; i++ {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					io.Copy(io.Discard, req.Body)
					requests.Add(1)
					if !serve(n, i) {
						return
					}
					io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				}
			}()
		}
	}()
	return "http://" + ln.Addr().String() + "/v1/chat/completions", requests
}

// A vendor that received a request on a kept connection and then closed
// it without answering (it crashed, or gave up on the request) may have
// acted on it: a POST is not sent again behind the caller's back (it would
// run twice upstream; the router decides about retries), as net/http's
// transport does not either.
func TestLeanTransportDoesNotResendAReceivedPost(t *testing.T) {
	url, requests := rawVendor(t, func(conn, req int) bool { return !(conn == 0 && req == 1) })
	tr := NewTransport()
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	resp := post(t, c, context.Background(), url, "{}") // leaves a kept connection
	io.ReadAll(resp.Body)
	resp.Body.Close()
	req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(`{"n":2}`))
	resp, err := c.Do(req)
	if err == nil {
		resp.Body.Close()
	}
	if n := requests.Load(); n != 2 {
		t.Fatalf("the vendor received %d requests, want 2: the POST it hung up on was sent again (err %v)", n, err)
	}
	if err == nil {
		t.Fatal("a POST the vendor hung up on succeeded")
	}
}

// The same hang-up on an idempotent request is retried once on a fresh
// connection, as net/http does.
func TestLeanTransportResendsAnIdempotentRequest(t *testing.T) {
	url, requests := rawVendor(t, func(conn, req int) bool { return !(conn == 0 && req == 1) })
	tr := NewTransport()
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	for i := range 2 {
		resp, err := c.Get(url)
		if err != nil {
			t.Fatalf("GET %d: %v", i, err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "ok" {
			t.Fatalf("GET %d: %q", i, b)
		}
	}
	if n := requests.Load(); n != 3 {
		t.Errorf("the vendor received %d requests, want 3", n)
	}
}
