package http1

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"
)

// readBufSize is the pooled read buffer: a request head that does not fit
// is handed to net/http. SDK heads are well under 1 KiB; every connection
// waiting to be answered holds one of these.
const readBufSize = 2 << 10

// bufSize is the pooled write buffer, and how much of a body is held back
// to be sent with a Content-Length.
const bufSize = 4 << 10

// maxDiscard is how much of a request body the handler left unread is
// drained to keep the connection; more closes it, as net/http does.
const maxDiscard = 256 << 10

// drainTimeout bounds reading off such a body.
const drainTimeout = 5 * time.Second

// conn is one client connection on the lean path.
type conn struct {
	srv    *Server
	rwc    net.Conn
	remote string
	br     *bufio.Reader // lent from readers while it may hold unread bytes
	state  atomic.Int32

	token  uint64                             // the hang-up watcher's name for this connection
	gone   atomic.Bool                        // the client hung up
	cancel atomic.Pointer[context.CancelFunc] // the running request's
}

// handedConn is a connection given to net/http, replaying what the lean
// path had read ahead.
type handedConn struct {
	net.Conn
	br   *bufio.Reader
	pool *sync.Pool
}

// CloseWrite lets net/http half-close a handed connection before it gives
// up on a body it will not read (its closeWriteAndWait), as it does on a
// connection of its own; the embedded net.Conn alone would hide the method.
func (h *handedConn) CloseWrite() error {
	if cw, ok := h.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func (h *handedConn) Read(p []byte) (int, error) {
	if h.br != nil {
		if h.br.Buffered() > 0 {
			return h.br.Read(p)
		}
		h.br.Reset(nil)
		h.pool.Put(h.br)
		h.br = nil
	}
	return h.Conn.Read(p)
}

func (c *conn) reader() *bufio.Reader {
	if c.br == nil {
		c.br = c.srv.readers.Get().(*bufio.Reader)
		c.br.Reset(c.rwc)
	}
	return c.br
}

// releaseReader returns the read buffer to the pool when it holds nothing,
// so a connection waiting on a long answer keeps no buffer.
func (c *conn) releaseReader() {
	if c.br != nil && c.br.Buffered() == 0 {
		c.putReader()
	}
}

// putReader returns the read buffer to the pool, whatever it holds.
func (c *conn) putReader() {
	if c.br != nil {
		c.br.Reset(nil)
		c.srv.readers.Put(c.br)
		c.br = nil
	}
}

func (c *conn) serve() {
	handed := false
	defer func() {
		if handed {
			return // already let go of below
		}
		c.srv.hangups.remove(c)
		c.srv.forget(c)
		c.state.Store(stateClosed)
		c.rwc.Close()
		c.putReader()
	}()
	for {
		head, err := c.readHead()
		if err != nil {
			return // closed, timed out or shut down: nothing to answer
		}
		req, ok := c.parse(head)
		if !ok {
			// Not ours to judge: net/http reads the same bytes and answers.
			c.state.Store(stateActive)
			handed = true
			c.rwc.SetReadDeadline(time.Time{})
			c.srv.hangups.remove(c)
			c.srv.forget(c)
			c.srv.handoff.give(&handedConn{Conn: c.rwc, br: c.br, pool: &c.srv.readers})
			c.br = nil
			return
		}
		c.br.Discard(len(head))
		if !c.serveOne(req) {
			return
		}
	}
}

var errShutdown = errors.New("http1: shutting down")

// readHead waits for a whole request head and returns it, still unread in
// the buffer, or nil when the connection is not the lean path's to serve.
func (c *conn) readHead() ([]byte, error) {
	br := c.reader()
	if br.Buffered() == 0 {
		if d := c.srv.IdleTimeout; d > 0 {
			c.rwc.SetReadDeadline(time.Now().Add(d))
		}
		if _, err := br.Peek(1); err != nil {
			return nil, err
		}
	}
	if !c.state.CompareAndSwap(stateIdle, stateActive) {
		return nil, errShutdown
	}
	deadline := false
	for {
		buf, _ := br.Peek(br.Buffered())
		if i := bytes.Index(buf, crlfcrlf); i >= 0 {
			if deadline || c.srv.IdleTimeout > 0 {
				c.rwc.SetReadDeadline(time.Time{})
			}
			return buf[:i+4], nil
		}
		if len(buf) == br.Size() || bytes.Contains(buf, lflf) || bytes.Contains(buf, lfcrlf) {
			// Too long for the lean path, or a blank line after a bare LF:
			// net/http sees the end of the head there, so it answers now.
			return nil, nil
		}
		if !deadline && c.srv.ReadHeaderTimeout > 0 {
			deadline = true
			c.rwc.SetReadDeadline(time.Now().Add(c.srv.ReadHeaderTimeout))
		}
		if _, err := br.Peek(len(buf) + 1); err != nil {
			if err != io.EOF {
				// Timed out (net/http too closes without an answer then; a
				// handover would give a slow client a second ReadHeaderTimeout),
				// or the connection broke.
				return nil, err
			}
			return nil, nil // let net/http answer a truncated head (400)
		}
	}
}

var (
	crlfcrlf = []byte("\r\n\r\n")
	lflf     = []byte("\n\n")
	lfcrlf   = []byte("\n\r\n") // with no CRLFCRLF before it, the LF is bare
)

// parse builds the request from its head, or reports false for anything
// the lean path leaves to net/http. One string holds the whole head; the
// method, target, header names and values are all slices of it.
func (c *conn) parse(head []byte) (*http.Request, bool) {
	if len(head) == 0 {
		return nil, false
	}
	s := string(head[:len(head)-4])
	line, rest, _ := strings.Cut(s, "\r\n")
	method, line, ok1 := strings.Cut(line, " ")
	target, proto, ok2 := strings.Cut(line, " ")
	if !ok1 || !ok2 || proto != "HTTP/1.1" || !validMethod(method) || method == http.MethodConnect ||
		len(target) == 0 || target[0] != '/' {
		return nil, false
	}
	u, err := url.ParseRequestURI(target)
	if err != nil {
		return nil, false
	}
	n := strings.Count(rest, "\r\n") + 1
	if rest == "" {
		n = 0
	}
	hdr := make(http.Header, n)
	vals := make([]string, n)
	var host string
	hostSeen, closeAfter := false, false
	length := int64(0)
	lengthSeen := false
	for rest != "" {
		var l string
		l, rest, _ = strings.Cut(rest, "\r\n")
		if l == "" || l[0] == ' ' || l[0] == '\t' {
			return nil, false // obsolete line folding
		}
		name, value, ok := strings.Cut(l, ":")
		if !ok || !httpguts.ValidHeaderFieldName(name) {
			return nil, false
		}
		value = strings.Trim(value, " \t")
		if !httpguts.ValidHeaderFieldValue(value) {
			return nil, false
		}
		key := textproto.CanonicalMIMEHeaderKey(name)
		switch key {
		case "Host":
			if hostSeen || !httpguts.ValidHostHeader(value) {
				return nil, false
			}
			host, hostSeen = value, true
			continue
		case "Content-Length":
			if lengthSeen {
				return nil, false
			}
			v, err := strconv.ParseUint(value, 10, 63)
			if err != nil || value[0] == '+' {
				return nil, false
			}
			length, lengthSeen = int64(v), true
		case "Transfer-Encoding", "Expect", "Upgrade", "Te":
			return nil, false
		case "Connection":
			// Tokens as net/http reads them (only spaces and tabs around
			// them), so both agree on whether the connection ends here.
			v := []string{value}
			if httpguts.HeaderValuesContainsToken(v, "upgrade") {
				return nil, false
			}
			if httpguts.HeaderValuesContainsToken(v, "close") {
				closeAfter = true
			}
		}
		vs := hdr[key]
		if vs == nil && len(vals) > 0 {
			vs, vals = vals[:1:1], vals[1:]
			vs[0] = value
		} else {
			vs = append(vs, value)
		}
		hdr[key] = vs
	}
	if !hostSeen {
		return nil, false
	}
	// As net/http: HTTP/1.0's "Pragma: no-cache" implies Cache-Control.
	if p := hdr["Pragma"]; len(p) > 0 && p[0] == "no-cache" {
		if _, ok := hdr["Cache-Control"]; !ok {
			hdr["Cache-Control"] = []string{"no-cache"}
		}
	}
	req := &http.Request{
		Method:        method,
		URL:           u,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        hdr,
		ContentLength: length,
		Host:          host,
		RemoteAddr:    c.remote,
		RequestURI:    target,
		Close:         closeAfter,
	}
	if length == 0 {
		req.Body = http.NoBody
	} else {
		b := &body{c: c, left: length}
		b.onWire.Store(length)
		req.Body = b
	}
	return req, true
}

// validMethod: a method is an HTTP token.
func validMethod(m string) bool {
	if m == "" {
		return false
	}
	for i := 0; i < len(m); i++ {
		if !httpguts.IsTokenRune(rune(m[i])) {
			return false
		}
	}
	return true
}

// serveOne runs the handler for one parsed request and reports whether the
// connection can carry another.
func (c *conn) serveOne(req *http.Request) (keep bool) {
	// Each request's context stands alone (no shared parent whose child
	// registry every request would lock): hang-ups and Close end it.
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel.Store(&cancel)
	if c.gone.Load() {
		cancel()
	}
	req = req.WithContext(ctx)
	b, _ := req.Body.(*body)
	if b == nil {
		c.releaseReader()
	}
	w := &response{c: c, req: req, body: b, header: make(http.Header, 8), cl: -1, head: req.Method == http.MethodHead}
	defer func() {
		c.cancel.Store(nil)
		cancel()
		if p := recover(); p != nil {
			keep = false
			// As net/http: log, and close the connection mid-answer.
			if p != http.ErrAbortHandler {
				buf := make([]byte, 64<<10)
				buf = buf[:runtime.Stack(buf, false)]
				c.srv.logf("http1: panic serving %s: %v\n%s", c.remote, p, buf)
			}
			w.release()
			if b != nil {
				// A goroutine the handler started may be reading the body:
				// closing wakes it, stop waits for it to let go of the buffer
				// serve is about to return to the pool.
				c.rwc.Close()
				b.stop()
			}
		}
	}()
	c.srv.Handler.ServeHTTP(w, req)
	keep = w.finish() && !req.Close && !c.srv.closing.Load() && !c.gone.Load()
	if w.deadlines {
		// As net/http: a deadline the handler set ends with its request.
		c.rwc.SetReadDeadline(time.Time{})
		c.rwc.SetWriteDeadline(time.Time{})
	}
	if b != nil {
		// Either way the body is done with: a Read from a goroutine the
		// handler left behind fails, and can no longer reach the buffer
		// (holding the next request, or back in the pool).
		switch {
		case keep:
			keep = b.drain()
		case !c.gone.Load() && b.unread() <= maxDiscard && b.drain():
			// A short body left unread (an answer that refused it): read
			// off, so closing resets nothing and needs no wait.
		default:
			if b.stop() > 0 {
				c.closeWriteAndWait()
			}
		}
	}
	if keep {
		keep = c.state.CompareAndSwap(stateActive, stateIdle)
	}
	return keep
}

// closeWriteAndWait ends a connection whose client is still sending a
// body nobody will read. Closing at once would answer the client's next
// segment with a reset that can destroy the response before it is read;
// like net/http, send FIN, give the client a moment, then close.
func (c *conn) closeWriteAndWait() {
	if cw, ok := c.rwc.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
		time.Sleep(rstAvoidanceDelay)
	}
}

// rstAvoidanceDelay is net/http's.
const rstAvoidanceDelay = 500 * time.Millisecond

// hangup is called by the watcher when the client closed or reset the
// connection: the running request's context ends, as with net/http.
func (c *conn) hangup() {
	c.gone.Store(true)
	if f := c.cancel.Load(); f != nil {
		(*f)()
	}
}

// body is a request body of known length, read from the connection buffer.
type body struct {
	mu     sync.Mutex
	c      *conn
	left   int64
	closed bool
	done   bool // the handler returned: the connection reads on

	// onWire is left, for unread: a Read waiting for the client holds mu,
	// and the answer (full duplex) must not wait for it.
	onWire atomic.Int64
}

var errBodyDone = errors.New("http: invalid Read on closed Body")

func (b *body) Read(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || b.done {
		return 0, errBodyDone
	}
	if b.left == 0 {
		return 0, io.EOF
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.c.reader().Read(p)
	b.left -= int64(n)
	b.onWire.Store(b.left)
	if b.left == 0 {
		b.c.releaseReader()
		if err == nil {
			err = io.EOF
		}
	} else if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return n, err
}

// Ready reports whether the rest of the body is already in memory, so
// that reading it cannot wait on the client (a handler can then skip
// arming a read deadline for it).
func (b *body) Ready() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || b.done || b.left == 0 {
		return true
	}
	return b.c.br != nil && int64(b.c.br.Buffered()) >= b.left
}

// stop ends the body with its handler (when the connection will not carry
// another request) and reports how much of it is still on the wire.
func (b *body) stop() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done = true
	return b.left
}

// unread is how much of the body is still on the wire, without waiting
// for a Read under way.
func (b *body) unread() int64 { return b.onWire.Load() }

func (b *body) Close() error {
	b.mu.Lock()
	b.closed = true
	b.mu.Unlock()
	return nil
}

// drain reads what the handler left of the body, up to maxDiscard, and
// reports whether the connection can carry another request.
func (b *body) drain() bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.done = true
	if b.left == 0 {
		return true
	}
	if b.left > maxDiscard {
		return false
	}
	// What is left must already be on its way: a client that stops
	// sending does not hold the connection for long.
	b.c.rwc.SetReadDeadline(time.Now().Add(drainTimeout))
	defer b.c.rwc.SetReadDeadline(time.Time{})
	n, err := io.CopyN(io.Discard, b.c.reader(), b.left)
	b.left -= n
	b.onWire.Store(b.left)
	return err == nil
}
