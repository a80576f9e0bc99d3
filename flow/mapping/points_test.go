package mapping

import (
	"math"
	"strings"
	"testing"
	"time"

	"github.com/mqflux/mqflux/flow/ingest"
	"github.com/mqflux/mqflux/flow/point"
)

// lineOf writes the points of a set back as line protocol, so that the
// values AppendPoints keeps can be compared with the lines it wrote.
func lineOf(s *point.Set) string {
	var out []byte
	for i := 0; i < s.Len(); i++ {
		p := s.At(i)
		var tags []tag
		for _, t := range p.Tags {
			tags = append(tags, tag{key: t.Key, value: t.Value})
		}
		var fields []field
		for _, f := range p.Fields {
			fields = append(fields, field{key: f.Key, kind: fieldKind(f.Kind), f: f.F, n: f.N, b: f.B, s: f.S})
		}
		out = appendPoint(out, p.Measurement, tags, fields, p.Time)
	}
	return string(out)
}

// The points kept as values are exactly the lines written, for every kind
// of payload, and a second use of the same set holds only the new points.
func TestAppendPointsMatchesLines(t *testing.T) {
	m := mustNew(t, testConfig())
	var set point.Set
	cases := []struct{ topic, payload string }{
		{"devices/pi-1/sensors/temperature", "21.5"},
		{"devices/pi-1/sensors/temperature", `{"value": 21.5, "time": "2026-11-23T18:00:00.123Z"}`},
		{"devices/pi-1/sensors/env", `{"t": 21.5, "door": false, "note": "a \"quoted\" note", "tags": {"room": "attic"}}`},
		{"devices/pi-1/line", "env,room=kitchen temperature=21.5,count=7i,big=9u,ok=t,s=\"x\" 1795456800\nenv t=1 1795456801"},
		{"farm/north/x/soil/moisture", "0.31"},
		{"devices/pi-1/status", "online"},
	}
	for _, tc := range cases {
		t.Run(tc.topic, func(t *testing.T) {
			set.Reset()
			out, err := m.AppendPoints(nil, &set, tc.topic, []byte(tc.payload), receivedAt())
			if err != nil {
				t.Fatal(err)
			}
			if got := lineOf(&set); got != string(out) {
				t.Errorf("points\n%s\nlines\n%s", got, out)
			}
			if set.Len() != strings.Count(string(out), "\n") {
				t.Errorf("%d points for %d lines", set.Len(), strings.Count(string(out), "\n"))
			}
		})
	}
}

// The points outlive the payload they were read from: the set holds copies.
func TestAppendPointsCopies(t *testing.T) {
	m := mustNew(t, testConfig())
	var set point.Set
	payload := []byte(`{"note": "kept", "tags": {"room": "attic"}}`)
	if _, err := m.AppendPoints(nil, &set, "devices/pi-1/sensors/env", payload, receivedAt()); err != nil {
		t.Fatal(err)
	}
	for i := range payload {
		payload[i] = 'x'
	}
	p := set.At(0)
	if p.Tag("room") != "attic" || p.Tag("device") != "pi-1" || p.Field("note").S != "kept" || p.Measurement != "env" {
		t.Errorf("point changed with its payload: %+v", *p)
	}
}

// A decoded reading becomes what its fields published as JSON to its topic
// would become: the same line, or a refusal for the same reason.
func TestAppendReadingAsJSON(t *testing.T) {
	cfg := testConfig()
	cfg.MaxStringBytes = 16
	cfg.MaxFields = 3
	m := mustNew(t, cfg)
	when := time.Date(2026, 11, 23, 18, 0, 0, 123000000, time.UTC)
	f, s := point.FloatField, point.StringField
	cases := []struct {
		name string
		r    ingest.Reading
	}{
		{"value", ingest.Reading{Device: "pi-1", Measurement: "temperature", Fields: []point.Field{f("value", 21.5)}, Time: when}},
		{"value and status", ingest.Reading{Device: "pi-1", Measurement: "temperature", Fields: []point.Field{f("value", 21), s("status", `ok "fine"`)}, Time: when}},
		{"received time", ingest.Reading{Device: "pi-1", Measurement: "humidity", Fields: []point.Field{f("value", 40.5)}}},
		{"bool", ingest.Reading{Device: "pi-1", Measurement: "x", Fields: []point.Field{point.BoolField("b", true), f("v", -1e-7)}, Time: when}},
		{"string too long", ingest.Reading{Device: "pi-1", Measurement: "t", Fields: []point.Field{f("value", 1), s("status", strings.Repeat("s", 17))}, Time: when}},
		{"line break", ingest.Reading{Device: "pi-1", Measurement: "t", Fields: []point.Field{s("status", "a\nb")}, Time: when}},
		{"too many fields", ingest.Reading{Device: "pi-1", Measurement: "t", Fields: []point.Field{f("a", 1), f("b", 1), f("c", 1), f("d", 1)}, Time: when}},
		{"bad device", ingest.Reading{Device: "pi\\", Measurement: "t", Fields: []point.Field{f("value", 1)}, Time: when}},
		{"no template", ingest.Reading{Device: "pi-1", Measurement: "t/u", Fields: []point.Field{f("value", 1)}, Time: when}},
		{"time out of range", ingest.Reading{Device: "pi-1", Measurement: "t", Fields: []point.Field{f("value", 1)}, Time: time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC)}},
		{"no fields", ingest.Reading{Device: "pi-1", Measurement: "t", Time: when}},
		{"presence", ingest.Reading{Device: "pi-1", Measurement: StatusMeasurement, Fields: []point.Field{point.BoolField("online", false)}, Time: when}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			at := tc.r.Time
			if at.IsZero() {
				at = receivedAt()
			}
			topic, err := m.ReadingTopic(tc.r.Device, tc.r.Measurement)
			if err != nil {
				// No template gives it a topic: refused before any payload
				// rule could apply, as the legacy API's no_topic.
				var set point.Set
				if _, _, err := m.AppendReading(nil, &set, tc.r, receivedAt()); rejectOf(t, err).Reason != "no_topic" {
					t.Fatalf("AppendReading: %v, want reason no_topic", err)
				}
				return
			}
			want, wantErr := m.Append(nil, topic, point.AppendJSON(nil, tc.r.Fields, at), receivedAt())
			var set point.Set
			got, filed, err := m.AppendReading(nil, &set, tc.r, receivedAt())
			if filed != topic {
				t.Errorf("filed under %q, want %q", filed, topic)
			}
			switch {
			case wantErr != nil && err == nil:
				t.Fatalf("accepted %s, want %v", got, wantErr)
			case wantErr != nil:
				if g, w := rejectOf(t, err).Reason, rejectOf(t, wantErr).Reason; g != w {
					t.Errorf("reason %s (%v), want %s (%v)", g, err, w, wantErr)
				}
			case err != nil:
				t.Fatalf("refused: %v, want %s", err, want)
			case string(got) != string(want):
				t.Errorf("line %s, want %s", got, want)
			case lineOf(&set) != string(got):
				t.Errorf("points %s, line %s", lineOf(&set), got)
			}
		})
	}
}

// What JSON cannot carry is refused with the reason a device's payload
// would get.
func TestAppendReadingNotFinite(t *testing.T) {
	m := mustNew(t, testConfig())
	for _, v := range []float64{math.NaN(), math.Inf(1), math.Inf(-1)} {
		r := ingest.Reading{Device: "pi-1", Measurement: "t", Fields: []point.Field{point.FloatField("value", v)}}
		if _, _, err := m.AppendReading(nil, nil, r, receivedAt()); rejectOf(t, err).Reason != "nan_inf" {
			t.Errorf("%v: %v, want nan_inf", v, err)
		}
	}
}

// The legacy HTTP API's readings cannot write presence either: only the
// status template writes device_status.
func TestAppendReadingCannotWritePresence(t *testing.T) {
	m := mustNew(t, testConfig())
	r := ingest.Reading{Device: "pi-1", Measurement: StatusMeasurement, Fields: []point.Field{point.BoolField("online", false)}}
	out, _, err := m.AppendReading(nil, nil, r, receivedAt())
	if err == nil {
		t.Fatalf("accepted as %q", out)
	}
	if re := rejectOf(t, err); re.Reason != "reserved_measurement" {
		t.Fatalf("%v, want reason reserved_measurement", err)
	}
}
