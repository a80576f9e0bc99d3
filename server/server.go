// Package server assembles `mqflux serve`: the embedded broker, the
// pipeline from spool to InfluxDB, and the HTTP endpoints (health, metrics,
// the legacy POST API), with a graceful drain on shutdown.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/mqflux/mqflux/bridge/pipeline"
	"github.com/mqflux/mqflux/bridge/shim"
	"github.com/mqflux/mqflux/broker"
	"github.com/mqflux/mqflux/config"
	"github.com/mqflux/mqflux/passwd"
)

// Server is one `mqflux serve`.
type Server struct {
	cfg     config.Server
	log     *slog.Logger
	checker *passwd.Checker
	broker  *broker.Broker
	pipe    *pipeline.Pipeline
	shim    *shim.Shim
	reg     *prometheus.Registry
	http    *http.Server
	started time.Time
}

// New checks what must hold before anything listens and builds the parts.
func New(cfg config.Server, log *slog.Logger) (*Server, error) {
	checker := passwd.NewChecker()
	if err := refuseExposedDemo(cfg, checker); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: log, checker: checker, reg: prometheus.NewRegistry()}
	s.reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	pipe, err := OpenPipeline(cfg, log)
	if err != nil {
		return nil, err
	}
	s.pipe = pipe
	s.reg.MustRegister(pipe.Collectors()...)

	b, err := broker.New(broker.Options{
		Config:      cfg.Broker,
		DataDir:     cfg.DataDir,
		Sink:        pipe.Sink("mqtt"),
		Wants:       pipe.Wants,
		Checker:     checker,
		Logger:      log,
		MochiLogger: slog.New(levelAtLeast{log.Handler(), slog.LevelError}).With("component", "mqtt"),
	})
	if err != nil {
		_ = pipe.Stop(0)
		return nil, err
	}
	s.broker = b
	s.reg.MustRegister(b.Collectors()...)

	legacy, err := shim.New(cfg.HTTP.Legacy, liveSink{spool: pipe.Sink("http"), broker: b, log: log}, log.With("component", "http"))
	if err != nil {
		_ = b.Close()
		_ = pipe.Stop(0)
		return nil, err
	}
	s.shim = legacy
	s.reg.MustRegister(legacy.Collectors()...)

	s.http = &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: cfg.HTTP.ReadHeaderTimeout,
		ReadTimeout:       cfg.HTTP.ReadTimeout,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	return s, nil
}

// Run serves until ctx is cancelled, then drains: no new acknowledgements,
// the spool flushed to InfluxDB for at most influx.drain_timeout, what is
// left kept on disk for the next start. ready, if not nil, is called once
// every listener accepts connections.
func (s *Server) Run(ctx context.Context, ready func()) error {
	var ln net.Listener
	if s.cfg.HTTP.Address != "" {
		var err error
		ln, err = net.Listen("tcp", s.cfg.HTTP.Address)
		if err != nil {
			_ = s.broker.Close()
			return fmt.Errorf("http.address %s: %w", s.cfg.HTTP.Address, err)
		}
	}
	s.pipe.Start()
	if err := s.broker.Serve(); err != nil {
		if ln != nil {
			ln.Close()
		}
		return errors.Join(err, s.pipe.Stop(0))
	}
	s.started = time.Now()
	httpErr := make(chan error, 1)
	if ln != nil {
		go func() { httpErr <- s.http.Serve(ln) }()
	}
	s.log.Info("mqflux serving", "mqtt_tcp", s.cfg.Broker.TCP, "mqtt_tls", s.cfg.Broker.TLS.Address,
		"mqtt_websocket", s.cfg.Broker.Websocket, "http", s.cfg.HTTP.Address, "data_dir", s.cfg.DataDir,
		"influx", s.cfg.Influx.URL, "bucket", s.cfg.Influx.Bucket)
	if ready != nil {
		ready()
	}

	var runErr error
	select {
	case <-ctx.Done():
	case err := <-httpErr:
		if !errors.Is(err, http.ErrServerClosed) {
			runErr = fmt.Errorf("http server: %w", err)
		}
	}
	return errors.Join(runErr, s.shutdown())
}

func (s *Server) shutdown() error {
	s.log.Info("shutting down: no new acknowledgements, draining")
	s.broker.Drain()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	httpErr := s.http.Shutdown(ctx)
	pipeErr := s.pipe.Stop(s.cfg.Influx.DrainTimeout)
	brokerErr := s.broker.Close()
	s.log.Info("shut down")
	return errors.Join(httpErr, pipeErr, brokerErr)
}

// levelAtLeast passes on only records at or above a level.
type levelAtLeast struct {
	slog.Handler
	min slog.Level
}

func (h levelAtLeast) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h levelAtLeast) WithAttrs(a []slog.Attr) slog.Handler {
	return levelAtLeast{h.Handler.WithAttrs(a), h.min}
}

func (h levelAtLeast) WithGroup(name string) slog.Handler {
	return levelAtLeast{h.Handler.WithGroup(name), h.min}
}
