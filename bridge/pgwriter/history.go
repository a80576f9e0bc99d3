package pgwriter

import (
	"context"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/mqflux/mqflux/bridge/history"
)

// HistorySource answers the console's history queries from the tables
// this output writes, when it is the first output: one field's means in
// buckets (date_bin; time_bucket where TimescaleDB is installed).
func (c *Config) HistorySource() history.Source { return sqlHistory{cfg: *c} }

// sqlHistory reads one field's history in SQL, over a connection of its
// own per query: the console asks a few at a time.
type sqlHistory struct{ cfg Config }

// Read answers q: the means of q.Field of device q.Device over q.Range, in
// buckets of the interval history.Window gives, oldest first. A table or
// column that does not exist yet is an empty series, as InfluxDB answers
// for a measurement it does not hold; a field that is not a number is an
// invalid query.
func (h sqlHistory) Read(ctx context.Context, q history.Query) (history.Series, error) {
	span, interval, err := history.Window(q)
	if err != nil {
		return history.Series{}, err
	}
	s := history.Series{Device: q.Device, Measurement: q.Measurement, Field: q.Field, Range: q.Range,
		Interval: interval.String(), Points: []history.Point{}}
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
	var ts int
	if err := conn.QueryRow(ctx, `SELECT count(*) FROM pg_extension WHERE extname = 'timescaledb'`).Scan(&ts); err != nil {
		return fail(err)
	}
	rows, err := conn.Query(ctx, historySQL(h.cfg.Schema, q.Measurement, q.Field, ts > 0),
		fmt.Sprintf("%d seconds", int64(interval/time.Second)), q.Device, fmt.Sprintf("%d seconds", int64(span/time.Second)))
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
