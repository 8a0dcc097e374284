package server

import (
	"net/http"

	"github.com/genrouter/genrouter/internal/openai"

	"github.com/genrouter/genrouter/internal/route"
)

type modelObject struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

// models serves GET /v1/models: the configured model names, in OpenAI's
// list shape (narrowed by ?vendor= and by what the caller's key may use).
func (s *Server) models(w http.ResponseWriter, r *http.Request, c *caller) {
	pool := s.state.Load().router.Pool
	list, e := s.modelList(pool, vendorParam(r), c)
	if e != nil {
		writeError(w, e)
		return
	}
	writeJSON(w, http.StatusOK, struct {
		Object string        `json:"object"`
		Data   []modelObject `json:"data"`
	}{"list", list})
}

// model serves GET /v1/models/{id}.
func (s *Server) model(w http.ResponseWriter, r *http.Request, c *caller) {
	id := r.PathValue("id")
	list, e := s.modelList(s.state.Load().router.Pool, vendorParam(r), c)
	if e != nil {
		writeError(w, e)
		return
	}
	for _, m := range list {
		if m.ID == id {
			writeJSON(w, http.StatusOK, m)
			return
		}
	}
	writeError(w, errorf(http.StatusNotFound, "model_not_found", "model", "the model %q does not exist", id))
}

func (s *Server) modelList(pool *route.Pool, vendor string, c *caller) ([]modelObject, *openai.Error) {
	if e := pool.CheckVendor(vendor); e != nil {
		return nil, e
	}
	infos := pool.Models(vendor, c.vendors(), c.models())
	out := make([]modelObject, len(infos))
	for i, m := range infos {
		out[i] = modelObject{ID: m.ID, Object: "model", Created: s.started.Unix(), OwnedBy: m.OwnedBy}
	}
	return out, nil
}
