package pgwriter

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgtype"
	"github.com/parquet-go/parquet-go"

	"github.com/mqflux/mqflux/flow/dump"
)

// DumpSource reads days for flow/dump from the tables this output
// writes, when it is the first output: one table per measurement, its
// key's columns the tags, its other columns the fields, typed as
// InfluxDB would type them, so that a day's Parquet files have the same
// shape as from InfluxDB.
func (c *Config) DumpSource() dump.Source { return sqlDump{cfg: *c} }

// sqlDump reads over a connection of its own per call: a dump asks a few
// questions per measurement.
type sqlDump struct{ cfg Config }

func (d sqlDump) connect(ctx context.Context) (*pgx.Conn, error) {
	cc, err := pgx.ParseConfig(d.cfg.URL)
	if err != nil {
		return nil, d.fail(err)
	}
	conn, err := pgx.ConnectConfig(ctx, cc)
	if err != nil {
		return nil, d.fail(err)
	}
	return conn, nil
}

// fail is err without the URL's password (pgx quotes the URL in some of
// its errors).
func (d sqlDump) fail(err error) error {
	return fmt.Errorf("postgres: %s", redact(err.Error(), d.cfg.URL))
}

// Measurements lists the tables of the schema that have a time column
// of type timestamptz, as the writer makes them; other tables (an
// operator's) are not readings.
func (d sqlDump) Measurements(ctx context.Context) ([]string, error) {
	conn, err := d.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	rows, err := conn.Query(ctx, `SELECT c.table_name FROM information_schema.columns c
		JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
		WHERE c.table_schema = $1 AND c.column_name = $2 AND c.data_type = 'timestamp with time zone'
		AND t.table_type = 'BASE TABLE' ORDER BY 1`, d.cfg.Schema, timeColumn)
	if err != nil {
		return nil, d.fail(err)
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, d.fail(err)
	}
	return names, nil
}

// Schema reads m's table from the catalog as the writer learns it: the
// key's columns after time are the tags (none for a table without an
// mqflux key), every other column a field.
func (d sqlDump) Schema(ctx context.Context, m string) (dump.Schema, error) {
	var sc dump.Schema
	conn, err := d.connect(ctx)
	if err != nil {
		return sc, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	t, err := learn(ctx, conn, d.cfg.Schema, m)
	if err != nil {
		return sc, d.fail(err)
	}
	if _, ok := t.cols[timeColumn]; !ok {
		return sc, nil
	}
	sc.Tags = append(sc.Tags, t.tags...)
	for col, typ := range t.cols {
		if col != timeColumn && !t.isTag(col) {
			sc.Fields = append(sc.Fields, dump.Field{Name: col, Type: dumpType(typ)})
		}
	}
	sort.Strings(sc.Tags)
	sort.Slice(sc.Fields, func(i, j int) bool { return sc.Fields[i].Name < sc.Fields[j].Name })
	return sc, nil
}

// dumpType is the field type of a column of SQL type typ: the writer's
// four, and what an operator's table may hold besides.
func dumpType(typ string) string {
	switch typ {
	case typeDouble, "real", "numeric":
		return dump.TypeFloat
	case typeBigint, "integer", "smallint":
		return dump.TypeInteger
	case typeBool:
		return dump.TypeBoolean
	}
	return dump.TypeString
}

// Rows reads m's rows of day in one statement ordered by time; pgx hands
// them over as they arrive from the server, which sends no faster than
// they are taken, so memory stays bounded however large the day. Each
// column is cast to the SQL type of its field type, so that every value
// scans into a holder of one type, reused row after row.
func (d sqlDump) Rows(ctx context.Context, m string, sc dump.Schema, day dump.Day, fn func([]parquet.Value) error) error {
	conn, err := d.connect(ctx)
	if err != nil {
		return err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	var ts time.Time
	sel := []string{quote(timeColumn)}
	dest := []any{&ts}
	conv := []func() parquet.Value{func() parquet.Value { return parquet.Int64Value(ts.UnixNano()) }}
	for _, f := range sc.Fields {
		expr, holder, value := scanField(f.Type)
		sel = append(sel, quote(f.Name)+expr)
		dest, conv = append(dest, holder), append(conv, value)
	}
	for _, t := range sc.Tags {
		expr, holder, value := scanField(dump.TypeString)
		sel = append(sel, quote(t)+expr)
		dest, conv = append(dest, holder), append(conv, value)
	}
	q := fmt.Sprintf(`SELECT %s FROM %s WHERE %s >= $1 AND %s < $2 ORDER BY %s`, strings.Join(sel, ", "),
		ident(d.cfg.Schema, m), quote(timeColumn), quote(timeColumn), quote(timeColumn))
	rows, err := conn.Query(ctx, q, day.Start, day.End)
	if err != nil {
		return d.fail(err)
	}
	defer rows.Close()
	row := make([]parquet.Value, len(conv))
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return d.fail(err)
		}
		for i, c := range conv {
			row[i] = c()
		}
		if err := fn(row); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return d.fail(err)
	}
	return nil
}

// scanField is the cast that brings a column to the SQL type of field
// type typ, a holder to scan it into and the reader of the holder.
func scanField(typ string) (string, any, func() parquet.Value) {
	switch typ {
	case dump.TypeFloat:
		var v pgtype.Float8
		return "::float8", &v, func() parquet.Value {
			if !v.Valid {
				return parquet.NullValue()
			}
			return parquet.DoubleValue(v.Float64)
		}
	case dump.TypeInteger:
		var v pgtype.Int8
		return "::int8", &v, func() parquet.Value {
			if !v.Valid {
				return parquet.NullValue()
			}
			return parquet.Int64Value(v.Int64)
		}
	case dump.TypeBoolean:
		var v pgtype.Bool
		return "::bool", &v, func() parquet.Value {
			if !v.Valid {
				return parquet.NullValue()
			}
			return parquet.BooleanValue(v.Bool)
		}
	}
	// Scanning text into a []byte copies it, nil for NULL: the value may
	// be kept after the next row is read.
	var v []byte
	return "::text", &v, func() parquet.Value {
		if v == nil {
			return parquet.NullValue()
		}
		return parquet.ByteArrayValue(v)
	}
}
