// Package point is a mapped reading in structured form: the measurement,
// tags, typed fields and time that the mapping also writes as line
// protocol. Whatever watches readings (the live views, the republish of
// HTTP readings, alerting) reads a Point instead of parsing line protocol
// again.
package point

import (
	"slices"
	"time"
	"unsafe"
)

// Kind is the type of a field's value, as InfluxDB stores it.
type Kind uint8

// The field kinds of line protocol.
const (
	Float Kind = iota
	Int
	Uint
	Bool
	String
)

// Field is one field: its key and its value in the member its Kind names.
type Field struct {
	Key  string
	Kind Kind
	F    float64 // Float
	N    uint64  // Int (two's complement) or Uint
	B    bool    // Bool
	S    string  // String
}

// Constructors for the fields an input decodes itself.
func FloatField(key string, v float64) Field { return Field{Key: key, Kind: Float, F: v} }
func IntField(key string, v int64) Field     { return Field{Key: key, Kind: Int, N: uint64(v)} }
func UintField(key string, v uint64) Field   { return Field{Key: key, Kind: Uint, N: v} }
func BoolField(key string, v bool) Field     { return Field{Key: key, Kind: Bool, B: v} }
func StringField(key, v string) Field        { return Field{Key: key, Kind: String, S: v} }

// Value is the field's value as float64, int64, uint64, bool or string.
// It allocates: it is for watchers, not for the ingest path.
func (f *Field) Value() any {
	switch f.Kind {
	case Int:
		return int64(f.N)
	case Uint:
		return f.N
	case Bool:
		return f.B
	case String:
		return f.S
	}
	return f.F
}

// Tag is one tag.
type Tag struct{ Key, Value string }

// Point is one point. Tags and Fields are sorted by key; Time is in
// nanoseconds since the epoch.
type Point struct {
	Measurement string
	Tags        []Tag
	Fields      []Field
	Time        int64
}

// Tag returns the value of the tag key, or "".
func (p *Point) Tag(key string) string {
	for i := range p.Tags {
		if p.Tags[i].Key == key {
			return p.Tags[i].Value
		}
	}
	return ""
}

// Field returns the field key, or nil.
func (p *Point) Field(key string) *Field {
	for i := range p.Fields {
		if p.Fields[i].Key == key {
			return &p.Fields[i]
		}
	}
	return nil
}

// At is the point's time, in UTC.
func (p *Point) At() time.Time { return time.Unix(0, p.Time).UTC() }

// Set holds the points of one reading (a line-protocol payload may carry
// several) with copies of their strings, in storage it reuses: once it has
// grown to the size of the readings it holds, filling it allocates nothing.
// The points and their strings stay valid until the next Reset.
type Set struct {
	pts []Point
	n   int
	buf []byte
}

// Reset empties the set, keeping its storage.
func (s *Set) Reset() {
	s.n = 0
	s.buf = s.buf[:0]
}

// Len is the number of points.
func (s *Set) Len() int { return s.n }

// At returns point i (0 ≤ i < Len).
func (s *Set) At(i int) *Point { return &s.pts[i] }

// Begin adds a point without tags or fields and returns it; Tag and Field
// add to the point Begin added last.
func (s *Set) Begin(measurement string, ns int64) *Point {
	if s.n == len(s.pts) {
		s.pts = append(s.pts, Point{})
	}
	p := &s.pts[s.n]
	s.n++
	p.Measurement = s.Keep(measurement)
	p.Tags, p.Fields, p.Time = p.Tags[:0], p.Fields[:0], ns
	return p
}

// Tag adds a tag to the last point.
func (s *Set) Tag(key, value string) {
	p := &s.pts[s.n-1]
	p.Tags = append(p.Tags, Tag{Key: s.Keep(key), Value: s.Keep(value)})
}

// Field adds a field to the last point.
func (s *Set) Field(f Field) {
	p := &s.pts[s.n-1]
	f.Key = s.Keep(f.Key)
	if f.Kind == String {
		f.S = s.Keep(f.S)
	}
	p.Fields = append(p.Fields, f)
}

// Add copies p into the set and returns the copy.
func (s *Set) Add(p *Point) *Point {
	s.Begin(p.Measurement, p.Time)
	for _, t := range p.Tags {
		s.Tag(t.Key, t.Value)
	}
	for i := range p.Fields {
		s.Field(p.Fields[i])
	}
	return &s.pts[s.n-1]
}

// Keep copies v into the set's storage and returns the copy, valid until
// the next Reset.
func (s *Set) Keep(v string) string {
	if v == "" {
		return ""
	}
	// Strings handed out earlier keep pointing into the old array when
	// append moves the buffer; bytes are only overwritten after Reset.
	n := len(s.buf)
	s.buf = append(s.buf, v...)
	return unsafe.String(&s.buf[n], len(v))
}

// Grow makes room for one point of up to tags tags, fields fields and
// bytes bytes of strings, so that the first readings to fill the set do not
// allocate either.
func (s *Set) Grow(tags, fields, bytes int) {
	if len(s.pts) == 0 {
		s.pts = append(s.pts, Point{})
	}
	p := &s.pts[0]
	p.Tags = slices.Grow(p.Tags[:0], tags)
	p.Fields = slices.Grow(p.Fields[:0], fields)
	s.buf = slices.Grow(s.buf[:0], bytes)
}
