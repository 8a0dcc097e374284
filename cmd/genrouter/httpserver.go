package main

import (
	"context"
	"log"
	"net"
	"net/http"
	"time"

	"github.com/genrouter/genrouter/internal/config"
	"github.com/genrouter/genrouter/internal/http1"
)

// httpServer is what serve needs of net/http's server and of the lean one.
type httpServer interface {
	Serve(net.Listener) error
	Shutdown(context.Context) error
	Close() error
}

// Limits shared by both engines.
const (
	readHeaderTimeout = 10 * time.Second
	idleTimeout       = 120 * time.Second
	maxHeaderBytes    = 1 << 20
)

// newHTTPServer builds the server for server.engine: the lean HTTP/1.1
// server by default (it hands what it does not serve itself to net/http),
// or net/http alone.
func newHTTPServer(engine string, h http.Handler, errorLog *log.Logger) httpServer {
	if engine == config.EngineNetHTTP {
		return &http.Server{Handler: h, ReadHeaderTimeout: readHeaderTimeout, IdleTimeout: idleTimeout,
			MaxHeaderBytes: maxHeaderBytes, ErrorLog: errorLog}
	}
	return &http1.Server{Handler: h, ReadHeaderTimeout: readHeaderTimeout, IdleTimeout: idleTimeout,
		MaxHeaderBytes: maxHeaderBytes, ErrorLog: errorLog}
}
