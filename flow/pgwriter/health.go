package pgwriter

import (
	"errors"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
)

// classify names a failure for the retries count and health, and says
// whether it is one to retry: anything of the connection, the server's
// state, the login, privileges or a missing database or schema. What is
// left is PostgreSQL refusing the statement for its data.
func classify(err error) (reason string, retry bool) {
	var pe *pgconn.PgError
	if !errors.As(err, &pe) {
		return "network", true
	}
	// pgx ends a COPY whose rows it cannot encode by failing it, which the
	// server reports as a cancelled query: a refusal of the data, for
	// bisecting, not an outage.
	if pe.Code == "57014" && strings.HasPrefix(pe.Message, "COPY from stdin failed") {
		return "refused", false
	}
	switch pe.Code[:2] {
	case "08":
		return "network", true
	case "28":
		return "unauthorized", true
	case "3D", "3F":
		return "not_found", true
	case "53", "57", "40":
		return "busy", true
	case "58", "XX":
		return "server_error", true
	}
	switch pe.Code {
	case "42501": // insufficient_privilege
		return "unauthorized", true
	case "55P03", "55006": // lock_not_available, object_in_use
		return "busy", true
	}
	return "refused", false
}

// hint tells the operator what to look at for each kind of failure.
func hint(reason string) string {
	switch reason {
	case "unauthorized":
		return "the user and password in url, and that the user may CREATE in the schema and write its tables"
	case "not_found":
		return "the database in url and the schema key: both must exist (CREATE SCHEMA)"
	case "busy":
		return "PostgreSQL is starting, shutting down, out of connections or resources"
	case "server_error":
		return "the PostgreSQL server's own log"
	default:
		return "url: is PostgreSQL running and reachable from here?"
	}
}

// health tracks whether PostgreSQL takes writes, logging each change of
// state once instead of every retry.
type health struct {
	log *slog.Logger

	mu        sync.Mutex
	state     string // "" before the first answer, "up", or a failure reason
	since     time.Time
	lastErr   string
	lastErrAt time.Time
	counts    map[string]int64
}

func (h *health) isUp() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.state == "up"
}

func (h *health) reached() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.state == "up" {
		return
	}
	if h.state != "" {
		h.log.Info("postgres writes succeed again", "after", time.Since(h.since).Round(time.Millisecond), "was", h.state)
	}
	h.state, h.since = "up", time.Now()
}

func (h *health) failed(reason, message string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.counts == nil {
		h.counts = map[string]int64{}
	}
	h.counts[reason]++
	h.lastErr, h.lastErrAt = reason+": "+message, time.Now()
	if h.state == reason {
		return
	}
	h.state, h.since = reason, time.Now()
	h.log.Error("postgres writes failing; retrying with backoff, nothing is dropped",
		"reason", reason, "error", message, "check", hint(reason))
}

func (h *health) lastError() (string, time.Time) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.lastErr, h.lastErrAt
}

func (h *health) retries() map[string]int64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return maps.Clone(h.counts)
}
