package shim

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/mqflux/mqflux/flow/ingest"
	"github.com/mqflux/mqflux/flow/point"
)

// reading is one decoded legacy reading.
type reading struct {
	sensor    string
	value     float64
	time      time.Time // zero: stamp with the time of receipt
	status    string
	hasStatus bool
}

// decodeLegacy reads a /v1/log-{param} body. It keeps what the original
// struct decoder allowed (unknown fields ignored, field names matched without
// regard to case, a null or zero timestamp meaning "now") and refuses what it
// let through by accident: a missing or null parameter field, which the
// original stored as 0, and trailing data after the object.
func decodeLegacy(param string, body []byte) (reading, error) {
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil {
		return reading{}, describeJSON(err, "body")
	}
	if fields == nil {
		return reading{}, errors.New("body is null, want a JSON object")
	}
	r := reading{sensor: param}
	var raw [3]json.RawMessage
	for i, name := range [3]string{param, "timestamp", "status"} {
		var err error
		if raw[i], err = lookup(fields, name); err != nil {
			return reading{}, err
		}
	}
	if isNull(raw[0]) {
		return reading{}, fmt.Errorf("%q is missing: want {%q: number}", param, param)
	}
	var err error
	if r.value, err = number(raw[0], param); err != nil {
		return reading{}, err
	}
	if !isNull(raw[1]) {
		if r.time, err = timestamp(raw[1], "timestamp"); err != nil {
			return reading{}, err
		}
	}
	if raw := raw[2]; !isNull(raw) {
		if r.status, err = text(raw, "status"); err != nil {
			return reading{}, err
		}
		r.hasStatus = true
	}
	return r, nil
}

// streamLine is one /ingest line as the original's clients write it. Each
// field keeps its raw value and decodes it in place, which spares a second
// pass of encoding/json per field on a path that runs a million times per
// upload.
type streamLine struct {
	Sensor    rawField `json:"sensor"`
	Value     rawField `json:"value"`
	Timestamp rawField `json:"timestamp"`
}

// rawField is a field's value as it appeared, without a copy: it is only
// valid until the line's buffer is reused.
type rawField []byte

func (f *rawField) UnmarshalJSON(b []byte) error {
	*f = b
	return nil
}

// decodeLine reads one /ingest line. Unlike a /v1/log body, a line must
// carry its own timestamp: these readings were buffered on a device for
// hours, and stamping them with the time of upload would file them at the
// wrong time (the original refused them too).
func decodeLine(line []byte) (reading, error) {
	var l streamLine
	if err := json.Unmarshal(line, &l); err != nil {
		return reading{}, describeJSON(err, "line")
	}
	var r reading
	if isNull(json.RawMessage(l.Sensor)) {
		return reading{}, errors.New("\"sensor\" is missing")
	}
	var err error
	if r.sensor, err = text(json.RawMessage(l.Sensor), "sensor"); err != nil {
		return reading{}, err
	}
	if !validName(r.sensor) {
		return reading{}, fmt.Errorf("\"sensor\": %q is not a sensor name: 1 to 64 letters, digits, '-', '_' or '.'", truncate(r.sensor, 80))
	}
	if isNull(json.RawMessage(l.Value)) {
		return reading{}, errors.New("\"value\" is missing")
	}
	if r.value, err = number(json.RawMessage(l.Value), "value"); err != nil {
		return reading{}, err
	}
	if isNull(json.RawMessage(l.Timestamp)) {
		return reading{}, errors.New("\"timestamp\" is missing: each line needs the RFC 3339 time it was measured")
	}
	if r.time, err = timestamp(json.RawMessage(l.Timestamp), "timestamp"); err != nil {
		return reading{}, err
	}
	if r.time.IsZero() {
		return reading{}, errors.New("\"timestamp\" is the zero time")
	}
	return r, nil
}

// text reads a JSON string; one without escapes needs no decoder.
func text(raw json.RawMessage, name string) (string, error) {
	if raw[0] != '"' {
		return "", fmt.Errorf("%q: want a string, got %s", name, kind(raw))
	}
	if bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw) {
		return string(raw[1 : len(raw)-1]), nil
	}
	var s string
	if err := json.Unmarshal(raw, &s); err != nil {
		return "", fmt.Errorf("%q: %w", name, err)
	}
	return s, nil
}

// lookup finds a field the way encoding/json matches struct fields: the
// exact name first, then a name equal to it without regard to case. Two
// such names (and no exact one) are refused rather than picked at random.
func lookup(fields map[string]json.RawMessage, name string) (json.RawMessage, error) {
	if raw, ok := fields[name]; ok {
		return raw, nil
	}
	var found json.RawMessage
	var as string
	for k, raw := range fields {
		if !strings.EqualFold(k, name) {
			continue
		}
		if found != nil {
			return nil, fmt.Errorf("%q and %q both name %q: send one", min(as, k), max(as, k), name)
		}
		found, as = raw, k
	}
	return found, nil
}

func isNull(raw json.RawMessage) bool {
	return len(raw) == 0 || string(raw) == "null"
}

// number reads a JSON number into a float64, refusing what InfluxDB could
// not store: a literal beyond float64's range (1e999) would become ±Inf.
func number(raw json.RawMessage, name string) (float64, error) {
	if c := raw[0]; c != '-' && (c < '0' || c > '9') {
		return 0, fmt.Errorf("%q: want a number, got %s", name, kind(raw))
	}
	v, err := strconv.ParseFloat(string(raw), 64)
	if err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
		return 0, fmt.Errorf("%q: %s is out of range for a 64-bit float", name, truncate(string(raw), 40))
	}
	return v, nil
}

// timestamp reads an RFC 3339 string exactly as the original (a time.Time
// field) did.
func timestamp(raw json.RawMessage, name string) (time.Time, error) {
	if raw[0] != '"' {
		return time.Time{}, fmt.Errorf("%q: want an RFC 3339 string such as \"2026-11-23T18:00:00.123Z\", got %s", name, kind(raw))
	}
	var t time.Time
	if err := t.UnmarshalJSON(raw); err != nil {
		return time.Time{}, fmt.Errorf("%q: %s is not an RFC 3339 time such as \"2026-11-23T18:00:00.123Z\"", name, truncate(string(raw), 60))
	}
	return t, nil
}

// kind names the JSON type of a raw value for an error message.
func kind(raw json.RawMessage) string {
	switch raw[0] {
	case '"':
		return "a string"
	case '{':
		return "an object"
	case '[':
		return "an array"
	case 't', 'f':
		return "a boolean"
	case 'n':
		return "null"
	}
	return "a number"
}

// describeJSON turns a decoding error into one that says where the input
// went wrong, without the Go type names encoding/json puts in its messages.
func describeJSON(err error, what string) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Errorf("%s is not valid JSON: %s at byte %d", what, strings.TrimPrefix(syn.Error(), "json: "), syn.Offset)
	case errors.As(err, &typ):
		return fmt.Errorf("%s is a JSON %s, want an object", what, typ.Value)
	case err.Error() == "unexpected end of JSON input":
		return fmt.Errorf("%s is not valid JSON: it ends before the object does", what)
	}
	return fmt.Errorf("%s is not valid JSON: %w", what, err)
}

// forDevice is the reading as the pipeline takes it: a float field "value"
// and, when sent, a string field "status". The value is always a float (21
// becomes 21.0) because the original stored float64: an integer-looking
// literal must not give InfluxDB an integer field that the next 21.5 would
// then conflict with. A zero time is stamped with the time of receipt.
func (r reading) forDevice(device string) ingest.Reading {
	fields := make([]point.Field, 1, 2)
	fields[0] = point.FloatField("value", r.value)
	if r.hasStatus {
		fields = append(fields, point.StringField("status", r.status))
	}
	return ingest.Reading{Device: device, Measurement: r.sensor, Fields: fields, Time: r.time}
}
