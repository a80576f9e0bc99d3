package dump

import (
	"fmt"
	"io"

	"github.com/parquet-go/parquet-go"
)

// rowsPerGroup bounds a Parquet row group, and so the rows the writer
// holds in memory before it writes them out.
const rowsPerGroup = 128 << 10

// writeBatch is how many rows are handed to the writer at once.
const writeBatch = 1024

// column is one column of a file and where its values go.
type column struct {
	Column
	index int // the leaf's index in the Parquet schema
}

// table writes the rows of one measurement as a Parquet file: time as a
// timestamp in nanoseconds (UTC), tags as dictionary-encoded strings,
// fields with their types, every column compressed with zstd.
type table struct {
	w    *parquet.Writer
	cols []column // in a Source's row order: time, fields, tags
	buf  []parquet.Row
	rows int64
}

func newTable(out io.Writer, sc Schema, version string) (*table, error) {
	group := parquet.Group{"time": parquet.Timestamp(parquet.Nanosecond)}
	cols := []column{{Column: Column{Name: "time", Role: "time", Type: "timestamp_ns"}}}
	taken := map[string]bool{"time": true}
	for _, f := range sc.Fields {
		node, typ := fieldNode(f.Type)
		group[f.Name] = parquet.Optional(node)
		taken[f.Name] = true
		cols = append(cols, column{Column: Column{Name: f.Name, Role: "field", Type: typ}})
	}
	for _, t := range sc.Tags {
		name := t
		for taken[name] { // a tag named like a field (or time) keeps both
			name += "_tag"
		}
		taken[name] = true
		group[name] = parquet.Optional(parquet.Encoded(parquet.String(), &parquet.RLEDictionary))
		cols = append(cols, column{Column: Column{Name: name, Role: "tag", Type: "string"}})
	}
	s := parquet.NewSchema("readings", group)
	for i := range cols {
		leaf, ok := s.Lookup(cols[i].Name)
		if !ok {
			return nil, fmt.Errorf("parquet schema: no column %q", cols[i].Name)
		}
		cols[i].index = leaf.ColumnIndex
	}
	cfg, err := parquet.NewWriterConfig(s, parquet.Compression(&parquet.Zstd),
		parquet.MaxRowsPerRowGroup(rowsPerGroup), parquet.CreatedBy("mqflux", version, ""))
	if err != nil {
		return nil, fmt.Errorf("parquet writer: %w", err)
	}
	return &table{w: parquet.NewWriter(out, cfg), cols: cols}, nil
}

// add appends one row of a Source.
func (t *table) add(values []parquet.Value) error {
	if len(values) != len(t.cols) {
		return fmt.Errorf("row of %d values, want %d columns", len(values), len(t.cols))
	}
	row := make(parquet.Row, len(t.cols))
	for i, c := range t.cols {
		v := values[i]
		switch {
		case c.Role == "time" && v.IsNull():
			return fmt.Errorf("row without a time")
		case v.IsNull():
			row[c.index] = parquet.NullValue().Level(0, 0, c.index)
		case c.Role == "time":
			row[c.index] = v.Level(0, 0, c.index)
		default:
			row[c.index] = v.Level(0, 1, c.index)
		}
	}
	t.buf = append(t.buf, row)
	t.rows++
	if len(t.buf) >= writeBatch {
		return t.flush()
	}
	return nil
}

func (t *table) flush() error {
	if len(t.buf) == 0 {
		return nil
	}
	if _, err := t.w.WriteRows(t.buf); err != nil {
		return fmt.Errorf("parquet: %w", err)
	}
	t.buf = t.buf[:0]
	return nil
}

// close writes what is buffered and the file's footer.
func (t *table) close() error {
	if err := t.flush(); err != nil {
		return err
	}
	if err := t.w.Close(); err != nil {
		return fmt.Errorf("parquet: %w", err)
	}
	return nil
}

func (t *table) columns() []Column {
	out := make([]Column, len(t.cols))
	for i, c := range t.cols {
		out[i] = c.Column
	}
	return out
}

// fieldNode is the Parquet node and the type's name of a field of type
// typ (TypeFloat, ...).
func fieldNode(typ string) (parquet.Node, string) {
	switch typ {
	case TypeFloat:
		return parquet.Leaf(parquet.DoubleType), "double"
	case TypeInteger:
		return parquet.Int(64), "int64"
	case TypeUnsigned:
		return parquet.Uint(64), "uint64"
	case TypeBoolean:
		return parquet.Leaf(parquet.BooleanType), "boolean"
	}
	return parquet.String(), "string"
}
