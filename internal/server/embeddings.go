package server

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/genrouter/genrouter/internal/metrics"
	"github.com/genrouter/genrouter/internal/openai"
	"github.com/genrouter/genrouter/internal/route"
)

// embeddings serves POST /v1/embeddings, routed like chat among the
// embedding models.
func (s *Server) embeddings(w http.ResponseWriter, r *http.Request, c *caller) {
	st, x := s.begin(w, r, c, metrics.OpEmbeddings)
	defer s.logExchange(r, x)
	buf, body, apiErr := s.readRequest(w, r, st)
	defer s.putBuffer(buf)
	if apiErr != nil {
		x.fail(w, apiErr)
		return
	}
	var req struct {
		Model string          `json:"model"`
		Input json.RawMessage `json:"input"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		x.fail(w, openai.DecodeError(err))
		return
	}
	x.asked = req.Model
	switch {
	case req.Model == "":
		x.fail(w, errorf(http.StatusBadRequest, "missing_required_parameter", "model", "you must provide a model parameter"))
		return
	case len(req.Input) == 0 || string(req.Input) == "null" || string(req.Input) == `""` || string(req.Input) == "[]":
		x.fail(w, errorf(http.StatusBadRequest, "missing_required_parameter", "input", "input must be a non-empty string or array"))
		return
	}
	if e := c.allowed(st.router.Pool, req.Model, vendorParam(r)); e != nil {
		x.fail(w, e)
		return
	}
	t := limits(r, st.cfg.Routing.Timeouts)
	ctx, cancel := withTotal(r, t)
	defer cancel()
	q := route.Query{Vendor: vendorParam(r), Model: req.Model, Embedding: true, Allowed: c.vendors(), AllowedModels: c.models()}
	ans, err := s.dispatch(ctx, st, w, q, &job{body: body, embed: true}, t, x)
	if err != nil {
		x.failDispatch(w, r.Context(), err)
		return
	}
	x.ttfb = time.Since(x.start)
	out := openai.SetModel(ans.body, openai.Quote(req.Model))
	x.usage(out)
	// The credential's tpm counted an estimate when the request was sent;
	// the real usage corrects it, as for chat.
	ans.lease.Done(nil, x.promptTok+x.complTok)
	s.price(w.Header(), x)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(http.StatusOK)
	x.status = http.StatusOK
	w.Write(out)
}
