package server

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"

	"github.com/genrouter/genrouter/internal/openai"
	"github.com/genrouter/genrouter/internal/route"
	"github.com/genrouter/genrouter/internal/vendors"
)

// embeddings serves POST /v1/embeddings, routed like chat among the
// embedding models.
func (s *Server) embeddings(w http.ResponseWriter, r *http.Request) {
	st := s.state.Load()
	x := &exchange{id: requestID(r), start: time.Now()}
	w.Header().Set("X-Request-Id", x.id)
	defer s.logExchange(r, x)

	buf := s.getBuffer()
	defer s.putBuffer(buf)
	body, apiErr := readBody(w, r, buf, st.cfg.Server.MaxBodyBytes)
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
	cands, e := st.pool.Candidates(route.Query{Vendor: r.URL.Query().Get("vendor"), Model: req.Model, Embedding: true})
	if e != nil {
		x.fail(w, e)
		return
	}
	c := st.selector.Select(cands)
	x.combo = c
	setServedBy(w, c)
	res, err := c.Vendor.Adapter.Embed(r.Context(), &vendors.Call{
		Key: c.Key, Model: c.Model.Name, Body: openai.SetModel(body, c.QuotedModel()),
	})
	if err != nil {
		if r.Context().Err() != nil {
			x.clientGone = true
			return
		}
		x.fail(w, asAPIError(err))
		return
	}
	x.ttfb = time.Since(x.start)
	out := openai.SetModel(res.Body, openai.Quote(req.Model))
	x.usage(out)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", strconv.Itoa(len(out)))
	w.WriteHeader(http.StatusOK)
	x.status = http.StatusOK
	w.Write(out)
}
