package pgwriter

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mqflux/mqflux/flow/history"
)

// HistorySource answers the console's history queries from the tables
// this output writes, when it is the first output: one field's means in
// buckets (date_bin; time_bucket where TimescaleDB is installed).
func (c *Config) HistorySource() history.Source { return sqlHistory{cfg: *c} }

// sqlHistory reads one field's history in SQL, over a connection of its
// own per query: the console asks a few at a time.
type sqlHistory struct{ cfg Config }

// Read answers q as history.Reader does for InfluxDB: the range's
// statistics, the field's first and last reading ever, and the readings
// themselves when the range holds at most history.MaxPoints, else their
// means in buckets of the interval history.Window gives, oldest first. A
// table or column that does not exist yet is an empty series, as InfluxDB
// answers for a measurement it does not hold; a field that is not a number
// is an invalid query.
func (h sqlHistory) Read(ctx context.Context, q history.Query) (history.Series, error) {
	span, interval, err := history.Window(q)
	if err != nil {
		return history.Series{}, err
	}
	to := time.Now()
	from := to.Add(-span)
	s := history.Series{Device: q.Device, Measurement: q.Measurement, Field: q.Field, Range: q.Range,
		From: from.UnixMilli(), To: to.UnixMilli(), Points: []history.Point{}}
	fail := func(err error) (history.Series, error) {
		return history.Series{}, fmt.Errorf("history %s/%s.%s: %s", q.Device, q.Measurement, q.Field, redact(err.Error(), h.cfg.URL))
	}
	cc, err := pgx.ParseConfig(h.cfg.URL)
	if err != nil {
		return fail(err)
	}
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return fail(err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	t, err := learn(ctx, conn, h.cfg.Schema, q.Measurement)
	if err != nil {
		return fail(err)
	}
	typ, ok := t.cols[q.Field]
	if !ok || !t.isTag("device") {
		return s, nil
	}
	if typ != typeDouble && typ != typeBigint {
		return history.Series{}, fmt.Errorf("%w: field %q of %q is %s; charts need numbers", history.ErrInvalid, q.Field, q.Measurement, typ)
	}
	table, field := ident(h.cfg.Schema, q.Measurement), quote(q.Field)
	if s.Stats, err = sqlStats(ctx, conn, table, field, q.Device, from); err != nil {
		return fail(err)
	}
	if s.First, err = sqlOne(ctx, conn, table, field, q.Device, "ASC"); err != nil {
		return fail(err)
	}
	if s.Last, err = sqlOne(ctx, conn, table, field, q.Device, "DESC"); err != nil {
		return fail(err)
	}
	if s.Stats == nil {
		return s, nil
	}
	if s.Last != nil {
		s.Stats.Last = *s.Last
	}
	var rows pgx.Rows
	if s.Raw = s.Stats.Count <= history.MaxPoints; s.Raw {
		rows, err = conn.Query(ctx, fmt.Sprintf(`SELECT (extract(epoch FROM "time") * 1000)::float8, %s::float8
			FROM %s WHERE "device" = $1 AND "time" > $2 AND %s IS NOT NULL ORDER BY "time"`, field, table, field),
			q.Device, from)
	} else {
		s.Interval = interval.String()
		var ts int
		if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'`).Scan(&ts); err != nil {
			return fail(err)
		}
		rows, err = conn.Query(ctx, historySQL(h.cfg.Schema, q.Measurement, q.Field, ts > 0),
			fmt.Sprintf("%d seconds", int64(interval/time.Second)), q.Device, fmt.Sprintf("%d seconds", int64(span/time.Second)))
	}
	if err != nil {
		return fail(err)
	}
	defer rows.Close()
	for rows.Next() {
		var p history.Point
		if err := rows.Scan(&p[0], &p[1]); err != nil {
			return fail(err)
		}
		s.Points = append(s.Points, p)
	}
	if err := rows.Err(); err != nil {
		return fail(err)
	}
	return s, nil
}

// sqlStats is the count, min, mean and max of field's readings since
// from; nil when there are none.
func sqlStats(ctx context.Context, conn *pgx.Conn, table, field, device string, from time.Time) (*history.Stats, error) {
	var st history.Stats
	var lo, mean, hi *float64
	err := conn.QueryRow(ctx, fmt.Sprintf(`SELECT count(%s), min(%s)::float8, avg(%s)::float8, max(%s)::float8
		FROM %s WHERE "device" = $1 AND "time" > $2`, field, field, field, field, table), device, from).
		Scan(&st.Count, &lo, &mean, &hi)
	if err != nil || st.Count == 0 || lo == nil || mean == nil || hi == nil {
		return nil, err
	}
	st.Min, st.Mean, st.Max = *lo, *mean, *hi
	return &st, nil
}

// sqlOne is field's first (ASC) or last (DESC) reading ever; nil when
// there is none.
func sqlOne(ctx context.Context, conn *pgx.Conn, table, field, device, order string) (*history.Point, error) {
	var p history.Point
	err := conn.QueryRow(ctx, fmt.Sprintf(`SELECT (extract(epoch FROM "time") * 1000)::float8, %s::float8
		FROM %s WHERE "device" = $1 AND %s IS NOT NULL ORDER BY "time" %s LIMIT 1`, field, table, field, order), device).
		Scan(&p[0], &p[1])
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return &p, nil
}

// historySQL is the query of a field's means: $1 the bucket, $2 the
// device, $3 the span, each an interval or text parameter; the names are
// quoted identifiers.
func historySQL(schema, table, field string, timescale bool) string {
	bin := `date_bin($1::interval, "time", TIMESTAMPTZ '2000-01-01 00:00:00+00')`
	if timescale {
		bin = `time_bucket($1::interval, "time")`
	}
	return fmt.Sprintf(`SELECT (extract(epoch FROM %s) * 1000)::float8 AS bucket, avg(%s)::float8
		FROM %s WHERE "device" = $2 AND "time" > now() - $3::interval AND %s IS NOT NULL
		GROUP BY 1 ORDER BY 1`, bin, quote(field), ident(schema, table), quote(field))
}
