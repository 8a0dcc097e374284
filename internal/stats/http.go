package stats

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// Handler serves the Snapshot as JSON (GET /admin/stats). The query
// parameter recent=N limits the recent-requests rows (default and maximum
// RecentSize). It does no authentication: wrap it in the admin check.
func (s *Stats) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := json.Marshal(s.snapshot(recentParam(r)))
		if err != nil {
			http.Error(w, `{"error":{"message":"encode stats","type":"server_error","code":"internal_error"}}`, http.StatusInternalServerError)
			return
		}
		h := w.Header()
		h.Set("Content-Type", "application/json")
		h.Set("Cache-Control", "no-store")
		w.Write(append(b, '\n'))
	})
}

// SSEHandler streams the Snapshot as Server-Sent Events (GET
// /admin/stats/stream): one "data: {json}" event at once and then every
// interval (at least 100ms), until the client goes away. recent=N works as
// for Handler. It does no authentication: wrap it in the admin check.
func (s *Stats) SSEHandler(interval time.Duration) http.Handler {
	interval = max(interval, 100*time.Millisecond)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		h := w.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Accel-Buffering", "no")
		w.WriteHeader(http.StatusOK)
		recent := recentParam(r)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		buf := make([]byte, 0, 64<<10)
		for {
			b, err := json.Marshal(s.snapshot(recent))
			if err != nil {
				return
			}
			buf = append(append(append(buf[:0], "data: "...), b...), "\n\n"...)
			if _, err := w.Write(buf); err != nil {
				return
			}
			if rc.Flush() != nil {
				return
			}
			select {
			case <-r.Context().Done():
				return
			case <-tick.C:
			}
		}
	})
}

func recentParam(r *http.Request) int {
	if v := r.URL.Query().Get("recent"); v != "" {
		if n, err := strconv.Atoi(v); err == nil && n >= 0 {
			return n
		}
	}
	return -1
}
