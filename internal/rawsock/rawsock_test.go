//go:build linux

package rawsock

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// pair returns a wrapped client connection and the server's plain end of
// the same loopback TCP connection.
func pair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			accepted <- nil
			return
		}
		accepted <- c
	}()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := <-accepted
	if s == nil {
		t.Fatal("accept failed")
	}
	w := Wrap(c)
	t.Cleanup(func() { w.Close(); s.Close() })
	return w, s
}

func TestWrapOnlyTakesTCP(t *testing.T) {
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if Wrap(a) != a {
		t.Fatal("a net.Pipe end was wrapped")
	}
	c, _ := pair(t)
	if _, ok := c.(*Conn); !ok {
		t.Fatalf("a TCP connection was not wrapped on linux: %T", c)
	}
}

// A write larger than the socket buffers must block on the poller (not
// spin, not return short) until a slow reader has taken everything, and
// arrive intact and in order.
func TestLargeWriteToASlowReader(t *testing.T) {
	c, s := pair(t)
	want := make([]byte, 8<<20)
	for i := range want {
		want[i] = byte(i * 7)
	}
	got := make(chan []byte, 1)
	go func() {
		var buf bytes.Buffer
		chunk := make([]byte, 64<<10)
		for {
			time.Sleep(100 * time.Microsecond)
			n, err := s.Read(chunk)
			buf.Write(chunk[:n])
			if err != nil {
				got <- buf.Bytes()
				return
			}
		}
	}()
	n, err := c.Write(want)
	if err != nil || n != len(want) {
		t.Fatalf("Write = %d, %v; want %d, nil", n, err, len(want))
	}
	c.(interface{ CloseWrite() error }).CloseWrite()
	if b := <-got; !bytes.Equal(b, want) {
		t.Fatalf("reader got %d bytes, not the %d written (or not in order)", len(b), len(want))
	}
}

func TestReadWaitsThenSeesEOF(t *testing.T) {
	c, s := pair(t)
	go func() {
		time.Sleep(20 * time.Millisecond) // the read must park, not fail with EAGAIN
		s.Write([]byte("hello"))
		s.Close()
	}()
	b, err := io.ReadAll(c)
	if err != nil || string(b) != "hello" {
		t.Fatalf("ReadAll = %q, %v; want \"hello\", nil", b, err)
	}
	if n, err := c.Read(make([]byte, 1)); n != 0 || err != io.EOF {
		t.Fatalf("Read after EOF = %d, %v", n, err)
	}
	if n, err := c.Read(nil); n != 0 || err != nil {
		t.Fatalf("empty Read = %d, %v; want 0, nil", n, err)
	}
	if n, err := c.Write(nil); n != 0 || err != nil {
		t.Fatalf("empty Write = %d, %v; want 0, nil", n, err)
	}
}

// Deadlines, closing and a reset peer give the errors net.Conn gives, so
// the servers' and transports' checks (Timeout, net.ErrClosed) still work.
func TestErrorsAreNetConnErrors(t *testing.T) {
	c, s := pair(t)
	c.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
	_, err := c.Read(make([]byte, 1))
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read past the deadline: %v; want a timeout", err)
	}
	var oe *net.OpError
	if !errors.As(err, &oe) || oe.Op != "read" {
		t.Fatalf("read error %#v; want a *net.OpError with Op read", err)
	}

	// The peer resets: writes fail (at once or on the next write).
	s.(*net.TCPConn).SetLinger(0)
	s.Close()
	time.Sleep(20 * time.Millisecond)
	var werr error
	for range 10 {
		if _, werr = c.Write([]byte("x")); werr != nil {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	if werr == nil || !errors.As(werr, &oe) || oe.Op != "write" {
		t.Fatalf("write to a reset peer: %v; want a *net.OpError with Op write", werr)
	}

	c.Close()
	for _, p := range [][]byte{nil, make([]byte, 1)} {
		if _, err := c.Read(p); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("read of %d bytes after Close: %v; want net.ErrClosed", len(p), err)
		}
		if _, err := c.Write(p); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("write of %d bytes after Close: %v; want net.ErrClosed", len(p), err)
		}
	}
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("read after Close: %v; want net.ErrClosed", err)
	}
	if _, err := c.Write([]byte("x")); !errors.Is(err, net.ErrClosed) {
		t.Fatalf("write after Close: %v; want net.ErrClosed", err)
	}
}

// Close from another goroutine unblocks a parked Read, as net.Conn does.
func TestCloseUnblocksRead(t *testing.T) {
	c, _ := pair(t)
	done := make(chan error, 1)
	go func() {
		_, err := c.Read(make([]byte, 1))
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	c.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("parked read ended with %v; want net.ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not unblock a parked Read")
	}
}

// Reads and writes cost no allocation: they run twice per proxied
// request on each side.
func TestNoAllocationPerCall(t *testing.T) {
	c, s := pair(t)
	msg, buf := []byte("ping"), make([]byte, 16)
	allocs := testing.AllocsPerRun(200, func() {
		if _, err := c.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(s, buf[:len(msg)]); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Write(msg); err != nil {
			t.Fatal(err)
		}
		if _, err := io.ReadFull(c, buf[:len(msg)]); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per write+read round; want 0", allocs)
	}
}

// Ordering goroutines through a socket is ordering to the race detector
// too, as it is with a plain net.Conn: no false race reports in -race
// builds of programs that use wrapped connections.
func TestSocketOrdersGoroutines(t *testing.T) {
	c, s := pair(t)
	var shared int
	go func() {
		shared = 42
		s.Write([]byte("x"))
	}()
	if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	if shared != 42 {
		t.Fatal("the write before the socket write is not seen after the read")
	}
	done := make(chan struct{})
	go func() {
		io.ReadFull(s, make([]byte, 1))
		shared = 43
		close(done)
	}()
	shared = 44 // before the write that releases the reader
	c.Write([]byte("y"))
	<-done
}

// Quiet tells an idle connection that is still open from one the peer
// closed, reset or wrote to, without waiting.
func TestQuiet(t *testing.T) {
	c, s := pair(t)
	if !Quiet(c) {
		t.Fatal("an open idle connection is not quiet")
	}
	if n := testing.AllocsPerRun(50, func() { Quiet(c) }); n != 0 {
		t.Errorf("%v allocations per probe; want 0", n)
	}
	s.Write([]byte("x"))
	if !eventually(func() bool { return !Quiet(c) }) {
		t.Error("a connection with a stray byte waiting is quiet")
	}
	c, s = pair(t)
	s.Close()
	if !eventually(func() bool { return !Quiet(c) }) {
		t.Error("a connection the peer closed is quiet")
	}
	c.Close()
	if Quiet(c) {
		t.Error("a closed connection is quiet")
	}
}

// eventually polls f for a while (a segment crosses loopback at once, but
// not synchronously).
func eventually(f func() bool) bool {
	for range 500 {
		if f() {
			return true
		}
		time.Sleep(2 * time.Millisecond)
	}
	return false
}
