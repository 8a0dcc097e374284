// Package http1 serves plain-TCP HTTP/1.1 with less work per request than
// net/http: one goroutine per connection and no background reader, buffers
// lent from pools only while they hold data, client hang-ups seen through
// one epoll set for the whole server, no per-request header clone or sort.
//
// It is deliberately narrow. A request it does not fully understand — any
// other protocol version, chunked or Expect bodies, upgrades, obsolete line
// folding, a head over 2 KiB, anything malformed — is not refused but handed,
// with the bytes already read, to a net/http.Server that owns the connection
// from then on. So every rarity, and every error answer to a broken request,
// is net/http's; the lean path only ever serves requests it parsed cleanly.
package http1

import (
	"bufio"
	"context"
	"errors"
	"log"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/genrouter/genrouter/internal/rawsock"
)

// Server is the lean HTTP/1.1 server. Set the fields before Serve.
type Server struct {
	Handler           http.Handler
	ReadHeaderTimeout time.Duration // from the first byte of a request to its blank line
	IdleTimeout       time.Duration // between requests on a kept-alive connection
	MaxHeaderBytes    int           // for the connections handed to net/http
	ErrorLog          *log.Logger   // panics and accept errors; nil logs nothing

	once    sync.Once
	std     *http.Server   // serves handed-over connections
	handoff *chanListener  // feeds std
	hangups *hangupWatcher // nil where the platform has none: then every connection goes to std

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	closing   atomic.Bool
	wg        sync.WaitGroup // connection goroutines and the std server

	readers, writers sync.Pool // *bufio.Reader of readBufSize, *bufio.Writer of bufSize
	held             sync.Pool // *[]byte of bufSize: bodies held back before their head
	date             atomic.Pointer[dateStamp]
}

// Connection states, for Shutdown: only an idle connection may be closed
// under a client's feet.
const (
	stateIdle int32 = iota
	stateActive
	stateClosed
)

func (s *Server) init() {
	s.once.Do(func() {
		s.readers.New = func() any { return bufio.NewReaderSize(nil, readBufSize) }
		s.writers.New = func() any { return bufio.NewWriterSize(nil, bufSize) }
		s.held.New = func() any { b := make([]byte, 0, bufSize); return &b }
		s.listeners = map[net.Listener]struct{}{}
		s.conns = map[*conn]struct{}{}
		s.handoff = newChanListener()
		s.std = &http.Server{
			Handler:           s.Handler,
			ReadHeaderTimeout: s.ReadHeaderTimeout,
			IdleTimeout:       s.IdleTimeout,
			MaxHeaderBytes:    s.MaxHeaderBytes,
			ErrorLog:          s.ErrorLog,
		}
		s.hangups, _ = newHangupWatcher() // no watcher: every connection is handed over
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.std.Serve(s.handoff)
		}()
	})
}

// Serve accepts connections on ln until Shutdown or Close, and returns
// http.ErrServerClosed then.
func (s *Server) Serve(ln net.Listener) error {
	s.init()
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		return http.ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
	}()
	var backoff time.Duration
	for {
		rw, err := ln.Accept()
		if err != nil {
			if s.closing.Load() {
				return http.ErrServerClosed
			}
			if temporary(err) {
				// Out of descriptors or similar: wait and retry, as net/http does.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.logf("http1: accept error: %v; retrying in %v", err, backoff)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		c := s.newConn(rw)
		if c == nil {
			continue
		}
		go func() { // counted in wg by newConn
			defer s.wg.Done()
			c.serve()
		}()
	}
}

// temporary reports whether an accept error is one net/http's server waits
// out rather than returning (then the gateway would exit): out of
// descriptors, in the process (EMFILE) or in the whole system (ENFILE), an
// interrupted call, a timeout.
func temporary(err error) bool {
	var te interface{ Temporary() bool }
	return errors.As(err, &te) && te.Temporary() || errors.Is(err, errTooManyFiles)
}

// newConn registers a connection and counts it in wg, or hands it over at
// once when the lean path cannot watch it for hang-ups (nil is returned
// then). The count is taken under mu with the closing check, so that
// Close and Shutdown, which set closing before they take mu, either see
// the connection or wait for it.
func (s *Server) newConn(rw net.Conn) *conn {
	c := &conn{srv: s, rwc: rawsock.Wrap(rw), remote: rw.RemoteAddr().String()}
	if s.hangups == nil || !s.hangups.add(c) {
		s.handoff.give(rw)
		return nil
	}
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		s.hangups.remove(c)
		rw.Close()
		return nil
	}
	s.conns[c] = struct{}{}
	s.wg.Add(1)
	s.mu.Unlock()
	return c
}

func (s *Server) forget(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// Shutdown stops accepting, closes idle connections, and waits for the
// active ones (and net/http's) to finish their requests or for ctx to end.
func (s *Server) Shutdown(ctx context.Context) error {
	s.init()
	s.closing.Store(true)
	s.closeListeners()
	stdDone := make(chan error, 1)
	go func() { stdDone <- s.std.Shutdown(ctx) }()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		if s.closeIdle() == 0 {
			break
		}
		select {
		case <-ctx.Done():
			<-stdDone
			return ctx.Err()
		case <-tick.C:
		}
	}
	if err := <-stdDone; err != nil {
		return err
	}
	s.finish()
	return nil
}

// Close closes every listener and connection at once, and ends the running
// requests' contexts (as net/http's Close does, through the connections'
// failing reads), so that the wait for their handlers is short.
func (s *Server) Close() error {
	s.init()
	s.closing.Store(true)
	s.closeListeners()
	s.mu.Lock()
	for c := range s.conns {
		c.state.Store(stateClosed)
		c.rwc.Close()
		c.hangup() // a request about to start sees it too
	}
	s.mu.Unlock()
	err := s.std.Close()
	s.finish()
	return err
}

// finish waits for the connection goroutines and releases the watcher.
func (s *Server) finish() {
	s.handoff.Close()
	s.wg.Wait()
	if s.hangups != nil {
		s.hangups.close()
	}
}

func (s *Server) closeListeners() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for ln := range s.listeners {
		ln.Close()
	}
}

// closeIdle closes the idle connections and reports how many are left.
func (s *Server) closeIdle() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		if c.state.CompareAndSwap(stateIdle, stateClosed) {
			c.rwc.Close()
		}
	}
	return len(s.conns)
}

func (s *Server) logf(format string, args ...any) {
	if s.ErrorLog != nil {
		s.ErrorLog.Printf(format, args...)
	}
}

// chanListener is the net.Listener net/http serves handed-over connections
// from.
type chanListener struct {
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

func newChanListener() *chanListener {
	return &chanListener{ch: make(chan net.Conn), done: make(chan struct{})}
}

func (l *chanListener) give(c net.Conn) {
	select {
	case l.ch <- c:
	case <-l.done:
		c.Close()
	}
}

func (l *chanListener) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *chanListener) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *chanListener) Addr() net.Addr { return handoffAddr{} }

type handoffAddr struct{}

func (handoffAddr) Network() string { return "handoff" }
func (handoffAddr) String() string  { return "handoff" }
