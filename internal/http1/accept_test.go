package http1

import (
	"errors"
	"net"
	"net/http"
	"os"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// failingListener fails its first Accepts with err, then accepts for real.
type failingListener struct {
	net.Listener
	err   error
	fails atomic.Int32
}

func (l *failingListener) Accept() (net.Conn, error) {
	if l.fails.Add(-1) >= 0 {
		return nil, l.err
	}
	return l.Listener.Accept()
}

// An accept error that net/http's server waits out (out of descriptors in
// the process, or in the whole system) does not stop the lean server
// either: the gateway exits when Serve returns.
func TestServeOutlivesTemporaryAcceptErrors(t *testing.T) {
	for _, errno := range []syscall.Errno{syscall.ENFILE, syscall.EMFILE} {
		t.Run(errno.Error(), func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close() // Serve, once it has returned, no longer closes it
			fl := &failingListener{Listener: ln,
				err: &net.OpError{Op: "accept", Net: "tcp", Addr: ln.Addr(), Err: os.NewSyscallError("accept4", errno)}}
			fl.fails.Store(1)
			s := &Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Write([]byte("fine"))
			})}
			served := make(chan error, 1)
			go func() { served <- s.Serve(fl) }()
			defer func() {
				s.Close()
				if err := <-served; !errors.Is(err, http.ErrServerClosed) {
					t.Errorf("Serve returned %v, want ErrServerClosed", err)
				}
			}()
			c := dial(t, ln.Addr().String())
			c.send("GET / HTTP/1.1\r\nHost: x\r\n\r\n")
			c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
			select {
			case err := <-served:
				served <- err // for the deferred check
				t.Fatalf("Serve stopped on %v", err)
			default:
			}
			if _, body := c.read("GET"); body != "fine" {
				t.Fatalf("got %q", body)
			}
		})
	}
}
