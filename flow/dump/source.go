package dump

import (
	"context"

	"github.com/parquet-go/parquet-go"

	"github.com/mqflux/mqflux/flow/influx"
)

// Source is the store a day is read from: the first output. InfluxSource
// reads a store that answers InfluxQL; a store of another language
// provides its own (flow/pgwriter's Config.DumpSource reads PostgreSQL).
type Source interface {
	// Measurements lists every measurement the store holds.
	Measurements(ctx context.Context) ([]string, error)
	// Schema is what m holds: its tags and its fields with one type
	// each; no fields when the store holds no m.
	Schema(ctx context.Context, m string) (Schema, error)
	// Rows calls fn with each of m's rows in [day.Start, day.End),
	// oldest first, as it reads them, so that memory stays bounded
	// however large the day. A row holds sc's columns in the order
	// Schema.Columns gives: the time (parquet.Int64Value, nanoseconds
	// since the epoch), the fields (DoubleValue for TypeFloat,
	// Int64Value for TypeInteger and TypeUnsigned, BooleanValue,
	// ByteArrayValue for TypeString), the tags (ByteArrayValue);
	// parquet.NullValue() where a row has none. fn keeps the values,
	// never the slice: their bytes must not be reused.
	Rows(ctx context.Context, m string, sc Schema, day Day, fn func(row []parquet.Value) error) error
}

// Field types, as InfluxDB's SHOW FIELD KEYS names them; every source
// maps its own types onto these, so that a day's files have one shape
// whichever store they come from.
const (
	TypeFloat    = "float"
	TypeInteger  = "integer"
	TypeUnsigned = "unsigned"
	TypeString   = "string"
	TypeBoolean  = "boolean"
)

// Schema is what one measurement holds: its tag keys and its fields with
// one type each, each sorted by name.
type Schema struct {
	Tags   []string
	Fields []Field
}

// Field is one field key and its type (TypeFloat, ...).
type Field struct {
	Name, Type string
}

// SourceOf is the Source of an output's configuration: its own, where
// it has a DumpSource method (a SQL store), else its InfluxQL /query
// endpoint, where it has a QueryEndpoint method (output.Querier). ok is
// false for a store that offers neither.
func SourceOf(config any) (src Source, ok bool) {
	switch c := config.(type) {
	case interface{ DumpSource() Source }:
		return c.DumpSource(), true
	case interface{ QueryEndpoint() influx.Endpoint }:
		return InfluxSource(c.QueryEndpoint(), 0), true
	}
	return nil, false
}

// Columns names a row's values in their order: time, the fields, the
// tags.
func (sc Schema) Columns() []string {
	out := make([]string, 0, 1+len(sc.Fields)+len(sc.Tags))
	out = append(out, "time")
	for _, f := range sc.Fields {
		out = append(out, f.Name)
	}
	return append(out, sc.Tags...)
}
