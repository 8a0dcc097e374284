package server

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/genrouter/genrouter/internal/media"
	"github.com/genrouter/genrouter/internal/metrics"
	"github.com/genrouter/genrouter/internal/openai"
	"github.com/genrouter/genrouter/internal/route"
	"github.com/genrouter/genrouter/internal/vendors"
	"github.com/tidwall/gjson"
	"go.opentelemetry.io/otel/trace"
)

// exchange is one request's record: what was asked, what served it, how it
// went. It feeds the response headers and the log line.
type exchange struct {
	id         string
	start      time.Time
	asked      string
	combo      *route.Combination
	status     int
	attempts   int
	errCode    string
	stream     bool
	ttfb       time.Duration
	promptTok  int64
	complTok   int64
	cachedTok  int64
	cost       float64
	caller     *caller
	clientGone bool
	// upstream is the time spent waiting on vendors; the rest of the
	// request's time is the gateway's own overhead.
	upstream time.Duration
	// fromDispatch marks an error the routing produced (or a vendor's),
	// as opposed to the request's own.
	fromDispatch bool
	fallback     bool
	op           string // the metrics operation: chat or embeddings
	// reqBody and respBody are kept only with server.log_bodies.
	reqBody, respBody []byte
	// attemptSpan is the span of the attempt that served, while its
	// answer is delivered (tracing on only).
	attemptSpan trace.Span
}

// chat serves POST /v1/chat/completions.
func (s *Server) chat(w http.ResponseWriter, r *http.Request, c *caller) {
	st, x := s.begin(w, r, c, metrics.OpChat)
	defer s.logExchange(r, x)
	buf, body, apiErr := s.readRequest(w, r, st)
	defer s.putBuffer(buf)
	if apiErr != nil {
		x.fail(w, apiErr)
		return
	}
	if st.cfg.Server.LogBodies {
		x.reqBody = append([]byte(nil), body...) // the buffer goes back to the pool
	}
	req, err := openai.ParseChat(body)
	if err != nil {
		x.fail(w, openai.DecodeError(err))
		return
	}
	x.asked, x.stream = req.Model, req.Stream
	if e := req.Validate(); e != nil {
		x.fail(w, e)
		return
	}
	if e := c.allowed(st.router.Pool, req.Model, vendorParam(r)); e != nil {
		x.fail(w, e)
		return
	}
	t := limits(r, st.cfg.Routing.Timeouts)
	ctx, cancel := withTotal(r, t)
	defer cancel()
	q := route.Query{Vendor: vendorParam(r), Model: req.Model, Needs: req.Needs(), Allowed: c.vendors(), AllowedModels: c.models()}
	j := &job{body: body, chat: req, stream: req.Stream, includeUsage: req.IncludeUsage(), media: media.Needs(req)}
	ans, err := s.dispatch(ctx, st, w, q, j, t, x)
	if err != nil {
		x.failDispatch(w, r.Context(), err)
		return
	}
	asked := openai.Quote(req.Model)
	if ans.stream == nil {
		x.ttfb = time.Since(x.start)
		x.usage(ans.body) // usage does not depend on the model name
		if st.cfg.Server.LogBodies {
			x.respBody = ans.body
		}
		out := openai.Splice(ans.body, asked)
		ans.lease.Done(nil, x.promptTok+x.complTok)
		s.price(w.Header(), x)
		w.Header()["Content-Type"] = contentJSON
		w.Header().Set("Content-Length", strconv.Itoa(out.Len()))
		w.WriteHeader(http.StatusOK)
		x.status = http.StatusOK
		out.WriteTo(w)
		return
	}
	err = s.relay(ctx, w, ans, asked, x)
	ans.lease.Done(err, x.promptTok+x.complTok)
}

// relay copies a stream to the client event by event, flushing each one.
// The first event was read during dispatch, so a stream that failed before
// producing anything was retried or answered with a proper HTTP error. It
// returns the error that broke the stream after it started, if any.
func (s *Server) relay(ctx context.Context, w http.ResponseWriter, ans *answer, asked []byte, x *exchange) error {
	st := ans.stream
	defer st.Close()
	rc := http.NewResponseController(w)
	x.ttfb = time.Since(x.start)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")     // tell nginx in front not to buffer
	h.Set("Trailer", "X-Genrouter-Cost") // known once usage has arrived
	w.WriteHeader(http.StatusOK)
	x.status = http.StatusOK
	defer s.price(h, x)
	defer x.unsentUsage(st) // before the price: it may supply the tokens

	// A silent vendor is cut off after the idle timeout: the timer is
	// pushed back by every event.
	idle := time.AfterFunc(ans.idle, func() { ans.lease.Cancel(route.ErrStreamIdleTimeout) })
	defer idle.Stop()
	// Shutdown past its grace ends the stream with an in-band error.
	stop := context.AfterFunc(s.stopping, func() { ans.lease.Cancel(errShuttingDown) })
	defer stop()

	var err error
	d := ans.first
	if d == nil {
		err = io.EOF
	}
	pender, _ := st.(vendors.Pender)
	for err == nil {
		if hasUsage(d) {
			x.usage(d)
		}
		// Each event is built in a pooled buffer, given back before the
		// wait for the next: a quiet stream holds none.
		b := s.getEvent()
		*b = append((*b)[:0], "data: "...)
		*b = openai.AppendWithModel(*b, d, asked)
		*b = append(*b, "\n\n"...)
		_, werr := w.Write(*b)
		s.putEvent(b)
		if werr != nil {
			x.clientGone = true
			return nil
		}
		// Flush unless the next event is already here: a burst goes out
		// in one write, and nothing waits.
		if pender == nil || !pender.Pending() {
			if rc.Flush() != nil {
				x.clientGone = true
				return nil
			}
		}
		waited := time.Now()
		d, err = st.Next()
		x.upstream += time.Since(waited)
		idle.Reset(ans.idle)
	}
	if err == io.EOF {
		w.Write([]byte("data: [DONE]\n\n"))
		rc.Flush()
		return nil
	}
	// The stream broke after it started: say so in-band, as OpenAI does,
	// and do not pretend it finished with [DONE].
	e := x.streamBroke(ctx, ans, err)
	if e == nil {
		return nil
	}
	w.Write(append(append([]byte("data: "), e.Body()...), "\n\n"...))
	rc.Flush()
	return e
}

// streamBroke judges a stream that ended with err before its end: nil when
// the client left (nothing to tell it), else the error to send in-band —
// the total timeout, the idle timeout, or the vendor's failure.
func (x *exchange) streamBroke(ctx context.Context, ans *answer, err error) *openai.Error {
	idle := errors.Is(context.Cause(ans.lease.Context()), route.ErrStreamIdleTimeout)
	switch {
	case idle:
		err = errorf(http.StatusGatewayTimeout, "stream_idle_timeout", "", "the vendor's stream went silent for longer than %s", ans.idle)
	case errors.Is(context.Cause(ans.lease.Context()), errShuttingDown):
		err = errorf(http.StatusServiceUnavailable, "server_shutting_down", "", "the gateway is shutting down: the stream was cut before its end; retry")
	case errors.Is(context.Cause(ctx), route.ErrTotalTimeout):
		err = errorf(http.StatusGatewayTimeout, "request_timeout", "", "the stream did not complete within the gateway's total timeout")
	case ctx.Err() != nil:
		x.clientGone = true
		return nil
	}
	e := asAPIError(err)
	x.errCode = code(e)
	x.fromDispatch = true
	return e
}

func (x *exchange) fail(w http.ResponseWriter, e *openai.Error) {
	x.status = e.Status
	x.errCode = code(e)
	writeError(w, e)
}

func code(e *openai.Error) string {
	if e.Code != nil {
		return *e.Code
	}
	return e.Type
}

// hasUsage reports whether a chunk carries a usage object (not null), in
// any JSON spacing: `"usage":{` from most vendors, `"usage": {` from
// servers built on Python's json.dumps.
func hasUsage(d []byte) bool {
	i := bytes.LastIndex(d, []byte(`"usage":`))
	if i < 0 {
		return false
	}
	rest := bytes.TrimLeft(d[i+len(`"usage":`):], " \t\r\n")
	return len(rest) > 0 && rest[0] == '{'
}

// unsentUsage counts the usage a stream learned but did not send (the
// client did not ask for include_usage): the tokens were spent all the same.
func (x *exchange) unsentUsage(st vendors.Stream) {
	ur, ok := st.(vendors.UsageReporter)
	if !ok || x.promptTok != 0 || x.complTok != 0 {
		return
	}
	if u := ur.Usage(); u != nil {
		x.usage(append(append([]byte(`{"usage":`), u...), '}'))
	}
}

// usage reads token counts from a response or a usage chunk. OpenAI puts
// usage last, so the search starts from the end instead of scanning the
// whole completion; a raw `"usage":` can only be a key (inside strings the
// quotes are escaped).
func (x *exchange) usage(b []byte) {
	var u gjson.Result
	if i := bytes.LastIndex(b, []byte(`"usage":`)); i >= 0 {
		u = gjson.ParseBytes(b[i+len(`"usage":`):])
	}
	if !u.IsObject() {
		return
	}
	// One pass over the object instead of a search per field.
	x.promptTok, x.complTok, x.cachedTok = 0, 0, 0
	u.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "prompt_tokens":
			x.promptTok = v.Int()
		case "completion_tokens":
			x.complTok = v.Int()
		case "prompt_tokens_details":
			x.cachedTok = v.Get("cached_tokens").Int()
		}
		return true
	})
}

// vendorParam is the ?vendor= narrowing; most requests have no query at
// all, and then nothing is parsed.
func vendorParam(r *http.Request) string {
	if r.URL.RawQuery == "" {
		return ""
	}
	return r.URL.Query().Get("vendor")
}

func setServedBy(w http.ResponseWriter, c *route.Combination) {
	// Values built once per combination: no allocation per request. The
	// keys are already in canonical form.
	h := w.Header()
	v := c.Headers()
	h["X-Genrouter-Vendor"], h["X-Genrouter-Model"], h["X-Genrouter-Credential"] = v[0:1:1], v[1:2:2], v[2:3:3]
}

// begin starts a request's record: its id, echoed in X-Request-Id, and
// the state (config, pool) it runs on from start to end.
func (s *Server) begin(w http.ResponseWriter, r *http.Request, c *caller, op string) (*state, *exchange) {
	x := &exchange{id: requestID(r), start: time.Now(), op: op, caller: c}
	w.Header().Set("X-Request-Id", x.id)
	return s.state.Load(), x
}

// readRequest reads the body into a pooled buffer, which the caller hands
// back with putBuffer once the body is no longer used.
func (s *Server) readRequest(w http.ResponseWriter, r *http.Request, st *state) (*bytes.Buffer, []byte, *openai.Error) {
	buf := s.getBuffer()
	body, e := readBody(w, r, buf, st.cfg.Server.MaxBodyBytes, s.bodyTimeout)
	return buf, body, e
}

// readBody reads the request body into buf, enforcing the size limit.
func readBody(w http.ResponseWriter, r *http.Request, buf *bytes.Buffer, limit int64, timeout time.Duration) ([]byte, *openai.Error) {
	if r.ContentLength > limit {
		return nil, tooLarge(limit)
	}
	if r.ContentLength > 0 {
		// Trust a declared length only so far: a client that announces
		// 32 MiB and trickles must not reserve it up front.
		buf.Grow(int(min(r.ContentLength, 1<<20)))
	}
	// A body that trickles in holds a slot (max_in_flight) and memory:
	// it gets a deadline of its own (the server has only a header timeout,
	// since streams may run long). One that arrived with its head needs none.
	var rc *http.ResponseController
	if rb, ok := r.Body.(interface{ Ready() bool }); !ok || !rb.Ready() {
		rc = http.NewResponseController(w)
		rc.SetReadDeadline(time.Now().Add(timeout))
	}
	_, err := buf.ReadFrom(http.MaxBytesReader(w, r.Body, limit))
	if rc != nil {
		// Cleared at once: the connection's background read watches for
		// the client leaving during a long stream, and must not time out.
		rc.SetReadDeadline(time.Time{})
	}
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, tooLarge(limit)
		}
		// The rest of the body may still come: the connection cannot
		// carry another request (net/http would otherwise wait to
		// discard it, with no deadline, before answering).
		w.Header().Set("Connection", "close")
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			return nil, errorf(http.StatusRequestTimeout, "body_read_timeout", "", "the request body did not arrive within %s", timeout)
		}
		return nil, errorf(http.StatusBadRequest, "body_read_failed", "", "could not read the request body")
	}
	if buf.Len() == 0 {
		return nil, errorf(http.StatusBadRequest, "invalid_json", "", "the request body is empty: expected a JSON object")
	}
	return buf.Bytes(), nil
}

// bodyReadTimeout bounds reading a request body.
const bodyReadTimeout = 60 * time.Second

func tooLarge(limit int64) *openai.Error {
	return errorf(http.StatusRequestEntityTooLarge, "request_too_large", "",
		"the request body is larger than the gateway's limit of %d bytes", limit)
}

// getEvent and putEvent lend the buffers streamed events are built in.
func (s *Server) getEvent() *[]byte {
	if b, ok := s.events.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 0, 1024)
	return &b
}

func (s *Server) putEvent(b *[]byte) {
	if cap(*b) <= 64<<10 {
		s.events.Put(b)
	}
}

func (s *Server) getBuffer() *bytes.Buffer {
	if b, ok := s.buffers.Get().(*bytes.Buffer); ok {
		return b
	}
	return new(bytes.Buffer)
}

// putBuffer returns a buffer to the pool unless it grew huge (a big image
// upload), which would pin that memory forever.
func (s *Server) putBuffer(b *bytes.Buffer) {
	if b.Cap() > 1<<20 {
		return
	}
	b.Reset()
	s.buffers.Put(b)
}

var contentJSON = []string{"application/json"}
