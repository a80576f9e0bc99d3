// Package influxwriter stores line-protocol records in InfluxDB without ever
// losing one: every record is either accepted by InfluxDB or rejected by it as
// malformed; everything else (outages, throttling, timeouts, bad credentials)
// is retried with backoff until it succeeds or the caller gives up.
//
// A Writer is an output.Output (and a Prober, Checker, Instrumented and
// io.Closer). It retries inside Write rather than leaving that to the caller,
// so its Write returns an error only when ctx is done: a retry while it
// bisects a refused batch resends only the half in flight, keeping the halves
// already stored and the rejections already found.
//
// It speaks one of three write APIs (Config.API), each through an
// influx.Writer that makes one request and classifies the answer (package
// influx), so that bisecting, splitting and retrying are the same for all: "v1", InfluxDB 1.x's /write,
// which VictoriaMetrics also serves; "v2" (the default), /api/v2/write
// through the blocking write API of influxdb-client-go (InfluxDB 2.x, and
// 1.8 through its compatibility endpoint); "v3", InfluxDB 3's
// /api/v3/write_lp with accept_partial=false. v1 and v3 use package
// influx's net/http client. The Writer owns the retries in
// every case, because the library's non-blocking WriteAPI discards batches
// when its retry buffer fills or its retries run out.
//
// No InfluxDB 3 server can run in the test environment, so v3 is tested
// against a recorded contract: an HTTP server answering exactly as
// InfluxDB 3 Core documents its write_lp answers (testdata/v3). v1 is
// tested against real InfluxDB 1.8 and real VictoriaMetrics, v2 against
// real InfluxDB 1.8.
//
// Every metric carries the const label output=Config.Name, so that two
// writers in one process register side by side.
package influxwriter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mqflux/mqflux/flow/influx"
	"github.com/mqflux/mqflux/flow/output"
)

// Config says where to write and how patiently.
type Config struct {
	// Name is the output's name, the value of the output label on every
	// metric; "" means DefaultName.
	Name string
	// API is the write API: APIv1, APIv2 or APIv3; "" means DefaultAPI.
	API string
	// URL of the server, e.g. http://127.0.0.1:8086. Token is "user:password"
	// or "" for InfluxDB 1.x (either API), an API token for InfluxDB 2 and
	// 3 ("" where InfluxDB 3 runs without authentication). Org is for v2
	// on InfluxDB 2 only. Bucket is "database/retention-policy" or
	// "database" for v1 (and for v2 on InfluxDB 1.8), a bucket name for v2
	// on InfluxDB 2, a database name for v3.
	URL, Token, Org, Bucket string
	Gzip                    bool          // compress request bodies; New's callers normally want true (see DefaultConfig)
	Timeout                 time.Duration // per request; 0 means DefaultTimeout
	MinBackoff, MaxBackoff  time.Duration // jittered exponential; 0 means DefaultMinBackoff and DefaultMaxBackoff
}

// DefaultConfig returns a Config with the documented defaults for url and
// bucket: gzip on, DefaultTimeout, DefaultMinBackoff..DefaultMaxBackoff.
func DefaultConfig(url, bucket string) Config {
	return Config{URL: url, Bucket: bucket, Gzip: true, Timeout: DefaultTimeout,
		MinBackoff: DefaultMinBackoff, MaxBackoff: DefaultMaxBackoff}
}

// ErrClosed is returned by Write after Close.
var ErrClosed = errors.New("influx writer closed")

// Rejected names a record InfluxDB refused as malformed, with InfluxDB's own
// message as the reason.
type Rejected = output.Rejected

// A Writer is one output of the pipeline.
var (
	_ output.Output       = (*Writer)(nil)
	_ output.Prober       = (*Writer)(nil)
	_ output.Checker      = (*Writer)(nil)
	_ output.Instrumented = (*Writer)(nil)
	_ io.Closer           = (*Writer)(nil)
)

// Writer writes records to one InfluxDB bucket. It is safe for concurrent use.
type Writer struct {
	cfg     Config
	sender  influx.Writer
	log     *slog.Logger
	metrics *metrics
	health  *output.Health
	closed  atomic.Bool
}

// New checks cfg and prepares a Writer. It does not contact InfluxDB: an
// unreachable server is an outage to ride out, not a reason to fail start-up.
func New(cfg Config, logger *slog.Logger) (*Writer, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	cfg.API, _ = normalAPI(cfg.API)
	if cfg.Name == "" {
		cfg.Name = DefaultName
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff = DefaultMinBackoff
	}
	if cfg.MaxBackoff == 0 {
		cfg.MaxBackoff = DefaultMaxBackoff
	}
	if cfg.MaxBackoff < cfg.MinBackoff {
		cfg.MaxBackoff = cfg.MinBackoff
	}
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	logger = logger.With("output", cfg.Name, "influx_url", cfg.URL, "api", cfg.API, "bucket", cfg.Bucket)
	m := newMetrics(cfg.Name)
	return &Writer{
		cfg:     cfg,
		sender:  newSender(cfg),
		log:     logger,
		metrics: m,
		health:  output.NewHealth(output.HealthOptions{Log: logger, Store: "influx", Hint: hint, Slowed: "throttled", Gauge: m.up}),
	}, nil
}

func (c Config) validate() error {
	u, err := url.Parse(c.URL)
	if err != nil {
		return fmt.Errorf("influx url %q: %w", c.URL, err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return fmt.Errorf("influx url %q: want http://host:port or https://host:port", c.URL)
	}
	api, ok := normalAPI(c.API)
	if !ok {
		return fmt.Errorf("influx api %q: want one of %s", c.API, strings.Join(APIs(), ", "))
	}
	if problem := checkBucket(api, c.Bucket); problem != "" {
		return fmt.Errorf("influx bucket %s", problem)
	}
	if c.Timeout < 0 || c.MinBackoff < 0 || c.MaxBackoff < 0 {
		return fmt.Errorf("influx timeout %s, min backoff %s, max backoff %s: none may be negative",
			c.Timeout, c.MinBackoff, c.MaxBackoff)
	}
	return nil
}

// Write stores records, each one or more '\n'-terminated lines of line
// protocol with nanosecond timestamps. It returns once InfluxDB has accepted
// every record or rejected some as malformed (listed in rejected; all others
// are stored), retrying everything else forever with backoff. It returns
// early only when ctx is done, with ctx.Err(), and then promises nothing.
func (w *Writer) Write(ctx context.Context, records [][]byte) (rejected []Rejected, err error) {
	if w.closed.Load() {
		return nil, ErrClosed
	}
	if len(records) == 0 {
		return nil, nil
	}
	idx := make([]int, len(records))
	for i := range idx {
		idx[i] = i
	}
	b := batch{records: records, idx: idx}
	if err := w.store(ctx, b, &rejected); err != nil {
		return nil, err
	}
	return rejected, nil
}

// Up reports whether the last request reached InfluxDB and was not refused
// for authentication or configuration.
func (w *Writer) Up() bool { return w.health.Up() }

// LastError is the newest failed attempt to write (its reason and
// InfluxDB's answer) and when it happened, even after writes succeed
// again; "" when there was none.
func (w *Writer) LastError() (string, time.Time) { return w.health.LastError() }

// Collectors returns the writer's metrics for the caller's registry.
func (w *Writer) Collectors() []prometheus.Collector { return w.metrics.collectors() }

// Close releases idle connections. Writes in progress should be cancelled
// through their contexts first; later Writes return ErrClosed. It never
// fails; the error is io.Closer's.
func (w *Writer) Close() error {
	if w.closed.Swap(true) {
		return nil
	}
	w.sender.Close()
	return nil
}
