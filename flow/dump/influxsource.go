package dump

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/mqflux/mqflux/flow/influx"
)

// InfluxSource reads from a store that answers InfluxQL (InfluxDB 1.x,
// 2.x and 3.x through their /query API) with chunked=true, chunkSize rows
// at a time (influx.DefaultChunkSize when 0).
func InfluxSource(e influx.Endpoint, chunkSize int) Source {
	return influxSource{e: e, chunkSize: chunkSize}
}

type influxSource struct {
	e         influx.Endpoint
	chunkSize int
}

// Measurements lists every measurement of the database.
func (s influxSource) Measurements(ctx context.Context) ([]string, error) {
	var out []string
	err := s.e.QueryStream(ctx, "SHOW MEASUREMENTS", s.chunkSize, func(sr influx.Series) error {
		for _, row := range sr.Values {
			if len(row) > 0 {
				var name string
				if err := json.Unmarshal(row[0], &name); err != nil {
					return fmt.Errorf("SHOW MEASUREMENTS: %w", err)
				}
				out = append(out, name)
			}
		}
		return nil
	})
	return out, err
}

// Schema asks for m's tag and field keys. A field InfluxDB holds with
// several types (in different shards) gets one that takes every value:
// float for integers and floats, else string.
func (s influxSource) Schema(ctx context.Context, m string) (Schema, error) {
	var sc Schema
	from := " FROM " + quoteIdent(m)
	err := s.e.QueryStream(ctx, "SHOW TAG KEYS"+from, s.chunkSize, func(sr influx.Series) error {
		for _, row := range sr.Values {
			var k string
			if len(row) > 0 && json.Unmarshal(row[0], &k) == nil {
				sc.Tags = append(sc.Tags, k)
			}
		}
		return nil
	})
	if err != nil {
		return sc, fmt.Errorf("tag keys of %s: %w", m, err)
	}
	types := map[string][]string{}
	err = s.e.QueryStream(ctx, "SHOW FIELD KEYS"+from, s.chunkSize, func(sr influx.Series) error {
		for _, row := range sr.Values {
			var k, t string
			if len(row) > 1 && json.Unmarshal(row[0], &k) == nil && json.Unmarshal(row[1], &t) == nil {
				types[k] = append(types[k], t)
			}
		}
		return nil
	})
	if err != nil {
		return sc, fmt.Errorf("field keys of %s: %w", m, err)
	}
	for k, ts := range types {
		sc.Fields = append(sc.Fields, Field{k, unifyTypes(ts)})
	}
	sort.Strings(sc.Tags)
	sort.Slice(sc.Fields, func(i, j int) bool { return sc.Fields[i].Name < sc.Fields[j].Name })
	return sc, nil
}

// Rows streams the answer of selectDay chunk by chunk, each value read
// from its JSON as its column's type says.
func (s influxSource) Rows(ctx context.Context, m string, sc Schema, day Day, fn func([]parquet.Value) error) error {
	readers := []func(json.RawMessage) (parquet.Value, error){readTime}
	for _, f := range sc.Fields {
		readers = append(readers, jsonReader(f.Type))
	}
	for range sc.Tags {
		readers = append(readers, readString)
	}
	names := sc.Columns()
	row := make([]parquet.Value, len(readers))
	return s.e.QueryStream(ctx, selectDay(m, sc, day), s.chunkSize, func(sr influx.Series) error {
		for _, values := range sr.Values {
			if len(values) != len(readers) {
				return fmt.Errorf("row of %d values, want %d columns", len(values), len(readers))
			}
			for i, raw := range values {
				if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
					row[i] = parquet.NullValue()
					continue
				}
				v, err := readers[i](raw)
				if err != nil {
					return fmt.Errorf("column %s: %w", names[i], err)
				}
				row[i] = v
			}
			if err := fn(row); err != nil {
				return err
			}
		}
		return nil
	})
}

func unifyTypes(ts []string) string {
	t := ts[0]
	for _, u := range ts[1:] {
		switch {
		case u == t:
		case isNumeric(u) && isNumeric(t):
			t = TypeFloat
		default:
			return TypeString
		}
	}
	return t
}

func isNumeric(t string) bool { return t == TypeFloat || t == TypeInteger || t == TypeUnsigned }

// selectDay is the query of m's rows in day: every field and tag named
// with its role, so that a tag and a field of one name stay apart and
// the answer's columns come in this order after time.
func selectDay(m string, sc Schema, d Day) string {
	var b strings.Builder
	b.WriteString("SELECT ")
	for i, f := range sc.Fields {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(quoteIdent(f.Name) + "::field")
	}
	for _, t := range sc.Tags {
		b.WriteString(", " + quoteIdent(t) + "::tag")
	}
	fmt.Fprintf(&b, " FROM %s WHERE time >= '%s' AND time < '%s'", quoteIdent(m),
		d.Start.UTC().Format(time.RFC3339Nano), d.End.UTC().Format(time.RFC3339Nano))
	return b.String()
}

// quoteIdent quotes an InfluxQL identifier.
func quoteIdent(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// jsonReader reads a field of type typ from InfluxDB's JSON.
func jsonReader(typ string) func(json.RawMessage) (parquet.Value, error) {
	switch typ {
	case TypeFloat:
		return readFloat
	case TypeInteger:
		return readInt
	case TypeUnsigned:
		return readUint
	case TypeBoolean:
		return readBool
	}
	return readString
}

func readTime(raw json.RawMessage) (parquet.Value, error) {
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		return parquet.Value{}, fmt.Errorf("time %.40s: %w", raw, err)
	}
	return parquet.Int64Value(n), nil
}

func readFloat(raw json.RawMessage) (parquet.Value, error) {
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil {
		return parquet.Value{}, fmt.Errorf("float %.40s: %w", raw, err)
	}
	return parquet.DoubleValue(f), nil
}

func readInt(raw json.RawMessage) (parquet.Value, error) {
	n, err := strconv.ParseInt(string(raw), 10, 64)
	if err != nil {
		return parquet.Value{}, fmt.Errorf("integer %.40s: %w", raw, err)
	}
	return parquet.Int64Value(n), nil
}

func readUint(raw json.RawMessage) (parquet.Value, error) {
	n, err := strconv.ParseUint(string(raw), 10, 64)
	if err != nil {
		return parquet.Value{}, fmt.Errorf("unsigned %.40s: %w", raw, err)
	}
	return parquet.Int64Value(int64(n)), nil
}

func readBool(raw json.RawMessage) (parquet.Value, error) {
	b, err := strconv.ParseBool(string(raw))
	if err != nil {
		return parquet.Value{}, fmt.Errorf("boolean %.40s: %w", raw, err)
	}
	return parquet.BooleanValue(b), nil
}

// readString takes a JSON string as its text, and any other value (a
// number or boolean of a field whose type changed between shards) as its
// JSON text. The value points into the chunk's JSON, which no later
// chunk reuses.
func readString(raw json.RawMessage) (parquet.Value, error) {
	if raw[0] != '"' {
		return parquet.ByteArrayValue(raw), nil
	}
	if bytes.IndexByte(raw, '\\') < 0 {
		return parquet.ByteArrayValue(raw[1 : len(raw)-1]), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return parquet.Value{}, fmt.Errorf("string %.40s: %w", raw, err)
	}
	return parquet.ByteArrayValue([]byte(s)), nil
}
