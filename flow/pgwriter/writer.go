// Package pgwriter is the PostgreSQL output (kind postgres): one table per
// measurement, as Telegraf's postgresql output makes them, with a
// timestamptz column time, one text column per tag (device first) and one
// column per field in its type (double precision, bigint, boolean, text).
// A new tag or field becomes a new column; a table and its columns are
// learnt from the catalog on first use and again after any failure, so
// that several writers, processes and restarts agree.
//
// Every table has a unique index over (time, tags...) NULLS NOT DISTINCT,
// and every batch is one INSERT ... ON CONFLICT DO UPDATE, so a reading
// the spool hands out twice is stored once. A field whose column has
// another type is refused with PostgreSQL's own words and dead-lettered;
// the rest of the batch is stored. A batch PostgreSQL refuses for a reason
// the writer did not foresee is bisected down to the refused points.
// Anything else (PostgreSQL down, restarting, refusing the login, a
// missing schema) is an error from Write, which the pipeline retries with
// backoff.
//
// Where the database has the timescaledb extension, a new table becomes a
// hypertable (see migrate.go); TimescaleDB cannot run in the test
// environment, so those statements are tested against a recorded
// expectation (testdata/timescale.golden).
package pgwriter

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/mqflux/mqflux/flow/output"
)

// A Writer is one output of the pipeline.
var (
	_ output.Output        = (*Writer)(nil)
	_ output.Prober        = (*Writer)(nil)
	_ output.Checker       = (*Writer)(nil)
	_ output.ErrorReporter = (*Writer)(nil)
	_ output.StatsReporter = (*Writer)(nil)
	_ io.Closer            = (*Writer)(nil)
)

// ErrClosed is returned by Write after Close.
var ErrClosed = errors.New("postgres writer closed")

// Writer writes batches of line protocol into PostgreSQL tables. It is
// safe for concurrent use.
type Writer struct {
	cfg    Config
	pool   *pgxpool.Pool
	log    *slog.Logger
	health *output.Health
	closed atomic.Bool

	mu     sync.Mutex
	tables map[string]*table // by measurement, as last learnt

	tsMu sync.Mutex
	ts   *bool // whether timescaledb is installed; nil until asked

	// exec runs one DDL statement; a test records them.
	exec func(ctx context.Context, tx pgx.Tx, stmt string) error
	// copy stages a batch with COPY (true) rather than multi-row INSERTs
	// (BENCHMARKS.md compares them).
	copy bool
}

// New prepares a Writer from a validated Config. It does not connect:
// PostgreSQL being away is an outage to ride out, not a reason to fail
// start-up.
func New(cfg Config, log *slog.Logger) (*Writer, error) {
	if problem := checkURL(cfg.URL); problem != "" {
		return nil, fmt.Errorf("postgres url: %s", problem)
	}
	pc, err := pgxpool.ParseConfig(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("postgres url: %s", redact(err.Error(), cfg.URL))
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = output.DefaultConcurrency
	}
	// One connection per write in flight, one for probes and DDL.
	pc.MaxConns = int32(cfg.Concurrency + 1)
	if pc.ConnConfig.ConnectTimeout == 0 || pc.ConnConfig.ConnectTimeout > cfg.Timeout {
		pc.ConnConfig.ConnectTimeout = cfg.Timeout
	}
	if _, ok := pc.ConnConfig.RuntimeParams["application_name"]; !ok {
		pc.ConnConfig.RuntimeParams["application_name"] = "mqflux"
	}
	pool, err := pgxpool.NewWithConfig(context.Background(), pc)
	if err != nil {
		return nil, fmt.Errorf("postgres pool: %w", err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := cfg.Describe()
	log = log.With("postgres", d.Target, "schema", cfg.Schema)
	return &Writer{cfg: cfg, pool: pool, log: log, health: output.NewHealth(output.HealthOptions{Log: log, Store: "postgres", Hint: hint}),
		tables: map[string]*table{}, exec: execDDL, copy: true}, nil
}

// Write stores records, each one or more lines of line protocol. It
// returns once every record is stored or refused (listed in rejected with
// the reason); an error means PostgreSQL could not be written to and
// nothing is promised: the caller offers the batch again.
func (w *Writer) Write(ctx context.Context, records [][]byte) ([]output.Rejected, error) {
	if w.closed.Load() {
		return nil, ErrClosed
	}
	now := time.Now()
	bad := map[int]string{}
	byTable := map[string][]*point{}
	var order []string
	for i, r := range records {
		pts, err := decode(i, r, now)
		if err != nil {
			bad[i] = err.Error()
			continue
		}
		for _, p := range pts {
			if byTable[p.table] == nil {
				order = append(order, p.table)
			}
			byTable[p.table] = append(byTable[p.table], p)
		}
	}
	for _, name := range order {
		if err := w.writeTable(ctx, name, byTable[name], bad); err != nil {
			return nil, err
		}
	}
	w.health.Reached()
	rejected := make([]output.Rejected, 0, len(bad))
	for i, reason := range bad {
		rejected = append(rejected, output.Rejected{Index: i, Reason: reason})
	}
	sort.Slice(rejected, func(i, j int) bool { return rejected[i].Index < rejected[j].Index })
	return rejected, nil
}

// writeTable stores the points of one table, adding to bad the records of
// points PostgreSQL refuses. An error is a failure to retry.
func (w *Writer) writeTable(ctx context.Context, name string, pts []*point, bad map[int]string) error {
	ctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	t, err := w.prepare(ctx, name, pts, false)
	if err != nil {
		return w.failed(ctx, err, pts, bad)
	}
	ok, err := w.sortOut(ctx, t, name, pts, bad)
	if err != nil {
		return err
	}
	return w.store(ctx, t, name, ok, bad, false)
}

// prepare is the table as it must be for pts: learnt when not known (or
// when fresh), changed when it lacks a column or a tag.
func (w *Writer) prepare(ctx context.Context, name string, pts []*point, fresh bool) (*table, error) {
	w.mu.Lock()
	t := w.tables[name]
	w.mu.Unlock()
	if t == nil || fresh {
		var err error
		if t, err = learn(ctx, w.pool, w.cfg.Schema, name); err != nil {
			return nil, err
		}
	}
	if !plan(t, pts).empty() {
		var err error
		if t, err = w.migrate(ctx, name, pts); err != nil {
			return nil, err
		}
	}
	w.mu.Lock()
	w.tables[name] = t
	w.mu.Unlock()
	return t, nil
}

// forget drops what the writer knows of a table, so that the next write
// learns it again from the catalog.
func (w *Writer) forget(name string) {
	w.mu.Lock()
	delete(w.tables, name)
	w.mu.Unlock()
}

// sortOut returns the points t takes as they are; each other one is a
// type conflict, refused with PostgreSQL's words for it. PostgreSQL is
// asked once per kind of conflict, so that a device sending thousands of
// wrong values costs one question, not thousands.
func (w *Writer) sortOut(ctx context.Context, t *table, name string, pts []*point, bad map[int]string) ([]*point, error) {
	ok := pts[:0:0]
	words := map[string]string{}
	for _, p := range pts {
		why := conflict(t, p)
		if why == "" {
			ok = append(ok, p)
			continue
		}
		reason, known := words[why]
		if !known {
			var err error
			if reason, err = w.explain(ctx, t, name, p, why); err != nil {
				return nil, w.failed(ctx, err, nil, bad)
			}
			words[why] = reason
		}
		bad[p.rec] = reason
	}
	return ok, nil
}

// store writes pts in one statement. When PostgreSQL refuses it for a
// reason of the data (not of the connection), the table is learnt again
// once, in case another writer changed it, and then the batch is
// bisected down to the points it refuses.
func (w *Writer) store(ctx context.Context, t *table, name string, pts []*point, bad map[int]string, relearnt bool) error {
	if len(pts) == 0 {
		return nil
	}
	err := w.insert(ctx, t, name, pts)
	if err == nil {
		return nil
	}
	if _, retry := classify(err); retry || ctx.Err() != nil {
		w.forget(name)
		return w.failed(ctx, err, nil, bad)
	}
	if !relearnt {
		w.log.Debug("batch refused; learning the table again", "table", name, "err", err)
		if t, err = w.prepare(ctx, name, pts, true); err != nil {
			return w.failed(ctx, err, pts, bad)
		}
		if pts, err = w.sortOut(ctx, t, name, pts, bad); err != nil {
			return err
		}
		return w.store(ctx, t, name, pts, bad, true)
	}
	if len(pts) == 1 {
		bad[pts[0].rec] = "PostgreSQL: " + err.Error()
		return nil
	}
	h := len(pts) / 2
	if err := w.store(ctx, t, name, pts[:h], bad, true); err != nil {
		return err
	}
	return w.store(ctx, t, name, pts[h:], bad, true)
}

// failed turns err into Write's answer: a failure to retry is returned
// (and counted); PostgreSQL refusing the points themselves (a change of
// their table it will not make) refuses each of pts with its words.
func (w *Writer) failed(ctx context.Context, err error, pts []*point, bad map[int]string) error {
	if ctx.Err() != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	reason, retry := classify(err)
	if retry || pts == nil {
		w.health.Failed(reason, err.Error())
		return err
	}
	for _, p := range pts {
		bad[p.rec] = "PostgreSQL: " + err.Error()
	}
	return nil
}

// Up reports whether the last attempt reached PostgreSQL and was not
// refused for the connection, the login or the schema.
func (w *Writer) Up() bool { return w.health.Up() }

// LastError is the newest failed attempt, its reason and PostgreSQL's
// words, and when it happened; "" when there was none.
func (w *Writer) LastError() (string, time.Time) { return w.health.LastError() }

// Stats counts the failed attempts by reason.
func (w *Writer) Stats() output.Stats { return output.Stats{Retries: w.health.Retries()} }

// Probe asks PostgreSQL whether it answers, so that a server started while
// it is away says so at once.
func (w *Writer) Probe(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, w.cfg.Timeout)
	defer cancel()
	if err := w.pool.Ping(ctx); err != nil {
		reason, _ := classify(err)
		w.health.Failed(reason, err.Error())
		return
	}
	w.health.Reached()
}

// Close closes the connections. Writes in progress should be cancelled
// through their contexts first; later Writes return ErrClosed.
func (w *Writer) Close() error {
	if !w.closed.Swap(true) {
		w.pool.Close()
	}
	return nil
}
