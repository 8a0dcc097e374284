package server

import (
	"crypto/subtle"
	"net"

	"github.com/genrouter/genrouter/internal/store"
	"net/http"
	"strings"
)

// admin guards an admin endpoint: with an admin key set it is required;
// without one, only clients on this machine (loopback) get in.
func (s *Server) admin(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if k := s.opts.MasterKey; k != "" {
			got := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
			if subtle.ConstantTimeCompare([]byte(got), []byte(k)) != 1 {
				writeError(w, errorf(http.StatusUnauthorized, "invalid_api_key", "", "admin endpoints need the admin key"))
				return
			}
		} else if !loopback(r.RemoteAddr) || r.Header.Get("X-Forwarded-For") != "" || r.Header.Get("Forwarded") != "" {
			// A proxy on this machine makes every client look local.
			writeError(w, errorf(http.StatusForbidden, "admin_forbidden", "",
				"admin endpoints are only reachable from this machine unless GENROUTER_MASTER_KEY is set"))
			return
		} else if tok := apiKey(r); tok != "" && s.keys.store != nil {
			if _, err := s.keys.lookup(r.Context(), store.HashSecret(tok)); err == nil {
				writeError(w, errorf(http.StatusForbidden, "admin_forbidden", "", "admin endpoints are not reachable with a virtual key"))
				return
			}
		}
		h(w, r)
	}
}

func loopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// reload serves POST /admin/reload: the config is re-read and swapped in
// atomically, or refused with the reason while the old one keeps serving.
func (s *Server) reload(w http.ResponseWriter, r *http.Request) {
	if s.opts.Reload == nil {
		writeError(w, errorf(http.StatusNotImplemented, "reload_unavailable", "", "this server was not started with a config it can reload"))
		return
	}
	if err := s.opts.Reload(); err != nil {
		writeError(w, errorf(http.StatusBadRequest, "invalid_config", "", "reload refused, the old config keeps serving: %v", err))
		return
	}
	st := s.state.Load()
	writeJSON(w, http.StatusOK, map[string]any{"status": "reloaded", "source": st.cfg.Source, "combinations": len(st.router.Pool.All())})
}
