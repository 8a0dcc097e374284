package vendors

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/genrouter/genrouter/internal/rawsock"

	"golang.org/x/net/http/httpguts"
)

// Transport is the upstream round tripper. Plain-HTTP requests (local model
// servers, sidecars, the benchmark's upstream) go over a lean HTTP/1.1
// connection pool that runs in the caller's goroutine: the request is
// written with one syscall and the answer read straight from the socket,
// with no per-connection goroutines and no hand-offs between them. That is
// most of what http.Transport costs per request on a fast upstream, and two
// goroutine stacks per open stream. Everything else (HTTPS and HTTP/2,
// proxies, Expect: 100-continue, bodies of unknown length) goes to the
// standard transport.
type Transport struct {
	std         *http.Transport
	dialConn    func(ctx context.Context, network, addr string) (net.Conn, error) // raw sockets (rawDialer)
	maxIdle     int                                                               // idle connections kept per host
	idleTimeout time.Duration                                                     // an idle connection older than this is closed, not reused

	mu    sync.Mutex
	hosts map[string]*hostPool
	// closeIdle is set by CloseIdleConnections and cleared by the next
	// request: until then a connection that comes back (a request that was
	// in flight) is closed instead of kept, as net/http's transport does.
	// A reload retires an adapter that way: its streams still running must
	// not park their connections in a pool nothing will use again.
	closeIdle bool

	// wires holds request buffers (head and inline body, *[]byte) between
	// requests: written in one call and not kept, they were the largest
	// allocation per proxied request.
	wires sync.Pool
}

// maxPooledWire bounds the buffers kept in wires: a rare large inline
// body (up to inlineBody) is not worth holding on to.
const maxPooledWire = 16 << 10

// hostPool holds one host's idle connections, most recently used last.
type hostPool struct {
	idle    []*leanConn
	janitor *time.Timer // prunes stale idle connections while there are any
}

// leanConn is one HTTP/1.1 connection and its read buffer.
type leanConn struct {
	t    *Transport
	key  string
	conn net.Conn
	br   *bufio.Reader
	used time.Time // when it went idle
}

// NewTransport is a Transport sized for a gateway: many concurrent
// long-lived requests to few hosts.
func NewTransport() *Transport { return NewTransportWith(10 * time.Second) }

// NewTransportWith is NewTransport with a given connect (and TLS handshake)
// timeout.
func NewTransportWith(connect time.Duration) *Transport {
	dial := rawDialer(&net.Dialer{Timeout: connect, KeepAlive: 30 * time.Second})
	return &Transport{
		std: &http.Transport{
			Proxy:                 http.ProxyFromEnvironment,
			DialContext:           dial,
			ForceAttemptHTTP2:     true,
			MaxIdleConns:          1024,
			MaxIdleConnsPerHost:   512,
			IdleConnTimeout:       90 * time.Second,
			TLSHandshakeTimeout:   connect,
			ExpectContinueTimeout: time.Second,
		},
		dialConn:    dial,
		maxIdle:     512,
		idleTimeout: 90 * time.Second,
		hosts:       map[string]*hostPool{},
	}
}

// CloseIdleConnections closes every idle connection, lean and standard,
// and those that become idle before the next request.
func (t *Transport) CloseIdleConnections() {
	t.mu.Lock()
	t.closeIdle = true
	var idle []*leanConn
	for k, p := range t.hosts {
		idle = append(idle, p.idle...)
		if p.janitor != nil {
			p.janitor.Stop()
		}
		delete(t.hosts, k)
	}
	t.mu.Unlock()
	for _, c := range idle {
		c.conn.Close()
	}
	t.std.CloseIdleConnections()
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !t.lean(req) {
		return t.std.RoundTrip(req)
	}
	wp, _ := t.wires.Get().(*[]byte)
	if wp == nil {
		wp = new([]byte)
	}
	head, err := writeHead(*wp, req)
	defer func() { // head may have grown into a new array below
		if cap(head) <= maxPooledWire {
			*wp = head[:0]
		}
		t.wires.Put(wp)
	}()
	if err != nil {
		closeBody(req)
		return nil, err
	}
	// A small body goes out with the head in one write. A large one (an
	// inlined image or document) is written from the request's own reader,
	// not copied: on a retry it is fetched again through GetBody.
	large := req.ContentLength > inlineBody
	if req.Body != nil && req.ContentLength > 0 && !large {
		n := len(head)
		head = slices.Grow(head, int(req.ContentLength))[:n+int(req.ContentLength)]
		_, err := io.ReadFull(req.Body, head[n:])
		closeBody(req)
		if err != nil {
			return nil, fmt.Errorf("read request body: %w", err)
		}
	} else if !large {
		closeBody(req)
	}
	ctx := req.Context()
	key := hostPort(req)
	// A reused connection may have been closed by the server while idle
	// (get skips those it can tell) or just as the request went out. A
	// request that could not be sent whole on one is retried once on a
	// fresh connection: the server cannot have acted on it. One sent whole
	// whose answer never came is retried only when it is idempotent (as
	// net/http does): the server may have run it before hanging up.
	var body io.ReadCloser
	if large {
		body = req.Body
	}
	for attempt := 0; ; attempt++ {
		c, reused, err := t.get(ctx, key)
		if err != nil {
			if body != nil {
				body.Close()
			}
			return nil, err
		}
		resp, err := c.roundTrip(ctx, req, head, body, req.ContentLength)
		if err == nil {
			return resp, nil
		}
		if !reused || attempt > 0 || ctx.Err() != nil || !errors.Is(err, errStale) {
			return nil, err
		}
		if large { // the first try consumed the body
			if req.GetBody == nil {
				return nil, err
			}
			if body, err = req.GetBody(); err != nil {
				return nil, err
			}
		}
	}
}

// inlineBody is the largest request body sent in the same write as the
// head (a copy); larger ones are streamed from the caller's reader.
const inlineBody = 64 << 10

// lean reports whether req can take the lean path.
func (t *Transport) lean(req *http.Request) bool {
	if req.URL.Scheme != "http" || req.Close || req.ContentLength < 0 ||
		(req.Body != nil && req.Body != http.NoBody && req.ContentLength == 0) {
		return false
	}
	if req.Header.Get("Expect") != "" || req.Header.Get("Connection") != "" || req.Header.Get("Upgrade") != "" ||
		req.Header.Get("Transfer-Encoding") != "" {
		return false
	}
	if t.std.Proxy != nil {
		if u, err := t.std.Proxy(req); err != nil || u != nil {
			return false
		}
	}
	return true
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

func hostPort(req *http.Request) string {
	h := req.URL.Host
	if req.URL.Port() == "" {
		h = net.JoinHostPort(req.URL.Hostname(), "80")
	}
	return h
}

// writeHead renders the request line and headers into dst, refusing any
// header that could split the request.
func writeHead(dst []byte, req *http.Request) ([]byte, error) {
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	if !httpguts.ValidHostHeader(host) {
		return nil, fmt.Errorf("invalid Host %q", host)
	}
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	b := slices.Grow(dst[:0], 512+int(min(max(req.ContentLength, 0), inlineBody)))
	b = append(b, method...)
	b = append(b, ' ')
	b = append(b, req.URL.RequestURI()...)
	b = append(b, " HTTP/1.1\r\nHost: "...)
	b = append(b, host...)
	b = append(b, "\r\n"...)
	ua := false
	for k, vs := range req.Header {
		if !httpguts.ValidHeaderFieldName(k) {
			return nil, fmt.Errorf("invalid header name %q", k)
		}
		switch k {
		case "Host", "Content-Length":
			continue
		case "User-Agent":
			ua = true
		}
		for _, v := range vs {
			if !httpguts.ValidHeaderFieldValue(v) {
				return nil, fmt.Errorf("invalid value for header %q", k)
			}
			b = append(b, k...)
			b = append(b, ": "...)
			b = append(b, v...)
			b = append(b, "\r\n"...)
		}
	}
	if !ua {
		b = append(b, "User-Agent: Go-http-client/1.1\r\n"...)
	}
	if req.ContentLength > 0 || (req.Method != http.MethodGet && req.Method != http.MethodHead && req.Method != "") {
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, req.ContentLength, 10)
		b = append(b, "\r\n"...)
	}
	return append(b, "\r\n"...), nil
}

// get returns an idle connection to key, or dials one.
func (t *Transport) get(ctx context.Context, key string) (*leanConn, bool, error) {
	now := time.Now()
	for {
		var c *leanConn
		t.mu.Lock()
		t.closeIdle = false // a connection is wanted again
		if p := t.hosts[key]; p != nil && len(p.idle) > 0 {
			n := len(p.idle)
			c = p.idle[n-1]
			p.idle[n-1] = nil
			p.idle = p.idle[:n-1]
		}
		t.mu.Unlock()
		if c == nil {
			break
		}
		// One the vendor closed (or wrote to) while it sat idle is never
		// sent a request: once a request is out, a hang-up can no longer
		// be told from one after the vendor acted on it.
		if now.Sub(c.used) < t.idleTimeout && rawsock.Quiet(c.conn) {
			return c, true, nil
		}
		c.conn.Close()
	}
	conn, err := t.dial(ctx, key)
	if err != nil {
		return nil, false, err
	}
	return &leanConn{t: t, key: key, conn: conn, br: bufio.NewReaderSize(conn, readBufSize)}, false, nil
}

// readBufSize is a connection's read buffer. Answers from plain-HTTP
// vendors have short heads; longer bodies are read past the buffer, and an
// open stream holds this buffer for as long as it runs.
const readBufSize = 2 << 10

// dial connects in a goroutine of its own: dialing runs deep, and done on
// the request's goroutine it would grow that stack for good, and a stream
// keeps its goroutine (and stack) for as long as it lasts.
func (t *Transport) dial(ctx context.Context, key string) (net.Conn, error) {
	type result struct {
		conn net.Conn
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		c, err := t.dialConn(ctx, "tcp", key)
		ch <- result{c, err}
	}()
	r := <-ch
	return r.conn, r.err
}

// rawDialer dials as d does and gives the connection raw reads and writes;
// both the lean pool and the standard transport (TLS runs over them
// unchanged) dial through it.
func rawDialer(d *net.Dialer) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := d.DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return rawsock.Wrap(c), nil
	}
}

// put returns an idle connection to its pool, or closes it when the pool
// is full or CloseIdleConnections asked for that.
func (t *Transport) put(c *leanConn) {
	c.used = time.Now()
	t.mu.Lock()
	p := t.hosts[c.key]
	if t.closeIdle || p != nil && len(p.idle) >= t.maxIdle {
		t.mu.Unlock()
		c.conn.Close()
		return
	}
	if p == nil {
		p = &hostPool{}
		t.hosts[c.key] = p
	}
	p.idle = append(p.idle, c)
	if p.janitor == nil {
		key := c.key
		p.janitor = time.AfterFunc(t.idleTimeout, func() { t.prune(key) })
	}
	t.mu.Unlock()
}

// prune closes a host's stale idle connections, and runs again while any
// are left.
func (t *Transport) prune(key string) {
	now := time.Now()
	var stale []*leanConn
	t.mu.Lock()
	p := t.hosts[key]
	if p == nil {
		t.mu.Unlock()
		return
	}
	keep := p.idle[:0]
	for _, c := range p.idle {
		if now.Sub(c.used) >= t.idleTimeout {
			stale = append(stale, c)
		} else {
			keep = append(keep, c)
		}
	}
	clear(p.idle[len(keep):])
	p.idle = keep
	if len(p.idle) == 0 {
		delete(t.hosts, key)
	} else {
		p.janitor.Reset(t.idleTimeout)
	}
	t.mu.Unlock()
	for _, c := range stale {
		c.conn.Close()
	}
}

// errStale marks a failure on a reused connection before any byte of the
// answer arrived, when sending the request again is safe.
var errStale = errors.New("connection closed before the answer")

// aLongTimeAgo is a deadline in the past: it unblocks reads and writes.
var aLongTimeAgo = time.Unix(1, 0)

// roundTrip writes the request and reads the answer's head. The body is
// read by the caller from the returned response; the connection goes back
// to the pool when the body has been read to its end.
func (c *leanConn) roundTrip(ctx context.Context, req *http.Request, wire []byte, body io.ReadCloser, n int64) (*http.Response, error) {
	// Cancellation sets a past deadline, which ends any read or write in
	// progress; no goroutine waits on ctx.
	stop := context.AfterFunc(ctx, func() { c.conn.SetDeadline(aLongTimeAgo) })
	fail := func(err error, stale bool) (*http.Response, error) {
		stop()
		c.conn.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if stale {
			return nil, fmt.Errorf("%w: %w", errStale, err)
		}
		return nil, err
	}
	if _, err := c.conn.Write(wire); err != nil {
		if body != nil {
			body.Close()
		}
		return fail(err, true)
	}
	if body != nil {
		_, err := io.CopyN(c.conn, body, n)
		body.Close()
		if err != nil {
			return fail(fmt.Errorf("send request body: %w", err), true)
		}
	}
	if _, err := c.br.Peek(1); err != nil {
		return fail(err, replayable(req))
	}
	for {
		resp, err := http.ReadResponse(c.br, req)
		if err != nil {
			return fail(err, false)
		}
		// 1xx answers other than 101 come before the real one.
		if resp.StatusCode >= 100 && resp.StatusCode < 200 && resp.StatusCode != http.StatusSwitchingProtocols {
			continue
		}
		if resp.StatusCode == http.StatusSwitchingProtocols {
			return fail(errors.New("unexpected 101 Switching Protocols"), false)
		}
		if resp.Body == http.NoBody {
			c.release(stop, !resp.Close)
			return resp, nil
		}
		resp.Body = &leanBody{c: c, body: resp.Body, stop: stop, reuse: !resp.Close}
		// The body points back at resp, and resp at the request: a stream
		// would keep the whole outgoing request (headers, key, body reader)
		// alive for as long as it runs. Only method and URL stay.
		resp.Request = &http.Request{Method: req.Method, URL: req.URL, Host: req.Host}
		return resp, nil
	}
}

// replayable reports whether req may run twice upstream, as net/http
// judges it: an idempotent method, or a request that says it is idempotent.
// (Its body, when it has one, can be sent again: inline it is in the wire
// buffer, a large one comes back through GetBody.)
func replayable(req *http.Request) bool {
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	_, ok := req.Header["Idempotency-Key"]
	_, xok := req.Header["X-Idempotency-Key"]
	return ok || xok
}

// release returns the connection to the pool when it can carry another
// request, and closes it otherwise.
func (c *leanConn) release(stop func() bool, reuse bool) {
	// stop reports false when cancellation already fired (or is firing):
	// the deadline may be set, so the connection is not reusable.
	if stop() && reuse && c.br.Buffered() == 0 {
		c.t.put(c)
		return
	}
	c.conn.Close()
}

// leanBody is an answer's body; reading it to the end, or closing it,
// settles its connection exactly once. Close may be called while a Read is
// blocked (a stalled stream being given up): it then closes the connection,
// which ends the Read.
type leanBody struct {
	c     *leanConn
	body  io.ReadCloser
	stop  func() bool
	reuse bool

	mu      sync.Mutex
	reading bool
	settled bool
	err     error // what Read returns once settled
}

func (b *leanBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	if b.settled {
		b.mu.Unlock()
		return 0, b.err
	}
	b.reading = true
	b.mu.Unlock()

	n, err := b.body.Read(p)

	b.mu.Lock()
	defer b.mu.Unlock()
	b.reading = false
	if b.settled { // closed meanwhile: the connection is gone
		return n, b.err
	}
	if err != nil {
		b.settled, b.err = true, err
		b.c.release(b.stop, err == io.EOF && b.reuse)
	}
	return n, err
}

// Close settles the connection. The end of a chunked answer (its last
// zero-length chunk) usually arrives with the final event; when it is
// already buffered it is consumed here, so the connection is kept.
func (b *leanBody) Close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.settled {
		return nil
	}
	b.settled, b.err = true, http.ErrBodyReadAfterClose
	if b.reading || !b.stop() {
		b.c.conn.Close()
		return nil
	}
	reuse := false
	if b.reuse && b.c.br.Buffered() > 0 {
		// Only what is buffered is read: a past deadline makes any read
		// that would need the socket fail at once.
		b.c.conn.SetReadDeadline(aLongTimeAgo)
		var scratch [512]byte
		for b.c.br.Buffered() > 0 {
			if _, err := b.body.Read(scratch[:]); err != nil {
				reuse = err == io.EOF
				break
			}
		}
		reuse = reuse && b.c.conn.SetReadDeadline(time.Time{}) == nil
	}
	b.c.release(func() bool { return true }, reuse)
	return nil
}
