package pgwriter

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// migrate gives table name what pts need: the table itself, new columns
// and a key over every tag. Writers of several processes may do this at
// once, so it runs in one transaction holding an advisory lock on the
// table's name, reads the catalog again under the lock and adds only what
// is still missing; every statement is IF NOT EXISTS as well. It returns
// the table as the catalog has it afterwards.
func (w *Writer) migrate(ctx context.Context, name string, pts []*point) (*table, error) {
	target := ident(w.cfg.Schema, name)
	tx, err := w.pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("begin the change of %s: %w", target, err)
	}
	defer func() { _ = tx.Rollback(context.WithoutCancel(ctx)) }()
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtextextended($1, 0))`, "mqflux:"+target); err != nil {
		return nil, fmt.Errorf("lock %s for a change: %w", target, err)
	}
	t, err := learn(ctx, tx, w.cfg.Schema, name)
	if err != nil {
		return nil, err
	}
	c := plan(t, pts)
	if c.empty() {
		return t, nil
	}
	ts, err := w.timescale(ctx, tx)
	if err != nil {
		return nil, err
	}
	for _, stmt := range w.statements(t, name, c, ts) {
		if err := w.exec(ctx, tx, stmt); err != nil {
			return nil, fmt.Errorf("change %s: %s: %w", target, stmt, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("commit the change of %s: %w", target, err)
	}
	w.log.Info("table changed", "table", target, "created", c.create, "columns", names(c.newCols), "new_tags", c.newTags)
	return learn(ctx, w.pool, w.cfg.Schema, name)
}

// statements are the DDL that makes t take change c, in order.
func (w *Writer) statements(t *table, name string, c change, ts bool) []string {
	target := ident(w.cfg.Schema, name)
	var out []string
	if c.create {
		defs := []string{quote(timeColumn) + " timestamptz NOT NULL"}
		for _, col := range c.newCols {
			defs = append(defs, quote(col.name)+" "+col.typ)
		}
		out = append(out, fmt.Sprintf("CREATE TABLE IF NOT EXISTS %s (%s)", target, strings.Join(defs, ", ")))
		if ts {
			out = append(out, w.hypertable(target, c.newTags)...)
		}
	}
	for _, col := range c.newCols {
		if c.create {
			break
		}
		out = append(out, fmt.Sprintf("ALTER TABLE %s ADD COLUMN IF NOT EXISTS %s %s", target, quote(col.name), col.typ))
	}
	if len(c.newTags) > 0 || c.needKey {
		tags := append(append([]string(nil), t.tags...), c.newTags...)
		idx := keyName(name, tags)
		// NULLS NOT DISTINCT (PostgreSQL 15): a point without one of the
		// tags is the same series as another without it, as in InfluxDB.
		out = append(out, fmt.Sprintf("CREATE UNIQUE INDEX IF NOT EXISTS %s ON %s (%s) NULLS NOT DISTINCT",
			quote(idx), target, quoteAll(append([]string{timeColumn}, tags...))))
		// The old key would refuse two points that differ only in the new
		// tag; the new key holds every row the old one did (a key with one
		// more column stays unique).
		if t.index != "" && t.index != idx {
			out = append(out, fmt.Sprintf("DROP INDEX IF EXISTS %s", ident(w.cfg.Schema, t.index)))
		}
	}
	return out
}

// hypertable is what makes a new table a TimescaleDB hypertable
// partitioned by time, with the optional compression policy. Compression
// is segmented by the tags (device first: one device's readings are read
// together), which TimescaleDB wants of the columns of a unique index.
func (w *Writer) hypertable(target string, tags []string) []string {
	out := []string{fmt.Sprintf("SELECT create_hypertable(%s, 'time', if_not_exists => TRUE, migrate_data => TRUE)", literal(target))}
	if d, _ := w.cfg.Timescale.compressAfter(); d > 0 {
		segment := ""
		if len(tags) > 0 {
			segment = ", timescaledb.compress_segmentby = " + literal(quoteAll(tags))
		}
		out = append(out,
			fmt.Sprintf("ALTER TABLE %s SET (timescaledb.compress%s, timescaledb.compress_orderby = %s)",
				target, segment, literal(quote(timeColumn)+" DESC")),
			fmt.Sprintf("SELECT add_compression_policy(%s, INTERVAL %s, if_not_exists => TRUE)",
				literal(target), literal(fmt.Sprintf("%d seconds", int64(d/time.Second)))))
	}
	return out
}

// timescale reports whether the database has the timescaledb extension,
// asked once per writer, in the change's transaction (so that a change
// needs one connection only).
func (w *Writer) timescale(ctx context.Context, tx pgx.Tx) (bool, error) {
	w.tsMu.Lock()
	defer w.tsMu.Unlock()
	if w.ts != nil {
		return *w.ts, nil
	}
	var n int
	if err := tx.QueryRow(ctx, `SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'`).Scan(&n); err != nil {
		return false, fmt.Errorf("ask for the timescaledb extension: %w", err)
	}
	ts := n > 0
	w.ts = &ts
	if ts {
		w.log.Info("timescaledb found: new tables become hypertables")
	}
	return ts, nil
}

// execDDL runs one statement of a change.
func execDDL(ctx context.Context, tx pgx.Tx, stmt string) error {
	_, err := tx.Exec(ctx, stmt)
	return err
}

func names(cols []column) []string {
	out := make([]string, len(cols))
	for i, c := range cols {
		out[i] = c.name + " " + c.typ
	}
	return out
}
