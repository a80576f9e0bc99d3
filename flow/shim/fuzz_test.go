package shim

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/mqflux/mqflux/flow/point"
)

var fuzzNow = time.Date(2026, 11, 23, 18, 0, 0, 123456789, time.UTC)

// checkOutput asserts what every accepted reading must become: a topic of
// four plain levels and a JSON payload that says exactly what was read, its
// value written as a finite float.
func checkOutput(t *testing.T, device string, r reading) {
	t.Helper()
	in := r.forDevice(device)
	tp := "devices/" + in.Device + "/sensors/" + in.Measurement
	levels := strings.Split(tp, "/")
	if len(levels) != 4 || levels[0] != "devices" || levels[2] != "sensors" || strings.ContainsAny(tp, "+#\x00") {
		t.Fatalf("topic %q is not devices/{device}/sensors/{sensor}", tp)
	}
	for _, l := range levels {
		if !validName(l) {
			t.Fatalf("topic %q has level %q", tp, l)
		}
	}
	at := in.Time
	if at.IsZero() {
		at = fuzzNow
	}
	p := point.AppendJSON(nil, in.Fields, at)
	var got struct {
		Value  json.Number `json:"value"`
		Time   time.Time   `json:"time"`
		Status *string     `json:"status"`
	}
	dec := json.NewDecoder(bytes.NewReader(p))
	dec.UseNumber()
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil {
		t.Fatalf("payload %s is not the JSON it should be: %v", p, err)
	}
	v, err := got.Value.Float64()
	if err != nil || v != r.value || math.IsInf(v, 0) || math.IsNaN(v) {
		t.Fatalf("payload %s: value %s, want %v (%v)", p, got.Value, r.value, err)
	}
	if !strings.ContainsAny(got.Value.String(), ".e") {
		t.Fatalf("payload %s: value %s does not read as a float", p, got.Value)
	}
	want := r.time
	if want.IsZero() {
		want = fuzzNow
	}
	if !got.Time.Equal(want) {
		t.Fatalf("payload %s: time %v, want %v", p, got.Time, want)
	}
	if r.hasStatus != (got.Status != nil) || (got.Status != nil && *got.Status != strings.ToValidUTF8(r.status, "\uFFFD")) {
		t.Fatalf("payload %s: status %v, want %q (%v)", p, got.Status, r.status, r.hasStatus)
	}
}

func FuzzLegacyBody(f *testing.F) {
	for _, s := range []string{
		`{"temperature": 21.5, "timestamp": "2025-03-18T10:00:00.123456+00:00"}`,
		`{"temperature": -3}`,
		`{"Temperature": 1e300, "status": "ok \"dry\" \u00e9", "timestamp": null}`,
		`{"temperature": 1e999}`,
		`{"temperature": 0.0000001, "timestamp": "0001-01-01T00:00:00Z"}`,
		`{"temperature": 1}{"temperature": 2}`,
		`{"temperature": "1"}`,
		`null`, `[]`, ``, `{`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		r, err := decodeLegacy("temperature", body)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an error without a message")
			}
			return
		}
		if !json.Valid(body) {
			t.Fatalf("accepted %q, which is not JSON", body)
		}
		if r.sensor != "temperature" {
			t.Fatalf("sensor %q", r.sensor)
		}
		checkOutput(t, "3f2b8c1e-6d4a-4e2b-9f1a-7c5d2e8b4a10", r)
	})
}

func FuzzIngestLine(f *testing.F) {
	for _, s := range []string{
		`{"sensor": "speed", "value": 55.5, "timestamp": "2012-04-23T18:25:43.511Z"}`,
		`{"SENSOR": "rpm", "value": -0, "timestamp": "2012-04-23T18:25:43+05:30", "x": [1, {"y": null}]}`,
		`{"sensor": "sp\u0065ed", "value": 1e-400, "timestamp": "2012-04-23T18:25:43.511Z"}`,
		`{"sensor": "speed/#", "value": 1, "timestamp": "2012-04-23T18:25:43.511Z"}`,
		`{"sensor": "speed", "value": 1e999, "timestamp": "2012-04-23T18:25:43.511Z"}`,
		`{"sensor": "speed", "value": 1}`,
		`{"sensor": "speed", "value": 1, "timestamp": "0001-01-01T00:00:00Z"}`,
		`{"sensor": 5, "value": true, "timestamp": 3}`,
		`null`, `"x"`, `{`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		r, err := decodeLine(line)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("an error without a message")
			}
			return
		}
		if !json.Valid(line) {
			t.Fatalf("accepted %q, which is not JSON", line)
		}
		if r.time.IsZero() || r.hasStatus {
			t.Fatalf("accepted %q as %+v", line, r)
		}
		checkOutput(t, "lada-1", r)
	})
}
