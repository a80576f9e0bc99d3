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
// It uses the blocking write API of influxdb-client-go and owns the retries,
// because the library's non-blocking WriteAPI discards batches when its retry
// buffer fills or its retries run out.
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

	influxdb2 "github.com/influxdata/influxdb-client-go/v2"
	"github.com/influxdata/influxdb-client-go/v2/api"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mqflux/mqflux/bridge/output"
)

// Config says where to write and how patiently.
type Config struct {
	// URL of the server, e.g. http://127.0.0.1:8086. Token is "user:password"
	// or "" for InfluxDB 1.8; Org is "" and Bucket "database/retention-policy"
	// there.
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
	client  influxdb2.Client
	api     api.WriteAPIBlocking
	log     *slog.Logger
	metrics *metrics
	health  *health
	closed  atomic.Bool
}

// New checks cfg and prepares a Writer. It does not contact InfluxDB: an
// unreachable server is an outage to ride out, not a reason to fail start-up.
func New(cfg Config, logger *slog.Logger) (*Writer, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
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
	logger = logger.With("influx_url", cfg.URL, "bucket", cfg.Bucket)
	// The client's own timeout is a backstop a second past ours: each request
	// runs under a context with cfg.Timeout, which allows sub-second values.
	opts := influxdb2.DefaultOptions().
		SetUseGZip(false).
		SetPrecision(time.Nanosecond).
		SetHTTPRequestTimeout(uint(cfg.Timeout/time.Second) + 2)
	if cfg.Gzip {
		// Compressed by our transport, not the library (gzip.go).
		hc := opts.HTTPOptions().HTTPClient()
		hc.Transport = newGzipTransport(hc.Transport, gzipLevel)
	}
	client := influxdb2.NewClientWithOptions(cfg.URL, cfg.Token, opts)
	m := newMetrics()
	return &Writer{
		cfg:     cfg,
		client:  client,
		api:     client.WriteAPIBlocking(cfg.Org, cfg.Bucket),
		log:     logger,
		metrics: m,
		health:  newHealth(logger, m.up, cfg),
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
	if strings.TrimSpace(c.Bucket) == "" {
		return errors.New(`influx bucket is empty: want "database/retention-policy" (InfluxDB 1.8) or a bucket name (InfluxDB 2)`)
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
func (w *Writer) Up() bool { return w.health.isUp() }

// LastError is the newest failed attempt to write (its reason and
// InfluxDB's answer) and when it happened, even after writes succeed
// again; "" when there was none.
func (w *Writer) LastError() (string, time.Time) { return w.health.lastError() }

// Collectors returns the writer's metrics for the caller's registry.
func (w *Writer) Collectors() []prometheus.Collector { return w.metrics.collectors() }

// Close releases idle connections. Writes in progress should be cancelled
// through their contexts first; later Writes return ErrClosed. It never
// fails; the error is io.Closer's.
func (w *Writer) Close() error {
	if w.closed.Swap(true) {
		return nil
	}
	w.client.Close()
	return nil
}
