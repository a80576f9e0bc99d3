package dump

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/mqflux/mqflux/flow/influx"
)

// Field types as SHOW FIELD KEYS names them.
const (
	typeFloat    = "float"
	typeInteger  = "integer"
	typeUnsigned = "unsigned"
	typeString   = "string"
	typeBoolean  = "boolean"
)

// schema is what one measurement holds: its tag keys and its fields with
// one type each.
type schema struct {
	tags   []string
	fields []fieldKey
}

type fieldKey struct {
	name, typ string
}

// source reads from InfluxDB through /query.
type source struct {
	e         influx.Endpoint
	chunkSize int
}

// measurements lists every measurement of the database.
func (s source) measurements(ctx context.Context) ([]string, error) {
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

// schema asks for m's tag and field keys. A field InfluxDB holds with
// several types (in different shards) gets one that takes every value:
// float for integers and floats, else string.
func (s source) schema(ctx context.Context, m string) (schema, error) {
	var sc schema
	from := " FROM " + quoteIdent(m)
	err := s.e.QueryStream(ctx, "SHOW TAG KEYS"+from, s.chunkSize, func(sr influx.Series) error {
		for _, row := range sr.Values {
			var k string
			if len(row) > 0 && json.Unmarshal(row[0], &k) == nil {
				sc.tags = append(sc.tags, k)
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
		sc.fields = append(sc.fields, fieldKey{k, unifyTypes(ts)})
	}
	sort.Strings(sc.tags)
	sort.Slice(sc.fields, func(i, j int) bool { return sc.fields[i].name < sc.fields[j].name })
	return sc, nil
}

func unifyTypes(ts []string) string {
	t := ts[0]
	for _, u := range ts[1:] {
		switch {
		case u == t:
		case isNumeric(u) && isNumeric(t):
			t = typeFloat
		default:
			return typeString
		}
	}
	return t
}

func isNumeric(t string) bool { return t == typeFloat || t == typeInteger || t == typeUnsigned }

// selectDay is the query of m's rows in day: every field and tag named
// with its role, so that a tag and a field of one name stay apart and
// the answer's columns come in this order after time.
func selectDay(m string, sc schema, d Day) string {
	var b strings.Builder
	b.WriteString("SELECT ")
	for i, f := range sc.fields {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(quoteIdent(f.name) + "::field")
	}
	for _, t := range sc.tags {
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
