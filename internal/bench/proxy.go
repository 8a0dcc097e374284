package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"
)

// RunProxy serves a plain reverse proxy to upstream (a base URL) on listen
// until ctx ends: the floor when nginx is not installed.
func RunProxy(ctx context.Context, listen, upstream string) error {
	target, err := url.Parse(upstream)
	if err != nil {
		return err
	}
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	tr := &http.Transport{
		DialContext:         d.DialContext,
		MaxIdleConns:        4096,
		MaxIdleConnsPerHost: 4096,
		IdleConnTimeout:     90 * time.Second,
		DisableCompression:  true, // pass bytes through, as nginx does
	}
	rp := &httputil.ReverseProxy{
		Rewrite:       func(r *httputil.ProxyRequest) { r.SetURL(target) },
		Transport:     tr,
		FlushInterval: -1, // flush every write: streams must flow
		BufferPool:    &bufferPool{},
		ErrorLog:      log.New(os.Stderr, "bench-proxy: ", 0), // kept for the report if requests fail
	}
	// Buffer each request body first, as nginx does by default: streaming
	// it lets the server close the body while the transport still reads
	// it once more past Content-Length, which tears down the upstream
	// connection mid-answer (golang/go#40747).
	var bufs sync.Pool
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := bufs.Get().(*bytes.Buffer)
		if b == nil {
			b = new(bytes.Buffer)
		}
		defer bufs.Put(b)
		b.Reset()
		if _, err := b.ReadFrom(io.LimitReader(r.Body, 64<<20)); err != nil {
			http.Error(w, "bench-proxy: reading the request body: "+err.Error(), http.StatusBadRequest)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(b.Bytes()))
		rp.ServeHTTP(w, r)
	})
	return serve(ctx, listen, h)
}

// bufferPool reuses ReverseProxy's copy buffers, as a tuned proxy would.
type bufferPool struct{ p sync.Pool }

func (b *bufferPool) Get() []byte {
	if v, ok := b.p.Get().(*[]byte); ok {
		return *v
	}
	return make([]byte, 32<<10)
}

func (b *bufferPool) Put(v []byte) { b.p.Put(&v) }

// findNginx returns nginx's path, looking in sbin too (root's PATH has it,
// a user's may not).
func findNginx() (string, bool) {
	if p, err := exec.LookPath("nginx"); err == nil {
		return p, true
	}
	for _, p := range []string{"/usr/sbin/nginx", "/usr/local/sbin/nginx", "/usr/local/nginx/sbin/nginx"} {
		if st, err := os.Stat(p); err == nil && !st.IsDir() {
			return p, true
		}
	}
	return "", false
}

// writeNginxConf writes a minimal keepalive reverse proxy config into dir
// and returns its path. Everything nginx writes stays in dir.
func writeNginxConf(dir, listen, upstream string) (string, error) {
	for _, d := range []string{"client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o777); err != nil {
			return "", err
		}
	}
	conf := fmt.Sprintf(`# genrouter bench: nginx as the plain reverse-proxy floor.
worker_processes 1;
daemon off;
master_process on;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
worker_rlimit_nofile 16384;
events {
    worker_connections 4096;
}
http {
    access_log off;
    client_body_temp_path %[1]s/client_body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    keepalive_requests 1000000;
    upstream bench_upstream {
        server %[3]s;
        keepalive 256;
        keepalive_requests 1000000;
    }
    server {
        listen %[2]s backlog=4096;
        location / {
            proxy_pass http://bench_upstream;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_buffering off;
            proxy_read_timeout 1h;
        }
    }
}
`, dir, listen, upstream)
	path := filepath.Join(dir, "nginx.conf")
	return path, os.WriteFile(path, []byte(conf), 0o644)
}
