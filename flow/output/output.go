// Package output is the seam between the spool and the stores it feeds. An
// Output is one sink of line-protocol batches (InfluxDB 1.x, 2.x and 3.x,
// VictoriaMetrics: kind influxdb), each fed from the spool at its own pace;
// a kind of output registers itself (registry.go). The interface is one method, in the manner of Telegraf's Output
// and Benthos' batch writers with per-message errors; what only some outputs
// can do (report health, probe, export metrics, release connections) are
// optional interfaces the caller finds by type assertion.
//
// Each kind of output registers itself (Register, from its package's init)
// with its configuration's defaults and a constructor; the server decodes
// an outputs: entry's common keys and hands the rest to the kind. See
// registry.go and "Adding an output" in ARCHITECTURE.md.
//
// # Who retries
//
// A non-nil error from Write means "nothing of this batch is settled": the
// caller keeps the batch and offers it again after a backoff (Backoff, with
// the output's RetryAfter hint if it gave one), forever, until its context
// ends. So the simplest output is one request per Write and gets jittered,
// capped backoff for free.
//
// An output may also retry inside Write when it can do better than starting
// the batch over: the InfluxDB writer does, because while it bisects a batch
// InfluxDB refused, a retry must resend only the half in flight, and the
// halves already stored and the rejections already found would otherwise be
// lost work. Such an output returns an error only when ctx is done, and the
// caller's loop never turns. Both use Backoff, so the waits are the same.
package output

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// How an output is fed from the spool when nothing else is configured: up
// to DefaultBatchSize records per Write, a partial batch after
// DefaultFlushInterval, DefaultConcurrency Writes in flight.
//
// The flush interval is how long a reading may wait in the spool for its
// batch to fill, so it is the floor of publish-to-queryable latency at any
// rate below a full batch per interval (5,000 readings per 200 ms). At 1 s,
// 10,000 devices reporting every 10 s saw a p99 above 1 s; 200 ms costs at
// most 5 write requests per second per output at low rates, and nothing at
// high ones, where batches fill first (BENCHMARKS.md, "10,000 devices").
const (
	DefaultBatchSize     = 5000
	DefaultFlushInterval = 200 * time.Millisecond
	DefaultConcurrency   = 2
)

// Output stores batches of records. Each record is one or more
// '\n'-terminated lines of line protocol with nanosecond timestamps.
//
// Write returns once the batch is settled: every record is either stored or
// listed in rejected with the sink's reason (a record it will never take,
// such as a field type conflict; the caller dead-letters it). It returns a
// non-nil error instead when the batch is not settled (the sink is down,
// throttling, or ctx is done); then nothing is promised of any record and the
// caller offers the whole batch again later, so a record stored twice must be
// harmless (in line protocol it is: the same series and time overwrite
// themselves). Write must be safe for concurrent calls.
type Output interface {
	Write(ctx context.Context, batch [][]byte) (rejected []Rejected, err error)
}

// Rejected names a record the sink refused for good, and why.
type Rejected struct {
	Index  int    // into the batch given to Write
	Reason string // the sink's own words, for the dead-letter file
}

// Prober is an Output that can tell whether its sink answers before the
// first write; the caller runs Probe once when it starts.
type Prober interface {
	Probe(ctx context.Context)
}

// Checker is an Output that knows whether its sink currently takes writes.
// An Output without it is taken to be up.
type Checker interface {
	Up() bool
}

// ErrorReporter is an Output that remembers its newest failure, for health
// views: the sink's own words and when.
type ErrorReporter interface {
	LastError() (message string, at time.Time)
}

// LastError returns o's newest failure when it is an ErrorReporter.
func LastError(o Output) (string, time.Time) {
	if r, ok := o.(ErrorReporter); ok {
		return r.LastError()
	}
	return "", time.Time{}
}

// Instrumented is an Output with metrics of its own, for the caller to
// register next to its own.
type Instrumented interface {
	Collectors() []prometheus.Collector
}

// Stats are what an output counts of itself, since it was built, for the
// views (/v1/pipeline, the console); its metrics read the same counts.
type Stats struct {
	// Retries counts the attempts that failed inside Write and were made
	// again, by the output's own reason (network, throttled, ...).
	Retries map[string]int64
}

// StatsReporter is an Output that keeps Stats.
type StatsReporter interface {
	Stats() Stats
}

// StatsOf returns o's Stats when it is a StatsReporter, else none.
func StatsOf(o Output) Stats {
	if r, ok := o.(StatsReporter); ok {
		return r.Stats()
	}
	return Stats{}
}

// Up reports o's health: its Up when it is a Checker, else true.
func Up(o Output) bool {
	if c, ok := o.(Checker); ok {
		return c.Up()
	}
	return true
}

// Collectors returns o's metrics when it is Instrumented, else none.
func Collectors(o Output) []prometheus.Collector {
	if i, ok := o.(Instrumented); ok {
		return i.Collectors()
	}
	return nil
}

// RetryError is a retryable error carrying how long the sink asked to be
// left alone (an HTTP Retry-After, say).
type RetryError struct {
	Err   error
	After time.Duration
}

func (e *RetryError) Error() string { return e.Err.Error() }
func (e *RetryError) Unwrap() error { return e.Err }

// RetryAfter is the wait err asks for, or 0 when it does not say.
func RetryAfter(err error) time.Duration {
	var re *RetryError
	if errors.As(err, &re) {
		return re.After
	}
	return 0
}
