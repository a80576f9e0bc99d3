package output

import (
	"log/slog"
	"maps"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Health tracks whether an output's store takes writes: the state an
// output reports through Reporter (Up, LastError) and StatsReporter
// (Retries), logging each change of state once instead of every retry.
// The zero value is not usable; make one with NewHealth.
type Health struct {
	opts HealthOptions

	mu    sync.Mutex
	state string // "" before the first answer, "up", or a failure reason
	since time.Time
	// lastErr and lastErrAt are the newest failure, kept after recovery
	// so that an operator can see what went wrong last.
	lastErr   string
	lastErrAt time.Time
	retries   map[string]int64 // failures by reason, since start
}

// HealthOptions say how a Health names its store and what it reports.
type HealthOptions struct {
	Log *slog.Logger
	// Store names the store in log lines: "influx writes succeed again".
	Store string
	// Hint says what an operator should check for a failure's reason; the
	// log line of a new failure carries it.
	Hint func(reason string) string
	// Slowed is a failure reason under which the store still takes writes
	// but asks for less (InfluxDB's "throttled"): Up stays true and the
	// log line is a warning. Empty when the store has no such answer.
	Slowed string
	// Gauge, if not nil, is set to 1 while the store takes writes (slowed
	// included) and 0 while it fails.
	Gauge prometheus.Gauge
}

// NewHealth makes a Health in the state "no answer yet".
func NewHealth(o HealthOptions) *Health {
	if o.Hint == nil {
		o.Hint = func(string) string { return "" }
	}
	return &Health{opts: o, retries: map[string]int64{}}
}

// Up reports whether the last answer showed the store takes writes.
func (h *Health) Up() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.state == "up" || (h.opts.Slowed != "" && h.state == h.opts.Slowed)
}

// Reached records an answer that shows the store takes writes.
func (h *Health) Reached() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.state == "up" {
		return
	}
	if h.state != "" {
		h.opts.Log.Info(h.opts.Store+" writes succeed again", "after", time.Since(h.since).Round(time.Millisecond), "was", h.state)
	}
	h.state, h.since = "up", time.Now()
	h.setGauge(1)
}

// Failed records a failure to retry; reason is its retries label.
func (h *Health) Failed(reason, message string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.retries[reason]++
	h.lastErr, h.lastErrAt = reason+": "+message, time.Now()
	if h.state == reason {
		return
	}
	h.state, h.since = reason, time.Now()
	if h.opts.Slowed != "" && reason == h.opts.Slowed {
		h.setGauge(1)
		h.opts.Log.Warn(h.opts.Store+" is throttling writes; backing off", "message", message)
		return
	}
	h.setGauge(0)
	h.opts.Log.Error(h.opts.Store+" writes failing; retrying with backoff, nothing is dropped",
		"reason", reason, "error", message, "check", h.opts.Hint(reason))
}

func (h *Health) setGauge(v float64) {
	if h.opts.Gauge != nil {
		h.opts.Gauge.Set(v)
	}
}

// LastError is the newest failure ("reason: message") and when it
// happened; "" when there was none.
func (h *Health) LastError() (string, time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.lastErr, h.lastErrAt
}

// Retries counts the failures by reason since start.
func (h *Health) Retries() map[string]int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return maps.Clone(h.retries)
}
