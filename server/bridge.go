package server

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/mqflux/mqflux/alert"
	"github.com/mqflux/mqflux/broker"
	"github.com/mqflux/mqflux/flow/input"
	"github.com/mqflux/mqflux/flow/pipeline"
	"github.com/mqflux/mqflux/passwd"
)

// Bridge is one `mqflux bridge`: the pipeline fed by a subscriber to an
// external broker, with /healthz and /metrics.
type Bridge struct {
	cfg  Config
	log  *slog.Logger
	pipe *pipeline.Pipeline
	// inputs are the subscriber (first) and the inputs entries.
	inputs inputs
	front  *front
	life   *lifecycle
	// fleet is the registry and alerting shared with the other
	// instances on the stream (input nats); nil otherwise.
	fleet alert.Fleet
	gate  *readGate
}

// NewBridge builds the pipeline and the subscriber; nothing connects until
// Run. cfg must have passed Validate and ValidateBridge.
func NewBridge(cfg Config, log *slog.Logger) (*Bridge, error) {
	b := &Bridge{cfg: cfg, log: log, front: newFront(cfg.HTTP, log)}
	pipe, err := OpenPipeline(cfg, log, nil)
	if err != nil {
		return nil, err
	}
	// The bridge's input is the kind an inputs entry {kind: mqtt} or
	// {kind: nats} also builds, here from the bridge section and named
	// for its source.
	cfg.Inputs = append([]input.Config{cfg.Bridge.inputConfig(brokerInputName)}, cfg.Inputs...)
	ins, err := configuredInputs(cfg, pipe, log)
	if err != nil {
		return nil, errors.Join(err, pipe.Stop(0))
	}
	b.pipe, b.inputs = pipe, inputs{list: ins, wait: 1, log: log}
	b.front.reg.MustRegister(pipe.Collectors()...)
	if err := b.inputs.register(b.front.reg); err != nil {
		return nil, errors.Join(err, pipe.Stop(0))
	}
	b.life = &lifecycle{cfg: cfg, log: log, front: b.front, pipe: pipe, inputs: &b.inputs,
		serveFirst: true, running: "mqflux bridge running"}
	if b.fleet, err = b.openFleet(); err != nil {
		return nil, errors.Join(err, pipe.Stop(0))
	}
	if b.fleet != nil {
		// The bridge now shows every device's readings, as mqflux serve
		// does: the same refusal of the shipped demo logins beyond
		// loopback.
		checker := passwd.NewChecker(passwd.WithHashes(configuredHashes(cfg)...))
		if err := refuseExposedDemo(cfg, checker); err != nil {
			return nil, errors.Join(err, pipe.Stop(0))
		}
		b.front.reg.MustRegister(b.fleet.Collectors()...)
		b.life.services = append(b.life.services, b.fleet)
		b.gate = newReadGate(cfg, checker, log.With("component", "http"))
		// No broker here to hold the logins of an address in backoff:
		// a tarpit of the bridge's own, with broker.tarpit's bounds.
		tarpit := broker.NewRequestTarpit(cfg.Broker.Tarpit, checker.BackoffWait)
		b.gate.tarpit = newHTTPTarpit(tarpit, b.front.http)
		b.front.reg.MustRegister(b.gate.Collectors()...)
		b.front.reg.MustRegister(tarpit)
	}
	b.front.http.Handler = b.routes()
	return b, nil
}

// Run connects and serves until ctx is cancelled, then drains: the
// subscriber stops acknowledging and disconnects (the broker keeps what was
// not acknowledged for the persistent session), and the spool is flushed
// to the outputs for at most the longest drain_timeout. ready, if not nil, is called
// once the subscriptions are in place.
func (b *Bridge) Run(ctx context.Context, ready func()) error { return b.life.run(ctx, ready) }

func (b *Bridge) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", b.healthz)
	mux.Handle("GET /metrics", b.front.metrics())
	if b.fleet != nil {
		// The fleet's views, from the state the alerting instance saves,
		// behind the reader login beyond loopback as in mqflux serve.
		b.fleet.Routes(mux, b.gate.guard)
		// The console's fleet view polls those; its live stream, charts,
		// pipeline and journal are mqflux serve's.
		b.gate.consoleRoutes(mux)
	}
	return newHostGuard(b.cfg.HTTP, b.log.With("component", "http"), b.front.reg, nil).wrap(mux)
}

type bridgeHealth struct {
	Status    string      `json:"status"` // ok | degraded | disconnected
	Uptime    string      `json:"uptime"`
	Broker    brokerState `json:"broker"`
	Influx    influx      `json:"influx"` // the first output
	Outputs   []outputH   `json:"outputs"`
	Spool     spoolH      `json:"spool"`
	Readiness string      `json:"readiness"`
	// Fleet is who alerts for the instances on the stream (input nats).
	Fleet *alert.FleetHealth `json:"fleet,omitempty"`
}

type brokerState struct {
	Input     string   `json:"input"` // mqtt | nats
	URL       string   `json:"url,omitempty"`
	ClientID  string   `json:"client_id,omitempty"`
	URLs      []string `json:"urls,omitempty"`
	Stream    string   `json:"stream,omitempty"`
	Consumer  string   `json:"consumer,omitempty"`
	Filters   []string `json:"filters"` // the MQTT filters or the NATS subjects
	Connected bool     `json:"connected"`
}

// healthz answers 200 while the bridge is connected to the broker (an
// output being down only degrades: the spool holds the readings) and 503
// while it is not: then no reading reaches mqflux.
func (b *Bridge) healthz(w http.ResponseWriter, _ *http.Request) {
	parts := b.life.health()
	h := bridgeHealth{
		Status:    "ok",
		Readiness: "receiving readings",
		Uptime:    parts.uptime,
		Broker:    b.cfg.Bridge.state(b.connected()),
		Influx:    parts.primary,
		Outputs:   parts.outputs,
		Spool:     parts.spool,
	}
	if b.fleet != nil {
		fh := b.fleet.Health()
		h.Fleet = &fh
	}
	code := http.StatusOK
	switch {
	case !h.Broker.Connected:
		h.Status, code = "disconnected", http.StatusServiceUnavailable
		h.Readiness = "not connected to the broker; it keeps the persistent session's messages"
		if b.cfg.Bridge.Input == BridgeInputNATS {
			h.Readiness = "not consuming the NATS stream; the stream keeps the readings"
		}
	default:
		if parts.outputsDown != "" {
			h.Status = "degraded"
			h.Readiness += "; " + parts.outputsDown
		}
		if down := parts.inputsDown; len(down) > 0 {
			h.Status = "degraded"
			h.Readiness += "; input " + strings.Join(down, "; ")
		}
	}
	writeJSON(w, code, h)
}

// connected reports whether the subscriber to the bridge section's broker
// is connected.
func (b *Bridge) connected() bool {
	h, ok := b.inputs.find(brokerInputName).(input.Healther)
	return ok && h.Health().Up
}
