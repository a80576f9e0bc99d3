package mapping

import (
	"slices"
	"strconv"
	"strings"
	"unsafe"

	"github.com/mqflux/mqflux/flow/point"
)

// Where a tag came from, for messages about clashes.
const (
	srcTopic uint8 = iota
	srcStatic
	srcPayload
)

type tag struct {
	key, value string
	src        uint8
	level      int // topic level (1-based) for srcTopic
}

type fieldKind uint8

// The kinds are point's, so that a field converts without a table.
const (
	kindFloat  = fieldKind(point.Float)
	kindInt    = fieldKind(point.Int)
	kindUint   = fieldKind(point.Uint)
	kindBool   = fieldKind(point.Bool)
	kindString = fieldKind(point.String)
)

type field struct {
	key  string
	kind fieldKind
	f    float64
	n    uint64 // int64 or uint64 bits
	b    bool
	s    string
	at   int    // byte offset in the payload, for messages
	grp  uint16 // the point it belongs to with objects: points; 0 is the top level
}

// scratch holds one reading's tags and fields while it is decoded; Mapper
// pools them so a reading costs no allocations for them.
type scratch struct {
	caps   []tag    // captured from the topic
	levels []string // the topic's levels while it is matched
	tags   []tag
	fields []field
	groups []string   // with objects: points, the key of each nested object (group i+1)
	gtags  []tag      // one group's tags
	buf    []byte     // unescaped strings and kept names; grows only by appending within one reading
	path   []byte     // the flattened name being read (jsonReader.join)
	pts    *point.Set // nil, or where the points written are also kept as values
}

func newScratch() any {
	return &scratch{
		caps:   make([]tag, 0, 8),
		levels: make([]string, 0, 8),
		tags:   make([]tag, 0, 16),
		fields: make([]field, 0, 16),
		buf:    make([]byte, 0, 512),
		path:   make([]byte, 0, 256),
	}
}

func (s *scratch) reset() {
	s.caps = s.caps[:0]
	s.tags = s.tags[:0]
	s.fields = s.fields[:0]
	s.groups = s.groups[:0]
	s.gtags = s.gtags[:0]
	s.buf = s.buf[:0]
	s.path = s.path[:0]
	s.pts = nil
}

// keep copies b into the scratch buffer and returns it as a string that
// stays valid for the rest of the reading.
func (s *scratch) keep(b []byte) string {
	n := len(s.buf)
	s.buf = append(s.buf, b...)
	return view(s.buf[n:])
}

// keepString is keep for a string.
func (s *scratch) keepString(v string) string {
	n := len(s.buf)
	s.buf = append(s.buf, v...)
	return view(s.buf[n:])
}

// view returns b as a string without copying. Callers use it only for bytes
// that are not modified while the string is in use: the payload during
// Append (the caller must not change it concurrently) and scratch bytes,
// which are only ever appended to until the reading is done.
func view(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

func sortTags(tags []tag) {
	slices.SortFunc(tags, func(a, b tag) int { return strings.Compare(a.key, b.key) })
}

// sortGroupedFields orders fields by their point, then by name.
func sortGroupedFields(fields []field) {
	slices.SortFunc(fields, func(a, b field) int {
		if a.grp != b.grp {
			return int(a.grp) - int(b.grp)
		}
		return strings.Compare(a.key, b.key)
	})
}

func sortFields(fields []field) {
	slices.SortFunc(fields, func(a, b field) int { return strings.Compare(a.key, b.key) })
}

// appendPoint writes one line. Tags and fields must be sorted, checked and
// non-duplicated; ts is in nanoseconds.
func appendPoint(dst []byte, measurement string, tags []tag, fields []field, ts int64) []byte {
	dst = appendName(dst, measurement, true)
	for i := range tags {
		dst = append(dst, ',')
		dst = appendName(dst, tags[i].key, false)
		dst = append(dst, '=')
		dst = appendName(dst, tags[i].value, false)
	}
	for i := range fields {
		if i == 0 {
			dst = append(dst, ' ')
		} else {
			dst = append(dst, ',')
		}
		f := &fields[i]
		dst = appendName(dst, f.key, false)
		dst = append(dst, '=')
		switch f.kind {
		case kindFloat:
			dst = strconv.AppendFloat(dst, f.f, 'g', -1, 64)
		case kindInt:
			dst = strconv.AppendInt(dst, int64(f.n), 10)
			dst = append(dst, 'i')
		case kindUint:
			dst = strconv.AppendUint(dst, f.n, 10)
			dst = append(dst, 'u')
		case kindBool:
			dst = strconv.AppendBool(dst, f.b)
		case kindString:
			dst = appendString(dst, f.s)
		}
	}
	dst = append(dst, ' ')
	dst = strconv.AppendInt(dst, ts, 10)
	return append(dst, '\n')
}

// emit writes one point as line protocol and, when the caller asked for
// them, keeps it as a value too. Tags and fields as for appendPoint.
func (s *scratch) emit(dst []byte, measurement string, tags []tag, fields []field, ts int64) []byte {
	if s.pts != nil {
		s.pts.Begin(measurement, ts)
		for i := range tags {
			s.pts.Tag(tags[i].key, tags[i].value)
		}
		for i := range fields {
			f := &fields[i]
			s.pts.Field(point.Field{Key: f.key, Kind: point.Kind(f.kind), F: f.f, N: f.n, B: f.b, S: f.s})
		}
	}
	return appendPoint(dst, measurement, tags, fields, ts)
}
