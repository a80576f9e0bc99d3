// Package input is the seam every source of readings plugs into: the
// embedded MQTT broker, the legacy HTTP API, the subscriber of `mqflux
// bridge`, and any kind registered here. An Input hands what it receives
// to its Sink (the pipeline, named for the input) and acknowledges a
// reading only once the sink took it; the server starts, stops and
// reports every input the same way.
//
// The interface is small on purpose, as mochi's hooks are: an input
// embeds Base for a name and a Start and Stop that do nothing, and
// implements only what it needs. What some inputs have besides (health,
// metrics, routes on the HTTP server, resources to release after the
// pipeline stopped) is an optional interface the server looks for.
package input

import (
	"context"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mqflux/mqflux/flow/ingest"
)

// Sink is where an input hands readings: messages as MQTT carries them,
// or readings the input decoded itself. Either answers only once the
// reading is spooled (nil), must be retried (ingest.ErrFull), or was
// dead-lettered (*ingest.RejectError); see package ingest.
type Sink interface {
	ingest.Sink
	ingest.ReadingSink
}

// Input is one source of readings.
type Input interface {
	// Name labels the input in logs and health, and names its readings'
	// source in metrics and dead letters.
	Name() string
	// Start begins taking readings (listening, connecting, subscribing)
	// and returns once the input takes them, or with why it cannot. An
	// input that retries an unreachable server gives up when ctx ends.
	Start(ctx context.Context) error
	// Stop stops acknowledging: what was not acknowledged stays with its
	// sender, who sends it again. It returns once nothing more reaches
	// the sink. The server calls it once after Start, also after a Start
	// that failed (to end what that Start began).
	Stop() error
}

// Base is what an input embeds: its name, and a Start and Stop with
// nothing to do (an input served by the server's HTTP listener has
// neither).
type Base struct {
	ID string
}

// Name is the input's name.
func (b Base) Name() string { return b.ID }

// Start does nothing.
func (Base) Start(context.Context) error { return nil }

// Stop does nothing.
func (Base) Stop() error { return nil }

// Health is an input's state, for /healthz.
type Health struct {
	// Up: the input takes readings. An input that is not up keeps
	// readings out (a listener that fails to accept, a broker that is
	// not connected).
	Up bool `json:"up"`
	// Detail says what is wrong when it is not up.
	Detail string `json:"detail,omitempty"`
}

// Healther is an input that can say whether it takes readings.
type Healther interface {
	Health() Health
}

// Describer is an input that describes itself for the log line the
// server writes once every input started (addresses, filters...), as
// slog key-value pairs.
type Describer interface {
	Describe() []any
}

// Collector is an input with Prometheus metrics of its own.
type Collector interface {
	Collectors() []prometheus.Collector
}

// Router is an input served by the server's HTTP listener: it adds its
// routes to mux. Like the legacy API's, they answer any Host (devices
// reach them by whatever name they were set up with), so each must check
// its sender's credentials itself; the cross-origin check still applies.
type Router interface {
	Routes(mux *http.ServeMux)
}

// Closer is an input holding resources that must outlive the pipeline's
// drain (the broker publishes alert notifications while alerts stop): the
// server closes it last.
type Closer interface {
	Close() error
}

// Env is what the server lends an input it builds from the inputs list.
type Env struct {
	// Sink is the pipeline for readings from source (the input's name).
	Sink func(source string) Sink
	// Wants reports whether the mapping turns a topic into points; an
	// input may leave other topics alone.
	Wants  func(topic string) bool
	Logger *slog.Logger
	// DataDir is the input's own directory for state it keeps
	// (data_dir/inputs/<name>); the input creates it when it needs it.
	DataDir string
}
