// Package web is the gateway's dashboard: one HTML page, its script and
// its stylesheet, embedded in the binary. The page polls GET /admin/stats
// (package stats' Snapshot, relative to the page: ../admin/stats) every
// second and draws requests per second, latency percentiles, the traffic
// share of each combination, credential health, errors by vendor and
// class, tokens and cost, and the recent requests. Nothing is fetched from
// anywhere else.
//
// The admin key: the page takes it from its URL fragment (/ui/#key=…, then
// removed from the address bar) or asks for it, keeps it in
// sessionStorage, and sends it as Authorization: Bearer on its fetches.
// The page itself holds no data, so it can be served without the key; the
// data behind /admin/stats must be.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"net/http"
	"strings"
	"time"
)

//go:embed index.html app.js app.css
var files embed.FS

// asset is one embedded file, ready to serve.
type asset struct {
	body        []byte
	contentType string
	etag        string
}

var assets = func() map[string]asset {
	m := map[string]asset{}
	for name, ct := range map[string]string{
		"index.html": "text/html; charset=utf-8",
		"app.js":     "text/javascript; charset=utf-8",
		"app.css":    "text/css; charset=utf-8",
	} {
		b, err := files.ReadFile(name)
		if err != nil {
			panic(err) // embedded: cannot happen
		}
		sum := sha256.Sum256(b)
		m[name] = asset{body: b, contentType: ct, etag: `"` + hex.EncodeToString(sum[:8]) + `"`}
	}
	return m
}()

// ContentSecurityPolicy is sent with every file: only this origin's
// script, styles and fetches; no inline script, no frames.
const ContentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Handler serves the dashboard wherever it is mounted, e.g.
//
//	mux.Handle("/ui", web.Handler())
//	mux.Handle("/ui/", web.Handler())
//
// A path ending in "/" (or "/index.html") is the page, ".../app.js" and
// ".../app.css" its assets; a path without a trailing slash whose last
// element is not a file (/ui) redirects to the same path with one, so the
// page's relative URLs resolve. Only GET and HEAD are served.
func Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
			return
		}
		p := r.URL.Path
		name := p[strings.LastIndexByte(p, '/')+1:]
		switch {
		case name == "":
			name = "index.html"
		case !strings.Contains(name, "."):
			u := *r.URL
			u.Path += "/"
			http.Redirect(w, r, u.RequestURI(), http.StatusMovedPermanently)
			return
		}
		a, ok := assets[name]
		if !ok {
			http.NotFound(w, r)
			return
		}
		h := w.Header()
		h.Set("Content-Type", a.contentType)
		h.Set("Content-Security-Policy", ContentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		h.Set("Cache-Control", "no-cache") // revalidate: the ETag makes that a 304
		h.Set("ETag", a.etag)
		http.ServeContent(w, r, name, time.Time{}, bytes.NewReader(a.body))
	})
}
