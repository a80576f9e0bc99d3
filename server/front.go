package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/mqflux/mqflux/internal/httpjson"
)

// front is the HTTP side `mqflux serve` and `mqflux bridge` share: one
// metrics registry, one server with the configured timeouts, and the loop
// that serves until the command is asked to stop.
type front struct {
	log  *slog.Logger
	reg  *prometheus.Registry
	http *http.Server
	addr string
	// maxConns is http.max_connections; conns the bound on the listener,
	// once listen made it.
	maxConns int
	conns    atomic.Pointer[connLimit]
}

func newFront(cfg HTTP, log *slog.Logger) *front {
	f := &front{log: log, reg: prometheus.NewRegistry(), addr: cfg.Address, maxConns: cfg.MaxConnections}
	f.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	f.reg.MustRegister(connLimitCollectors(&f.conns)...)
	f.http = &http.Server{
		ReadHeaderTimeout: cfg.ReadHeaderTimeout,
		ReadTimeout:       cfg.ReadTimeout,
		// An idle keep-alive connection holds a descriptor that MQTT
		// might need (httplimit.go).
		IdleTimeout: cfg.IdleTimeout,
		ErrorLog:    slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	return f
}

// metrics serves the registry in the Prometheus text format.
func (f *front) metrics() http.Handler {
	return promhttp.HandlerFor(f.reg, promhttp.HandlerOpts{ErrorLog: logPrinter{f.log}})
}

// listen binds http.address before anything else starts, so that a taken
// port fails the start instead of a running server; nil when disabled.
func (f *front) listen() (net.Listener, error) {
	if f.addr == "" {
		return nil, nil
	}
	ln, err := net.Listen("tcp", f.addr)
	if err != nil {
		return nil, fmt.Errorf("http.address %s: %w", f.addr, err)
	}
	nofile := nofileLimit()
	limit := newConnLimit(ln, httpConnCap(f.maxConns, nofile))
	f.conns.Store(limit)
	f.log.Info("http connections bounded", "max_connections", limit.max, "nofile", nofile)
	return limit, nil
}

// connHealth is the HTTP connection bound's state, nil before listen.
func (f *front) connHealth() *HTTPHealth {
	l := f.conns.Load()
	if l == nil {
		return nil
	}
	h := l.health()
	return &h
}

// serve runs the server on ln (if any) in the background; wait blocks until
// ctx is done or the server fails.
func (f *front) serve(ln net.Listener) <-chan error {
	errc := make(chan error, 1)
	if ln != nil {
		go func() { errc <- f.http.Serve(ln) }()
	}
	return errc
}

func wait(ctx context.Context, serveErr <-chan error) error {
	select {
	case <-ctx.Done():
		return nil
	case err := <-serveErr:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("http server: %w", err)
	}
}

// shutdown stops taking requests, letting those under way finish briefly.
func (f *front) shutdown() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return f.http.Shutdown(ctx)
}

// writeJSON answers with an indented JSON document.
func writeJSON(w http.ResponseWriter, code int, v any) { httpjson.Write(w, code, v) }

// writeError answers with the one error shape, {"error": msg}.
func writeError(w http.ResponseWriter, code int, msg string) { httpjson.Error(w, code, msg) }

type logPrinter struct{ log *slog.Logger }

func (p logPrinter) Println(v ...any) { p.log.Warn("metrics", "err", fmt.Sprint(v...)) }
