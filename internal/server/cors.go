package server

import (
	"net/http"
	"strings"
)

// exposed are the response headers browsers may read.
const exposed = "X-Request-Id, X-Genrouter-Vendor, X-Genrouter-Model, X-Genrouter-Credential, X-Genrouter-Attempts, " +
	"X-Genrouter-Fallback, X-Genrouter-Cost, Retry-After, X-Ratelimit-Limit-Requests, X-Ratelimit-Remaining-Requests, " +
	"X-Ratelimit-Reset-Requests, X-Ratelimit-Limit-Tokens, X-Ratelimit-Remaining-Tokens, X-Ratelimit-Reset-Tokens"

// cors lets browsers on the configured origins call the gateway, and
// answers their preflight requests.
func (s *Server) cors(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		origin := r.Header.Get("Origin")
		if origin == "" {
			next.ServeHTTP(w, r)
			return
		}
		allowed := false
		for _, o := range s.state.Load().cfg.Fleet.CORSOrigins {
			if o == "*" || strings.EqualFold(o, origin) {
				allowed = true
				break
			}
		}
		if !allowed {
			next.ServeHTTP(w, r)
			return
		}
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", origin)
		h.Add("Vary", "Origin")
		h.Set("Access-Control-Expose-Headers", exposed)
		if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" {
			h.Set("Access-Control-Allow-Methods", "GET, POST, PATCH, DELETE, OPTIONS")
			h.Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-Api-Key, Api-Key, X-Request-Id, "+
				"Anthropic-Version, OpenAI-Organization, X-Genrouter-Timeout, X-Stainless-Os, X-Stainless-Lang, "+
				"X-Stainless-Package-Version, X-Stainless-Runtime, X-Stainless-Runtime-Version, X-Stainless-Arch, X-Stainless-Retry-Count")
			h.Set("Access-Control-Max-Age", "600")
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}
