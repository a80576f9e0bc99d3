package pgwriter

import (
	"fmt"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/influxdata/line-protocol/v2/lineprotocol"
)

// Column types the writer creates, as information_schema.columns names
// them (data_type).
const (
	typeTime   = "timestamp with time zone"
	typeDouble = "double precision"
	typeBigint = "bigint"
	typeBool   = "boolean"
	typeText   = "text"
)

// timeColumn is the one column every table has besides tags and fields;
// no tag or field may take its name.
const timeColumn = "time"

// point is one line of a record, ready to become a row.
type point struct {
	rec    int // index of its record in the Write call
	table  string
	time   time.Time         // truncated to the microsecond PostgreSQL keeps
	tags   map[string]string // tag key -> value
	fields map[string]any    // field key -> float64, int64, bool or string
}

// typeOf is the column type a field value needs.
func typeOf(v any) string {
	switch v.(type) {
	case float64:
		return typeDouble
	case int64:
		return typeBigint
	case bool:
		return typeBool
	default:
		return typeText
	}
}

// decode turns record rec (one or more lines of line protocol) into
// points. An error says what is wrong and where; the record is then
// refused whole, since a record is what the spool acknowledges.
func decode(rec int, data []byte, now time.Time) ([]*point, error) {
	var pts []*point
	dec := lineprotocol.NewDecoderWithBytes(data)
	for line := 1; dec.Next(); line++ {
		p, err := decodeLine(dec, now)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		p.rec = rec
		pts = append(pts, p)
	}
	if len(pts) == 0 {
		return nil, fmt.Errorf("empty record: no line of line protocol")
	}
	return pts, nil
}

func decodeLine(dec *lineprotocol.Decoder, now time.Time) (*point, error) {
	m, err := dec.Measurement()
	if err != nil {
		return nil, err
	}
	p := &point{table: string(m), tags: map[string]string{}, fields: map[string]any{}}
	if err := checkName("measurement", p.table); err != nil {
		return nil, err
	}
	for {
		k, v, err := dec.NextTag()
		if err != nil {
			return nil, err
		}
		if k == nil {
			break
		}
		key := string(k)
		if err := checkColumn("tag", key); err != nil {
			return nil, err
		}
		if err := checkText("tag "+key, string(v)); err != nil {
			return nil, err
		}
		p.tags[key] = string(v)
	}
	for {
		k, v, err := dec.NextField()
		if err != nil {
			return nil, err
		}
		if k == nil {
			break
		}
		key := string(k)
		if err := checkColumn("field", key); err != nil {
			return nil, err
		}
		if _, dup := p.tags[key]; dup {
			return nil, fmt.Errorf("field %q has the name of a tag of the point; a table has one column per name", key)
		}
		val, err := fieldValue(key, v)
		if err != nil {
			return nil, err
		}
		p.fields[key] = val
	}
	t, err := dec.Time(lineprotocol.Nanosecond, now)
	if err != nil {
		return nil, err
	}
	p.time = t.Truncate(time.Microsecond)
	return p, nil
}

func fieldValue(key string, v lineprotocol.Value) (any, error) {
	switch v.Kind() {
	case lineprotocol.Float:
		f := v.FloatV()
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return nil, fmt.Errorf("field %q is %v; only finite numbers are stored", key, f)
		}
		return f, nil
	case lineprotocol.Int:
		return v.IntV(), nil
	case lineprotocol.Uint:
		u := v.UintV()
		if u > math.MaxInt64 {
			return nil, fmt.Errorf("field %q is %d, beyond bigint (at most %d)", key, u, int64(math.MaxInt64))
		}
		return int64(u), nil
	case lineprotocol.Bool:
		return v.BoolV(), nil
	case lineprotocol.String:
		s := v.StringV()
		if err := checkText("field "+key, s); err != nil {
			return nil, err
		}
		return s, nil
	}
	return nil, fmt.Errorf("field %q has a value of unknown kind %v", key, v.Kind())
}

// checkName refuses what PostgreSQL cannot hold as an identifier whole:
// empty, a NUL byte, bad UTF-8, or longer than 63 bytes (PostgreSQL would
// truncate it, and two long names sharing a prefix would share a table or
// a column).
func checkName(what, name string) error {
	switch {
	case name == "":
		return fmt.Errorf("empty %s name", what)
	case len(name) > maxIdentifier:
		return fmt.Errorf("%s name %q is %d bytes; PostgreSQL identifiers hold at most %d (it would truncate the name)",
			what, abbreviate(name), len(name), maxIdentifier)
	case strings.ContainsRune(name, 0):
		return fmt.Errorf("%s name %q holds a NUL byte, which PostgreSQL identifiers cannot", what, name)
	case !utf8.ValidString(name):
		return fmt.Errorf("%s name %q is not valid UTF-8", what, name)
	}
	return nil
}

// checkColumn is checkName for a tag or field key, which also may not be
// the time column's name.
func checkColumn(what, name string) error {
	if err := checkName(what, name); err != nil {
		return err
	}
	if name == timeColumn {
		return fmt.Errorf("%s name %q is the name of the time column", what, name)
	}
	return nil
}

// checkText refuses a value PostgreSQL's text cannot hold.
func checkText(what, s string) error {
	if strings.ContainsRune(s, 0) {
		return fmt.Errorf("%s holds a NUL byte, which PostgreSQL text cannot", what)
	}
	if !utf8.ValidString(s) {
		return fmt.Errorf("%s is not valid UTF-8", what)
	}
	return nil
}

// abbreviate keeps error messages short when a name is very long.
func abbreviate(s string) string {
	if len(s) <= 80 {
		return s
	}
	return s[:60] + "..." + s[len(s)-10:]
}
