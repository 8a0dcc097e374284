package server

import (
	"net/http"
	"time"
)

type vendorHealth struct {
	Name        string   `json:"name"`
	Type        string   `json:"type"`
	Credentials []string `json:"credentials"` // names, never keys
	Models      []string `json:"models"`
}

// health serves GET /health: what is configured, with no secrets.
func (s *Server) health(w http.ResponseWriter, r *http.Request) {
	st := s.state.Load()
	var vs []vendorHealth
	for _, v := range st.cfg.Vendors {
		vh := vendorHealth{Name: v.Name, Type: v.Type}
		for _, c := range v.Credentials {
			vh.Credentials = append(vh.Credentials, c.Name)
		}
		for _, m := range v.Models {
			vh.Models = append(vh.Models, m.Name)
		}
		vs = append(vs, vh)
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"status":         "ok",
		"version":        s.version,
		"mocked":         st.cfg.Mocked(),
		"uptime_seconds": int64(time.Since(s.started).Seconds()),
		"combinations":   len(st.pool.All()),
		"vendors":        vs,
	})
}
