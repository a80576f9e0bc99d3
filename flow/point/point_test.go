package point

import (
	"strings"
	"testing"
	"time"
)

// Strings handed out stay what they were while the set grows, and a reset
// set reuses its storage.
func TestSetKeepsCopies(t *testing.T) {
	var s Set
	src := []byte("temperature")
	s.Begin(string(src), 1)
	s.Tag("device", "pi-1")
	s.Field(StringField("note", strings.Repeat("n", 4096))) // moves the buffer
	s.Field(FloatField("value", 21.5))
	p := s.At(0)
	if p.Measurement != "temperature" || p.Tag("device") != "pi-1" || p.Field("value").F != 21.5 || len(p.Field("note").S) != 4096 {
		t.Fatalf("point %+v", *p)
	}
	var c Set
	c.Grow(4, 4, 64)
	q := c.Add(p)
	if q.Measurement != p.Measurement || q.Tag("device") != "pi-1" || q.Field("note").S != p.Field("note").S {
		t.Errorf("copy %+v", *q)
	}
	s.Reset()
	if s.Len() != 0 {
		t.Errorf("Len after Reset: %d", s.Len())
	}
	allocs := testing.AllocsPerRun(100, func() {
		c.Reset()
		c.Add(p)
	})
	if allocs != 0 {
		t.Errorf("refilling a set: %v allocations, want 0", allocs)
	}
}

func TestFieldValue(t *testing.T) {
	for _, tc := range []struct {
		f    Field
		want any
	}{
		{FloatField("f", 1.5), 1.5}, {IntField("i", -3), int64(-3)}, {UintField("u", 3), uint64(3)},
		{BoolField("b", true), true}, {StringField("s", "x"), "x"},
	} {
		if got := tc.f.Value(); got != tc.want {
			t.Errorf("%s: %#v, want %#v", tc.f.Key, got, tc.want)
		}
	}
}

// The payload a device publishes: value first, then the time, then the
// rest; floats read as floats; strings escaped as encoding/json does.
func TestAppendJSON(t *testing.T) {
	at := time.Date(2025, 3, 18, 10, 0, 0, 123e6, time.FixedZone("CET", 3600))
	for _, tc := range []struct {
		fields []Field
		want   string
	}{
		{[]Field{FloatField("value", 21)}, `{"value":21.0,"time":"2025-03-18T09:00:00.123Z"}`},
		{[]Field{StringField("status", "<ok> & \"fine\""), FloatField("value", 1e-7)},
			`{"value":1e-7,"time":"2025-03-18T09:00:00.123Z","status":"\u003cok\u003e \u0026 \"fine\""}`},
		{[]Field{FloatField("value", 1e21), IntField("n", 3), BoolField("b", false)},
			`{"value":1e+21,"time":"2025-03-18T09:00:00.123Z","n":3,"b":false}`},
		{[]Field{FloatField("t", -0.5)}, `{"time":"2025-03-18T09:00:00.123Z","t":-0.5}`},
	} {
		if got := string(AppendJSON(nil, tc.fields, at)); got != tc.want {
			t.Errorf("got  %s\nwant %s", got, tc.want)
		}
	}
	// A time whose UTC year RFC 3339 cannot write keeps its own zone.
	for _, tc := range []struct {
		at   time.Time
		want string
	}{
		{time.Date(0, 1, 1, 0, 0, 0, 0, time.FixedZone("", 600)), `{"value":1.0,"time":"0000-01-01T00:00:00+00:10"}`},
		{time.Date(9999, 12, 31, 23, 59, 0, 0, time.FixedZone("", -600)), `{"value":1.0,"time":"9999-12-31T23:59:00-00:10"}`},
	} {
		if got := string(AppendJSON(nil, []Field{FloatField("value", 1)}, tc.at)); got != tc.want {
			t.Errorf("got  %s\nwant %s", got, tc.want)
		}
	}
}
