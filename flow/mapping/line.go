package mapping

import (
	"bytes"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/influxdata/line-protocol/v2/lineprotocol"

	"github.com/mqflux/mqflux/flow/ingest"
)

// lineReader rewrites a line-protocol payload point by point: the library
// parser checks the syntax, mqflux adds the topic's and the rule's tags
// (refusing a line that gives one of them itself, as for JSON), the receive
// time where a line has none,
// and writes each point back in canonical form (tags and fields sorted,
// nanosecond timestamps).
type lineReader struct {
	m       *Mapper
	sc      *scratch
	r       *rule
	p       []byte
	dec     *lineprotocol.Decoder
	point   int // 1-based index of the point being read
	measOff int // byte offset of its measurement, -1 when unknown
}

func (m *Mapper) appendLines(sc *scratch, dst []byte, r *rule, payload []byte, received time.Time) ([]byte, *ingest.RejectError) {
	lr := lineReader{m: m, sc: sc, r: r, p: payload, dec: lineprotocol.NewDecoderWithBytes(payload)}
	out := dst
	for lr.dec.Next() {
		lr.point++
		var rej *ingest.RejectError
		if out, rej = lr.next(out, received); rej != nil {
			return nil, rej
		}
	}
	if lr.point == 0 {
		return nil, reject("empty", "payload has no points (only blank lines or comments)")
	}
	return out, nil
}

// next reads the current point and appends it to dst.
func (lr *lineReader) next(dst []byte, received time.Time) ([]byte, *ingest.RejectError) {
	sc := lr.sc
	sc.tags, sc.fields = sc.tags[:0], sc.fields[:0]
	mb, err := lr.dec.Measurement()
	if err != nil {
		return nil, lr.syntax(err)
	}
	lr.measOff = offsetIn(lr.p, mb)
	meas := sc.keep(mb)
	if prob, at := nameProblem(meas); prob != "" {
		return nil, reject("bad_line_protocol", "%s: measurement %q %s (byte %d of the name)", lr.where(), meas, prob, at)
	}
	if rej := checkReserved(meas); rej != nil {
		rej.Detail = lr.where() + ": " + rej.Detail
		return nil, rej
	}
	if rej := lr.readTags(); rej != nil {
		return nil, rej
	}
	if rej := lr.readFields(); rej != nil {
		return nil, rej
	}
	ts, rej := lr.readTime(received)
	if rej != nil {
		return nil, rej
	}
	if rej := lr.m.addRuleTags(sc, lr.r); rej != nil {
		rej.Detail = lr.where() + ": " + rej.Detail
		return nil, rej
	}
	sortFields(sc.fields)
	if i := dupField(sc.fields); i >= 0 {
		return nil, reject("bad_field", "%s: field %q is given twice", lr.where(), sc.fields[i].key)
	}
	return sc.emit(dst, meas, sc.tags, sc.fields, ts), nil
}

func (lr *lineReader) readTags() *ingest.RejectError {
	sc := lr.sc
	for {
		kb, vb, err := lr.dec.NextTag()
		if err != nil {
			return lr.syntax(err)
		}
		if kb == nil {
			return nil
		}
		k, v := sc.keep(kb), sc.keep(vb)
		if prob, at := nameProblem(k); prob != "" {
			return reject("bad_tag", "%s: tag name %q %s (byte %d of the name)", lr.where(), k, prob, at)
		}
		if prob, at := nameProblem(v); prob != "" {
			return reject("bad_tag", "%s: tag %q value %q %s (byte %d of the value)", lr.where(), k, v, prob, at)
		}
		switch {
		case k == "time":
			return reject("bad_tag", "%s: InfluxDB refuses a tag named time", lr.where())
		case len(v) > lr.m.maxString:
			return reject("string_too_long", "%s: tag %q is %d bytes, max_string_bytes is %d", lr.where(), k, len(v), lr.m.maxString)
		case len(sc.tags) >= lr.m.maxTags:
			return reject("too_many_tags", "%s: tag %q is more than max_tags (%d)", lr.where(), k, lr.m.maxTags)
		}
		sc.tags = append(sc.tags, tag{key: k, value: v, src: srcPayload})
	}
}

func (lr *lineReader) readFields() *ingest.RejectError {
	sc := lr.sc
	for {
		kb, kind, data, err := lr.dec.NextFieldBytes()
		if err != nil {
			return lr.syntax(err)
		}
		if kb == nil {
			return nil
		}
		k := sc.keep(kb)
		if prob, at := nameProblem(k); prob != "" {
			return reject("bad_field", "%s: field name %q %s (byte %d of the name)", lr.where(), k, prob, at)
		}
		if k == "time" {
			return reject("bad_field", "%s: InfluxDB refuses a field named time", lr.where())
		}
		if len(sc.fields) >= lr.m.maxFields {
			return reject("too_many_fields", "%s: field %q is more than max_fields (%d)", lr.where(), k, lr.m.maxFields)
		}
		f, rej := lr.value(k, kind, data)
		if rej != nil {
			return rej
		}
		sc.fields = append(sc.fields, f)
	}
}

// value converts one field value; integers keep their type.
func (lr *lineReader) value(k string, kind lineprotocol.ValueKind, data []byte) (field, *ingest.RejectError) {
	v, err := lineprotocol.NewValueFromBytes(kind, data)
	if err != nil {
		reason := "bad_number"
		if kind == lineprotocol.Float && errors.Is(err, lineprotocol.ErrValueOutOfRange) {
			reason = "nan_inf"
		}
		return field{}, reject(reason, "%s: field %q value %q: %v", lr.at(data), k, data, err)
	}
	f := field{key: k, at: -1}
	switch kind {
	case lineprotocol.Float:
		f.kind, f.f = kindFloat, v.FloatV()
	case lineprotocol.Int:
		f.kind, f.n = kindInt, uint64(v.IntV())
	case lineprotocol.Uint:
		f.kind, f.n = kindUint, v.UintV()
	case lineprotocol.Bool:
		f.kind, f.b = kindBool, v.BoolV()
	default:
		f.kind, f.s = kindString, lr.sc.keep(data)
		if len(f.s) > lr.m.maxString {
			return field{}, reject("string_too_long", "%s: field %q is %d bytes, max_string_bytes is %d", lr.where(), k, len(f.s), lr.m.maxString)
		}
		if prob, at := stringProblem(f.s); prob != "" {
			return field{}, reject("bad_field", "%s: field %q %s (byte %d of the value)", lr.where(), k, prob, at)
		}
	}
	return f, nil
}

func (lr *lineReader) readTime(received time.Time) (int64, *ingest.RejectError) {
	tb, err := lr.dec.TimeBytes()
	if err != nil {
		return 0, lr.syntax(err)
	}
	if tb == nil {
		return receivedNanos(received)
	}
	v, err := strconv.ParseInt(view(tb), 10, 64)
	if err == nil {
		var ok bool
		if v, ok = scaleEpoch(v, lr.r.precExp); ok {
			return v, nil
		}
	}
	return 0, reject("bad_time", "%s: timestamp %s (%s since the epoch) is outside %s", lr.at(tb), tb, precName(lr.r.precExp), timeRange)
}

func (lr *lineReader) syntax(err error) *ingest.RejectError {
	var de *lineprotocol.DecodeError
	if errors.As(err, &de) {
		return reject("bad_line_protocol", "line %d, column %d: %v", de.Line, de.Column, de.Err)
	}
	return reject("bad_line_protocol", "%s: %v", lr.where(), err)
}

// where names the point being read for a message: its line when known.
func (lr *lineReader) where() string {
	if lr.measOff >= 0 {
		return fmt.Sprintf("line %d", 1+bytes.Count(lr.p[:lr.measOff], []byte{'\n'}))
	}
	return fmt.Sprintf("point %d", lr.point)
}

// at names the line and column of b, a slice of the payload, falling back
// to where.
func (lr *lineReader) at(b []byte) string {
	off := offsetIn(lr.p, b)
	if off < 0 {
		return lr.where()
	}
	start := bytes.LastIndexByte(lr.p[:off], '\n') + 1
	return fmt.Sprintf("line %d, column %d", 1+bytes.Count(lr.p[:off], []byte{'\n'}), off-start+1)
}

// offsetIn returns the offset of b within p when b is a slice of p (the
// decoder hands out such slices for text it did not need to unescape), or -1.
func offsetIn(p, b []byte) int {
	if len(b) == 0 || cap(b) > cap(p) {
		return -1
	}
	off := cap(p) - cap(b)
	if off >= len(p) || &p[off] != &b[0] {
		return -1
	}
	return off
}

// dupTag returns the index of a tag whose key repeats the one before it
// (tags sorted), or -1.
func dupTag(tags []tag) int {
	for i := 1; i < len(tags); i++ {
		if tags[i].key == tags[i-1].key {
			return i
		}
	}
	return -1
}

func dupField(fields []field) int {
	for i := 1; i < len(fields); i++ {
		if fields[i].key == fields[i-1].key {
			return i
		}
	}
	return -1
}
