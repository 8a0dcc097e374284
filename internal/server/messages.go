package server

import (
	"context"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/genrouter/genrouter/internal/anthropic"
	"github.com/genrouter/genrouter/internal/media"
	"github.com/genrouter/genrouter/internal/metrics"
	"github.com/genrouter/genrouter/internal/openai"
	"github.com/genrouter/genrouter/internal/route"
	"github.com/tidwall/gjson"
)

// messages serves POST /v1/messages: Anthropic's Messages API in front of
// every vendor. The request is translated into an OpenAI chat request and
// goes through the same router, timeouts and logging as /chat/completions;
// the answer is translated back, and errors take Anthropic's shape. The
// Anthropic SDKs' x-api-key and anthropic-version headers are accepted and
// not required.
func (s *Server) messages(w http.ResponseWriter, r *http.Request, c *caller) {
	st, x := s.begin(w, r, c, metrics.OpChat)
	w.Header().Set("Request-Id", x.id) // what Anthropic's SDKs read
	defer s.logExchange(r, x)
	buf, body, apiErr := s.readRequest(w, r, st)
	defer s.putBuffer(buf)
	if apiErr != nil {
		x.failAnthropic(w, apiErr)
		return
	}
	in, apiErr := anthropic.ParseRequest(body)
	if in != nil {
		x.asked, x.stream = in.Model, in.Stream
	}
	if apiErr != nil {
		x.failAnthropic(w, apiErr)
		return
	}
	chatBody, apiErr := in.ToOpenAI()
	if apiErr != nil {
		x.failAnthropic(w, apiErr)
		return
	}
	req, err := openai.ParseChat(chatBody)
	if err != nil {
		x.failAnthropic(w, errorf(http.StatusInternalServerError, "internal_error", "", "translate the request: %v", err))
		return
	}
	if e := req.Validate(); e != nil {
		x.failAnthropic(w, anthropic.FromValidation(e))
		return
	}
	if e := c.allowed(st.router.Pool, req.Model, vendorParam(r)); e != nil {
		x.failAnthropic(w, e)
		return
	}
	t := limits(r, st.cfg.Routing.Timeouts)
	ctx, cancel := withTotal(r, t)
	defer cancel()
	q := route.Query{Vendor: vendorParam(r), Model: req.Model, Needs: req.Needs(), Allowed: c.vendors(), AllowedModels: c.models()}
	j := &job{body: chatBody, chat: req, stream: req.Stream, includeUsage: req.IncludeUsage(), media: media.Needs(req)}
	ans, err := s.dispatch(ctx, st, w, q, j, t, x)
	if err != nil {
		x.failDispatchAnthropic(w, r.Context(), err)
		return
	}
	if ans.stream == nil {
		x.ttfb = time.Since(x.start)
		x.usage(ans.body)
		out, terr := anthropic.MessageFromOpenAI(ans.body, in.Model, in.StopSequences)
		if terr != nil {
			ans.lease.Done(terr, x.promptTok+x.complTok)
			x.failAnthropic(w, errorf(http.StatusBadGateway, "upstream_error", "", "the vendor's answer could not be read: %v", terr))
			return
		}
		ans.lease.Done(nil, x.promptTok+x.complTok)
		s.price(w.Header(), x)
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(out)))
		w.WriteHeader(http.StatusOK)
		x.status = http.StatusOK
		w.Write(out)
		return
	}
	w.Header().Set("Trailer", "X-Genrouter-Cost") // known once usage has arrived
	err = s.relayMessages(ctx, w, ans, anthropic.NewStream(in.Model, in.StopSequences), x)
	s.price(w.Header(), x)
	ans.lease.Done(err, x.promptTok+x.complTok)
}

// relayMessages translates a vendor's chunk stream into Anthropic's event
// stream, writing and flushing each chunk's events as they come. A failure
// after the start ends the stream with an `event: error` and no
// message_stop, so no client takes a broken answer for a whole one. Timeouts
// and client departures are handled as in relay.
func (s *Server) relayMessages(ctx context.Context, w http.ResponseWriter, ans *answer, tr *anthropic.Stream, x *exchange) error {
	st := ans.stream
	defer st.Close()
	rc := http.NewResponseController(w)
	x.ttfb = time.Since(x.start)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	x.status = http.StatusOK
	defer x.unsentUsage(st)

	idle := time.AfterFunc(ans.idle, func() { ans.lease.Cancel(route.ErrStreamIdleTimeout) })
	defer idle.Stop()
	stop := context.AfterFunc(s.stopping, func() { ans.lease.Cancel(errShuttingDown) })
	defer stop()

	b := make([]byte, 0, 4096)
	send := func(evs []anthropic.Event) bool {
		if len(evs) == 0 {
			return true
		}
		b = b[:0]
		for _, ev := range evs {
			b = ev.AppendSSE(b)
		}
		if _, err := w.Write(b); err != nil || rc.Flush() != nil {
			x.clientGone = true
			return false
		}
		return true
	}

	var err error
	d := ans.first
	if d == nil {
		err = io.EOF
	}
	for err == nil {
		if hasUsage(d) {
			x.usage(d)
		}
		evs, terr := tr.Chunk(d)
		if terr != nil {
			err = errorf(http.StatusBadGateway, "upstream_error", "", "%v", terr)
			break
		}
		if !send(evs) {
			return nil
		}
		d, err = st.Next()
		idle.Reset(ans.idle)
	}
	if err == io.EOF {
		send(tr.Finish())
		return nil
	}
	e := x.streamBroke(ctx, ans, err)
	if e == nil {
		return nil
	}
	send([]anthropic.Event{anthropic.ErrorEvent(e)})
	return e
}

// failAnthropic answers with e in Anthropic's error shape, keeping its
// status and Retry-After.
func (x *exchange) failAnthropic(w http.ResponseWriter, e *openai.Error) {
	x.status = e.Status
	x.errCode = code(e)
	writeAnthropicError(w, e) // begin set X-Request-Id to x.id
}

// failDispatchAnthropic is failDispatch in Anthropic's shape.
func (x *exchange) failDispatchAnthropic(w http.ResponseWriter, ctx context.Context, err error) {
	x.failDispatchAs(w, ctx, err, x.failAnthropic)
}

// writeAnthropicError answers in Anthropic's error shape, for the
// middleware of /v1/messages.
func writeAnthropicError(w http.ResponseWriter, e *openai.Error) {
	status, body := anthropic.FromError(e, w.Header().Get("X-Request-Id"))
	h := w.Header()
	h.Set("Content-Type", "application/json")
	if e.RetryAfter != "" {
		h.Set("Retry-After", e.RetryAfter)
	}
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}

// countTokens serves POST /v1/messages/count_tokens (Anthropic's token
// counter, which agent tools call before sending). The gateway embeds no
// tokenizer, so the answer is an estimate: about four characters a token
// over every string in the system prompt, the messages and the tool
// definitions, plus a few tokens a message for the framing.
func (s *Server) countTokens(w http.ResponseWriter, r *http.Request, c *caller) {
	st, x := s.begin(w, r, c, metrics.OpChat)
	defer s.logExchange(r, x)
	buf, body, apiErr := s.readRequest(w, r, st)
	defer s.putBuffer(buf)
	if apiErr != nil {
		x.failAnthropic(w, apiErr)
		return
	}
	// The depth check first: gjson's validator and the walk below recurse
	// once per level of nesting.
	if openai.TooDeep(body) {
		x.failAnthropic(w, errorf(http.StatusBadRequest, "invalid_json", "", "The request body nests deeper than %d levels", openai.MaxDepth))
		return
	}
	root := gjson.ParseBytes(body)
	if !gjson.ValidBytes(body) || !root.IsObject() {
		x.failAnthropic(w, errorf(http.StatusBadRequest, "invalid_json", "", "The request body is not a valid JSON object"))
		return
	}
	x.asked = root.Get("model").String()
	msgs := root.Get("messages")
	nmsgs := len(msgs.Array())
	if x.asked == "" || !msgs.IsArray() || nmsgs == 0 {
		x.failAnthropic(w, errorf(http.StatusBadRequest, "missing_required_parameter", "", "model and a non-empty messages list are required"))
		return
	}
	chars := 0
	var walk func(v gjson.Result)
	walk = func(v gjson.Result) {
		switch {
		case v.Type == gjson.String:
			chars += len(v.Str)
		case v.IsObject() || v.IsArray():
			v.ForEach(func(_, e gjson.Result) bool { walk(e); return true })
		}
	}
	for _, k := range []string{"system", "messages", "tools"} {
		walk(root.Get(k))
	}
	n := (chars+3)/4 + 3*nmsgs
	x.status = http.StatusOK
	writeJSON(w, http.StatusOK, map[string]int{"input_tokens": n})
}
