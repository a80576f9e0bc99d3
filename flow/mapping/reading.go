package mapping

import (
	"math"
	"time"

	"github.com/mqflux/mqflux/flow/ingest"
	"github.com/mqflux/mqflux/flow/point"
)

// AppendReading maps a reading its input decoded already as if its fields
// had been published as a JSON payload to ReadingTopic: the same template
// decides the measurement and the tags, and the same limits and checks
// give the same reasons. Results as for AppendPoints, and the topic the
// reading is filed under ("" when no template gives it one: no_topic).
func (m *Mapper) AppendReading(dst []byte, pts *point.Set, r ingest.Reading, received time.Time) ([]byte, string, error) {
	name, err := m.ReadingTopic(r.Device, r.Measurement)
	if err != nil {
		return dst, "", reject("no_topic", "%v", err)
	}
	sc := m.pool.Get().(*scratch)
	sc.reset()
	sc.pts = pts
	out, rej := m.appendReading(sc, dst, name, r, received)
	m.pool.Put(sc)
	if rej != nil {
		return dst, name, rej
	}
	return out, name, nil
}

func (m *Mapper) appendReading(sc *scratch, dst []byte, name string, r ingest.Reading, received time.Time) ([]byte, *ingest.RejectError) {
	if rej := checkTopic(name); rej != nil {
		return nil, rej
	}
	var c capture
	rule := m.findRule(name, &c, sc)
	if rule == nil {
		return nil, reject("topic", "no template matches topic %q", name)
	}
	if rej := rule.checkCaptures(name, &c, sc.caps); rej != nil {
		return nil, rej
	}
	if rule.line {
		return nil, reject("bad_line_protocol", "the template matching topic %q reads line protocol; this reading has fields, not a line", name)
	}
	for i := range r.Fields {
		if rej := m.readingField(sc, &r.Fields[i], i); rej != nil {
			return nil, rej
		}
	}
	t := r.Time
	if t.IsZero() {
		t = received
	}
	ts, ok := nanos(t)
	if !ok {
		return nil, reject("bad_time", "time %s is outside %s", t.UTC().Format(time.RFC3339Nano), timeRange)
	}
	meas := rule.measurement
	if meas == "" {
		meas = c.measurement
	}
	return m.finish(sc, dst, rule, meas, ts)
}

// readingField checks one decoded field as a JSON payload's would be
// checked; i is its index, standing in for a byte offset in messages.
func (m *Mapper) readingField(sc *scratch, f *point.Field, i int) *ingest.RejectError {
	if prob, at := nameProblem(f.Key); prob != "" {
		return reject("bad_field", "field name %q %s (byte %d of the name)", f.Key, prob, at)
	}
	switch {
	case f.Key == "time":
		return reject("bad_field", "field \"time\": InfluxDB refuses a field named time")
	case f.Kind == point.Float && (math.IsNaN(f.F) || math.IsInf(f.F, 0)):
		return reject("nan_inf", "field %q is %v, not a finite number", f.Key, f.F)
	case f.Kind == point.String && len(f.S) > m.maxString:
		return reject("string_too_long", "field %q is %d bytes, max_string_bytes is %d", f.Key, len(f.S), m.maxString)
	case len(sc.fields) >= m.maxFields:
		return reject("too_many_fields", "field %q is more than max_fields (%d)", f.Key, m.maxFields)
	}
	if f.Kind == point.String {
		if prob, at := stringProblem(f.S); prob != "" {
			return reject("bad_field", "field %q %s (byte %d of the value)", f.Key, prob, at)
		}
	}
	sc.fields = append(sc.fields, field{key: f.Key, kind: fieldKind(f.Kind), f: f.F, n: f.N, b: f.B, s: f.S, at: i})
	return nil
}
