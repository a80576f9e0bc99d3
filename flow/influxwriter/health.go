package influxwriter

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// health tracks whether InfluxDB takes writes, logging each change of state
// once instead of every retry.
type health struct {
	log   *slog.Logger
	gauge prometheus.Gauge
	cfg   Config

	mu    sync.Mutex
	state string // "" before the first answer, "up", or a retry reason
	since time.Time
	// lastErr and lastErrAt are the newest failure, kept after recovery
	// so that an operator can see what went wrong last.
	lastErr   string
	lastErrAt time.Time
}

func newHealth(log *slog.Logger, gauge prometheus.Gauge, cfg Config) *health {
	return &health{log: log, gauge: gauge, cfg: cfg}
}

func (h *health) isUp() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.state == "up" || h.state == "throttled"
}

// reached records an answer that shows InfluxDB takes writes.
func (h *health) reached() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.state == "up" {
		return
	}
	if h.state != "" {
		h.log.Info("influx writes succeed again", "after", time.Since(h.since).Round(time.Millisecond), "was", h.state)
	}
	h.state, h.since = "up", time.Now()
	h.gauge.Set(1)
}

// failed records a retryable failure; reason is a retries_total label.
func (h *health) failed(reason, message string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.lastErr, h.lastErrAt = reason+": "+message, time.Now()
	if h.state == reason {
		return
	}
	h.state, h.since = reason, time.Now()
	if reason == "throttled" {
		h.gauge.Set(1)
		h.log.Warn("influx is throttling writes; backing off", "message", message)
		return
	}
	h.gauge.Set(0)
	h.log.Error("influx writes failing; retrying with backoff, nothing is dropped",
		"reason", reason, "error", message, "check", hint(reason))
}

// hint tells the operator what to look at for each kind of failure.
func hint(reason string) string {
	switch reason {
	case "unauthorized":
		return `influx.token: "user:password" of a user with WRITE on the database (InfluxDB 1.x) or an API token with write access to the bucket (InfluxDB 2) or database (InfluxDB 3)`
	case "not_found":
		return `influx.bucket, influx.org and influx.api: for InfluxDB 1.x "database/retention-policy" of an existing database (CREATE DATABASE); for InfluxDB 2 an existing bucket in that org; and an api the server speaks`
	case "network", "timeout":
		return "influx.url: is InfluxDB running and reachable from here?"
	case "server_error":
		return "the InfluxDB server's own log"
	default:
		return "influx.url points at an InfluxDB write API"
	}
}

// Probe asks InfluxDB whether it answers at all (its /ping), so that a
// server started while InfluxDB is away says so at once — in the log and in
// Up — instead of at the first write. A success only means reachable: the
// first write still proves the token and the bucket.
func (w *Writer) Probe(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	if err := w.sender.Ping(ctx); err != nil {
		w.health.failed("network", err.Error())
		return
	}
	w.health.reached()
}

// lastError is the newest failure and when it happened; "" when none.
func (h *health) lastError() (string, time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.lastErr, h.lastErrAt
}
