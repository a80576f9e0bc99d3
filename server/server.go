// Package server assembles `mqflux serve`: the embedded broker, the
// pipeline from the spool to its outputs, and the HTTP endpoints (health, metrics,
// the legacy POST API), with a graceful drain on shutdown.
package server

import (
	"context"
	"log/slog"

	"github.com/mqflux/mqflux/alert"
	"github.com/mqflux/mqflux/broker"
	"github.com/mqflux/mqflux/flow/dump"
	"github.com/mqflux/mqflux/flow/input"
	"github.com/mqflux/mqflux/flow/latest"
	"github.com/mqflux/mqflux/flow/mapping"
	"github.com/mqflux/mqflux/flow/observe"
	"github.com/mqflux/mqflux/flow/pipeline"
	"github.com/mqflux/mqflux/flow/shim"
	"github.com/mqflux/mqflux/passwd"
	"github.com/mqflux/mqflux/topic"
)

// Server is one `mqflux serve`.
type Server struct {
	cfg     Config
	log     *slog.Logger
	checker *passwd.Checker
	broker  *broker.Broker
	pipe    *pipeline.Pipeline
	// inputs are every source of readings: the broker, the legacy API,
	// then the inputs entries, started in that order.
	inputs inputs
	front  *front
	gate   *readGate
	latest *latest.Store
	// streams holds a token per /v1/stream client: at most
	// http.max_stream_clients at once.
	streams chan struct{}
	alerts  *alert.Service
	publish brokerPublisher // the broker, for the mqtt notifier, once built
	life    *lifecycle
	dumps   *dump.Scheduler // the dumps: section's, nil when off
	// history samples the pipeline for the console's charts
	// (/v1/pipeline/history).
	history *pipelineHistory
}

// Option changes how New builds a server.
type Option func(*options)

type options struct {
	wrap func(observe.Observer) observe.Observer
}

// WrapObservers has every observer of the pipeline (the live views, the
// republish of HTTP readings) replaced by wrap(observer) before the
// pipeline starts. Tests use it to stall an observer behind the real
// hand-off; a server has no reason to.
func WrapObservers(wrap func(observe.Observer) observe.Observer) Option {
	return func(o *options) { o.wrap = wrap }
}

// New checks what must hold before anything listens and builds the parts.
func New(cfg Config, log *slog.Logger, opts ...Option) (*Server, error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	checker := passwd.NewChecker(passwd.WithHashes(configuredHashes(cfg)...))
	if err := refuseExposedDemo(cfg, checker); err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, log: log, checker: checker, front: newFront(cfg.HTTP, log),
		gate:    newReadGate(cfg, checker, log.With("component", "http")),
		streams: make(chan struct{}, cfg.HTTP.MaxStreamClients)}
	reg := s.front.reg
	reg.MustRegister(s.gate.Collectors()...)
	s.latest = latest.New(cfg.HTTP.LatestMaxSeries, latest.MaxSeriesPerDevice(cfg.HTTP.LatestMaxSeriesPerDevice))
	reg.MustRegister(s.latest.Collectors()...)
	// Live streams end when the HTTP server starts shutting down, instead
	// of holding it up.
	s.front.http.RegisterOnShutdown(s.latest.Close)

	// Everything that only watches readings is an observer, off the path
	// that answers their senders: /v1/latest, /v1/stream, the republish of
	// HTTP readings into the broker, the device registry and its alerts.
	rp := &republish{log: log}
	alerts, err := s.openAlerts()
	if err != nil {
		return nil, err
	}
	s.alerts = alerts
	if s.dumps, err = newDumps(cfg, log); err != nil {
		return nil, err
	}
	reg.MustRegister(alerts.Collectors()...)
	observers := append(s.latest.Observers(), rp, alerts)
	if o.wrap != nil {
		for i := range observers {
			observers[i] = o.wrap(observers[i])
		}
	}
	pipe, err := OpenPipeline(cfg, log, observers)
	if err != nil {
		return nil, err
	}
	s.pipe = pipe
	reg.MustRegister(pipe.Collectors()...)
	if s.history, err = newPipelineHistory(pipe, pipelineOutputNames(pipe), historyInterval, historySamples, log); err != nil {
		_ = pipe.Stop(0)
		return nil, err
	}

	b, err := broker.New(broker.Options{
		Config:      cfg.Broker,
		DataDir:     cfg.DataDir,
		Sink:        pipe.Sink(brokerInputName),
		Wants:       pipe.Wants,
		Layout:      brokerLayout(pipe.Mapper()),
		Readable:    alertTopics(cfg.Alerts),
		Status:      statusTemplates(cfg.Mapping),
		Checker:     checker,
		Logger:      log,
		MochiLogger: slog.New(levelAtLeast{log.Handler(), slog.LevelError}).With("component", "mqtt"),
	})
	if err != nil {
		_ = pipe.Stop(0)
		return nil, err
	}
	s.broker = b
	rp.broker = b
	s.publish.broker = b

	tarpit := newHTTPTarpit(b.Tarpit(), s.front.http)
	s.gate.tarpit = tarpit
	legacy, err := shim.New(cfg.HTTP.Legacy, pipe.Sink(shim.Source), log.With("component", "http"), shim.WithChecker(checker), shim.WithTarpit(tarpit))
	if err != nil {
		_ = b.Close()
		_ = pipe.Stop(0)
		return nil, err
	}
	more, err := configuredInputs(cfg, pipe, log)
	if err != nil {
		_ = b.Close()
		_ = pipe.Stop(0)
		return nil, err
	}
	s.inputs = inputs{list: append([]input.Input{&brokerInput{Broker: b, cfg: cfg.Broker}, legacy}, more...), wait: 2, log: log}
	if err := s.inputs.register(reg); err != nil {
		_ = b.Close()
		_ = pipe.Stop(0)
		return nil, err
	}

	s.life = &lifecycle{cfg: cfg, log: log, front: s.front, pipe: pipe, inputs: &s.inputs,
		services: []service{alerts, dumpService{s.dumps}, s.history}, running: "mqflux serving"}
	s.front.http.Handler = s.routes()
	return s, nil
}

// Run serves until ctx is cancelled, then drains: no new acknowledgements,
// the spool flushed to the outputs for at most the longest drain_timeout, what is
// left kept on disk for the next start. ready, if not nil, is called once
// every listener accepts connections.
func (s *Server) Run(ctx context.Context, ready func()) error { return s.life.run(ctx, ready) }

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

// brokerLayout is what the broker's roles follow: the mapping's templates
// and, outside the mapping (so neither stored nor dead-lettered, only
// retained and delivered by the broker), the Home Assistant discovery
// configs a device agent announces for itself.
func brokerLayout(m *mapping.Mapper) []topic.Template {
	return append(m.Templates(), topic.MustParse(topic.DefaultDiscovery))
}

// statusTemplates are the presence templates of the mapping, which the
// broker always lets a device retain its own presence on.
func statusTemplates(c mapping.Config) []topic.Template {
	srcs := []string{c.StatusTemplate}
	for _, r := range c.StatusTemplates {
		srcs = append(srcs, r.Template)
	}
	var out []topic.Template
	for _, src := range srcs {
		if t, err := topic.Parse(src); src != "" && err == nil {
			out = append(out, t)
		}
	}
	return out
}

// configuredHashes are every bcrypt hash of the configuration: an unknown
// name costs what the dearest of them costs (passwd.WithHashes).
func configuredHashes(cfg Config) []string {
	var out []string
	for _, u := range cfg.Broker.Users {
		out = append(out, u.PasswordHash)
	}
	for _, k := range cfg.HTTP.Legacy.Keys {
		out = append(out, k.KeyHash)
	}
	return out
}
