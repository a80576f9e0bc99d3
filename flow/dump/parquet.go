package dump

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"strconv"

	"github.com/parquet-go/parquet-go"
)

// rowsPerGroup bounds a Parquet row group, and so the rows the writer
// holds in memory before it writes them out.
const rowsPerGroup = 128 << 10

// writeBatch is how many rows are handed to the writer at once.
const writeBatch = 1024

// column is one column of a file: where a value of the query's answer
// goes and how it is read.
type column struct {
	Column
	index int // the leaf's index in the Parquet schema
	read  func(raw json.RawMessage) (parquet.Value, error)
}

// table writes the rows of one measurement as a Parquet file: time as a
// timestamp in nanoseconds (UTC), tags as dictionary-encoded strings,
// fields with their InfluxDB types, every column compressed with zstd.
type table struct {
	w    *parquet.Writer
	cols []column // in the query's column order: time, fields, tags
	buf  []parquet.Row
	rows int64
}

func newTable(out io.Writer, sc schema, version string) (*table, error) {
	group := parquet.Group{"time": parquet.Timestamp(parquet.Nanosecond)}
	cols := []column{{Column: Column{Name: "time", Role: "time", Type: "timestamp_ns"}, read: readTime}}
	taken := map[string]bool{"time": true}
	for _, f := range sc.fields {
		node, typ, read := fieldNode(f.typ)
		group[f.name] = parquet.Optional(node)
		taken[f.name] = true
		cols = append(cols, column{Column: Column{Name: f.name, Role: "field", Type: typ}, read: read})
	}
	for _, t := range sc.tags {
		name := t
		for taken[name] { // a tag named like a field (or time) keeps both
			name += "_tag"
		}
		taken[name] = true
		group[name] = parquet.Optional(parquet.Encoded(parquet.String(), &parquet.RLEDictionary))
		cols = append(cols, column{Column: Column{Name: name, Role: "tag", Type: "string"}, read: readString})
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

// add appends one row of the query's answer.
func (t *table) add(values []json.RawMessage) error {
	if len(values) != len(t.cols) {
		return fmt.Errorf("row of %d values, want %d columns", len(values), len(t.cols))
	}
	row := make(parquet.Row, len(t.cols))
	for i, c := range t.cols {
		raw := values[i]
		if bytes.Equal(raw, []byte("null")) || len(raw) == 0 {
			if c.Role == "time" {
				return fmt.Errorf("row without a time")
			}
			row[c.index] = parquet.NullValue().Level(0, 0, c.index)
			continue
		}
		v, err := c.read(raw)
		if err != nil {
			return fmt.Errorf("column %s: %w", c.Name, err)
		}
		def := 1
		if c.Role == "time" {
			def = 0
		}
		row[c.index] = v.Level(0, def, c.index)
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

// fieldNode is the Parquet node, the type's name and the reader of a
// field of InfluxDB type typ.
func fieldNode(typ string) (parquet.Node, string, func(json.RawMessage) (parquet.Value, error)) {
	switch typ {
	case typeFloat:
		return parquet.Leaf(parquet.DoubleType), "double", readFloat
	case typeInteger:
		return parquet.Int(64), "int64", readInt
	case typeUnsigned:
		return parquet.Uint(64), "uint64", readUint
	case typeBoolean:
		return parquet.Leaf(parquet.BooleanType), "boolean", readBool
	}
	return parquet.String(), "string", readString
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
// JSON text.
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
