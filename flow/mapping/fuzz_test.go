package mapping

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/line-protocol/v2/lineprotocol"

	"github.com/mqflux/mqflux/flow/ingest"
)

func FuzzAppendJSON(f *testing.F) {
	for _, s := range []string{
		`{"value": 21.5, "time": "2026-11-23T18:00:00.123Z"}`,
		`{"temperature": 21.5, "humidity": 40.1, "time": 1700000000}`,
		`{"fields": {"a": 1, "b": "x\"y\\z", "c": true}, "tags": {"room": "k 1"}, "time": 1700000000.123456789}`,
		`{"s": "\u00e9\ud83d\ude00\ud800\udc00\ud800x", "n": -0.0e-3}`,
		`{"a": null}`, `{"a": {"b": [1, {"c": null}]}}`, `{"a": 1e999}`, `{"a": 1,}`, `{}`, ` {"a":1} `,
		`{"time": -1.5e3, "v": 0}`, `{"time": "1677-09-21T00:12:43.145224192Z", "v": 1}`,
		`{"tags": {"device": "x"}, "v": 1}`, `{"a b,c=d\\": 1}`, `{"a\\b": "\t"}`,
	} {
		f.Add([]byte(s))
	}
	m := mustNew(f, testConfig())
	f.Fuzz(func(t *testing.T, payload []byte) {
		out, rej := appendChecked(t, m, "devices/pi-1/sensors/temp", payload, receivedAt())
		body := trimLeft(payload)
		isObject := len(body) > 0 && body[0] == '{'
		if isObject {
			valid := json.Valid(payload)
			if !atLimit(rej) && valid == (rej != nil && rej.Reason == "bad_json") {
				t.Fatalf("json.Valid = %v but mapping says %v", valid, rej)
			}
		}
		if rej != nil {
			return
		}
		pts := parseLP(t, out)
		if !isObject { // a bare number: FuzzAppendNumber checks those
			return
		}
		if len(pts) != 1 {
			t.Fatalf("%d points from one JSON reading: %q", len(pts), out)
		}
		checkJSONRoundTrip(t, payload, pts[0])
	})
}

// checkJSONRoundTrip compares the point written with what encoding/json
// reads from the payload.
func checkJSONRoundTrip(t *testing.T, payload []byte, p lpPoint) {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	var obj map[string]any
	if err := dec.Decode(&obj); err != nil {
		t.Fatalf("mapping accepted what encoding/json refuses: %v", err)
	}
	fields, explicit := obj, false
	if fo, ok := obj["fields"]; ok {
		fields, explicit = fo.(map[string]any), true
	}
	want := map[string]any{}
	for k, v := range fields {
		if !explicit && (k == "time" || k == "tags") {
			continue
		}
		if n, ok := v.(json.Number); ok {
			f, err := strconv.ParseFloat(string(n), 64)
			if err != nil {
				t.Fatalf("field %q = %s: %v", k, n, err)
			}
			v = f
		}
		want[k] = v
	}
	if len(want) != len(p.fields) {
		t.Fatalf("fields %v, want %v", p.fields, want)
	}
	for k, v := range want {
		if p.fields[k] != v {
			t.Fatalf("field %q = %#v, want %#v", k, p.fields[k], v)
		}
	}
	wantTags := map[string]any{"device": "pi-1"}
	if tags, ok := obj["tags"].(map[string]any); ok {
		for k, v := range tags {
			wantTags[k] = v
		}
	}
	if len(wantTags) != len(p.tags) {
		t.Fatalf("tags %v, want %v", p.tags, wantTags)
	}
	for k, v := range wantTags {
		if p.tags[k] != v {
			t.Fatalf("tag %q = %q, want %q", k, p.tags[k], v)
		}
	}
	if ts := wantTime(t, obj["time"]); ts != p.ts {
		t.Fatalf("time %d, want %d", p.ts, ts)
	}
}

// localTime is RFC 3339 without the zone, written out independently of the
// mapper's own check.
var localTime = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?$`)

// wantTime computes the expected timestamp independently: big.Rat for epoch
// numbers (seconds, truncated toward zero), time.Parse for strings.
func wantTime(t *testing.T, v any) int64 {
	switch v := v.(type) {
	case nil:
		return receivedAt().UnixNano()
	case string:
		tm, err := time.Parse(time.RFC3339Nano, v)
		if err != nil && localTime.MatchString(v) {
			// Without a zone: local to mapping.timezone, UTC here.
			tm, err = time.Parse("2006-01-02T15:04:05.999999999", v)
		}
		if err != nil {
			t.Fatalf("time %q accepted but time.Parse says %v", v, err)
		}
		return tm.UnixNano()
	case json.Number:
		r, ok := new(big.Rat).SetString(string(v))
		if !ok {
			t.Fatalf("time %s: not a rational", v)
		}
		r.Mul(r, big.NewRat(1e9, 1))
		q := new(big.Int).Quo(r.Num(), r.Denom()) // truncates toward zero
		if !q.IsInt64() {
			t.Fatalf("time %s accepted but is out of range", v)
		}
		return q.Int64()
	}
	t.Fatalf("time %#v accepted", v)
	return 0
}

func FuzzAppendNumber(f *testing.F) {
	for _, s := range [][3]string{
		{"21.5", "pi-1", "temp"}, {" -3e-2\n", "a b", "room temp,x"}, {"+1", `C:\d`, "m=1"},
		{"NaN", "pi", "t"}, {"1e999", "pi", "t"}, {"0x10", "pi", "t"}, {"1", "a\\", "t"},
		{"1", "a\\,b", "t"}, {"1", "a\\\\", "t\\ x"}, {"21", "é", "#t"}, {"", "pi", "t"},
	} {
		f.Add([]byte(s[0]), s[1], s[2])
	}
	m := mustNew(f, testConfig())
	f.Fuzz(func(t *testing.T, payload []byte, device, meas string) {
		topic := "devices/" + device + "/sensors/" + meas
		out, rej := appendChecked(t, m, topic, payload, receivedAt())
		body := trimSpace(payload)
		finite := isFiniteNumber(body)
		if rej != nil {
			switch rej.Reason {
			case "bad_number", "nan_inf":
				if finite {
					t.Fatalf("%q is a finite number but got %v", body, rej)
				}
			case "topic", "empty", "bad_json":
			default:
				if finite {
					t.Fatalf("%q is a finite number but got %v", body, rej)
				}
			}
			return
		}
		if !finite {
			t.Fatalf("%q is not a finite JSON number but was accepted as %q", body, out)
		}
		pts := parseLP(t, out)
		if len(pts) != 1 {
			t.Fatalf("%d points: %q", len(pts), out)
		}
		p := pts[0]
		want, _ := strconv.ParseFloat(strings.TrimPrefix(string(body), "+"), 64)
		if p.meas != meas || p.tags["device"] != device || len(p.tags) != 1 || p.fields["value"] != want ||
			len(p.fields) != 1 || p.ts != receivedAt().UnixNano() {
			t.Fatalf("point %+v from topic %q payload %q", p, topic, payload)
		}
	})
}

// isFiniteNumber reports whether b, less one leading '+', is a JSON number
// that fits a float64, with encoding/json as the judge of the grammar.
func isFiniteNumber(b []byte) bool {
	if len(b) > 0 && b[0] == '+' {
		b = b[1:]
	}
	var n json.Number
	if len(b) == 0 || (b[0] != '-' && (b[0] < '0' || b[0] > '9')) || json.Unmarshal(b, &n) != nil {
		return false
	}
	_, err := strconv.ParseFloat(string(n), 64)
	return err == nil
}

func FuzzAppendLine(f *testing.F) {
	for _, s := range []string{
		"cpu,host=a usage=5i,idle=1.5,ok=t,msg=\"hi\",n=7u 1700000000",
		"# c\n\ncpu v=1\r\nmem,z=1 v=2 -5\n", `my\ cpu,ta\=g=x\,y f\ 1="q\"\\" 1`,
		"cpu,device=x,site=y v=1", "cpu v=1e999", "cpu v=", "cpu v=1 99999999999999999",
		`cpu s="a\nb"`, "cpu time=1", "cpu,a\\=b\\ =c v=1", "cpu v=1,v=2", "c\\ v=1",
	} {
		f.Add([]byte(s))
	}
	m := mustNew(f, testConfig())
	f.Fuzz(func(t *testing.T, payload []byte) {
		out, rej := appendChecked(t, m, "devices/pi-1/line", payload, receivedAt())
		in, inErr := parseInput(payload)
		if rej != nil {
			if rej.Reason == "bad_line_protocol" && inErr == nil && !strings.Contains(rej.Detail, "measurement") {
				t.Fatalf("the library parses %q but mapping says %v", payload, rej)
			}
			return
		}
		if inErr != nil {
			t.Fatalf("the library refuses %q (%v) but mapping wrote %q", payload, inErr, out)
		}
		pts := parseLP(t, out)
		if len(pts) != len(in) {
			t.Fatalf("%d points in, %d out: %q", len(in), len(pts), out)
		}
		for i, p := range pts {
			w := in[i]
			for k, v := range map[string]string{"device": "pi-1", "site": "lab"} {
				if _, ok := w.tags[k]; ok {
					t.Fatalf("line %d gives tag %s, which the topic or the rule gives, and was written: %q", i+1, k, out)
				}
				w.tags[k] = v
			}
			if p.meas != w.meas || !sameMap(p.tags, w.tags) || !sameAny(p.fields, w.fields) || p.ts != w.ts {
				t.Fatalf("point %d: %+v, want %+v", i, p, w)
			}
		}
	})
}

// parseInput reads line protocol with the library alone, as the oracle;
// timestamps are in seconds (the test rule's precision).
func parseInput(b []byte) ([]lpPoint, error) {
	dec := lineprotocol.NewDecoderWithBytes(b)
	var pts []lpPoint
	for dec.Next() {
		p := lpPoint{tags: map[string]string{}, fields: map[string]any{}}
		m, err := dec.Measurement()
		if err != nil {
			return nil, err
		}
		p.meas = string(m)
		for {
			k, v, err := dec.NextTag()
			if err != nil {
				return nil, err
			}
			if k == nil {
				break
			}
			p.tags[string(k)] = string(v)
		}
		for {
			k, v, err := dec.NextField()
			if err != nil {
				return nil, err
			}
			if k == nil {
				break
			}
			val := v.Interface()
			if s, ok := val.(string); ok {
				val = strings.Clone(s)
			}
			p.fields[string(k)] = val
		}
		tb, err := dec.TimeBytes()
		if err != nil {
			return nil, err
		}
		if p.ts = receivedAt().UnixNano(); tb != nil {
			sec, ok := new(big.Int).SetString(string(tb), 10)
			if !ok {
				return nil, fmt.Errorf("timestamp %q", tb)
			}
			ns := sec.Mul(sec, big.NewInt(1e9))
			if !ns.IsInt64() {
				return nil, fmt.Errorf("timestamp %q out of range", tb)
			}
			p.ts = ns.Int64()
		}
		pts = append(pts, p)
	}
	return pts, nil
}

func sameMap(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

func sameAny(a, b map[string]any) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// TestNestingLimitAgreesWithEncodingJSON checks the edge fuzzing cannot
// reach in small inputs: encoding/json refuses nesting deeper than 10000,
// the most max_depth may be.
func TestNestingLimitAgreesWithEncodingJSON(t *testing.T) {
	cfg := testConfig()
	cfg.MaxDepth = jsonMaxDepth
	m := mustNew(t, cfg)
	seen := map[bool]bool{}
	for _, n := range []int{9998, 9999, 10000, 10001} {
		payload := []byte(`{"a":` + strings.Repeat("[", n) + strings.Repeat("]", n) + `}`)
		_, rej := appendChecked(t, m, "devices/pi-1/sensors/t", payload, receivedAt())
		if rej == nil {
			t.Fatalf("depth %d: nested array accepted", n)
		}
		valid := json.Valid(payload)
		seen[valid] = true
		if valid == (rej.Reason == "too_deep") {
			t.Fatalf("depth %d: json.Valid = %v, mapping says %v", n, valid, rej)
		}
		if !valid && !strings.Contains(rej.Detail, "nesting deeper than max_depth (10000)") {
			t.Fatalf("depth %d: %v", n, rej)
		}
	}
	if !seen[true] || !seen[false] {
		t.Fatalf("the depths tried do not straddle the limit: %v", seen)
	}
}

// FuzzAppendNested holds the templates that flatten, index and skip, or
// make points of objects, to encoding/json: they agree on which payloads
// are JSON, and every non-null scalar of an accepted payload is one field
// of the points written.
func FuzzAppendNested(f *testing.F) {
	for _, s := range []string{
		`{"BME280":{"Temperature":21.5,"Humidity":40},"ok":true}`,
		`{"Power":[12,0],"x":[{"y":1}],"n":null}`,
		`{"Time":"2026-01-15T12:00:00","S":{"v":1,"d":{"e":"x"}},"T":"C"}`,
		`{"a":{"b":{"c":[[1,2],[3]]}}}`, `{"a":[]}`, `{"a":{}}`, `{"a":{"b":1},"a_b":2}`, `{"a":[1,}`,
	} {
		f.Add([]byte(s))
	}
	m := mustNew(f, shapesConfig())
	f.Fuzz(func(t *testing.T, payload []byte) {
		for _, name := range []string{"flat/d", "pts/d"} {
			out, rej := appendChecked(t, m, name, payload, receivedAt())
			body := trimLeft(payload)
			if len(body) == 0 || body[0] != '{' {
				return
			}
			if valid := json.Valid(payload); !atLimit(rej) && valid == (rej != nil && rej.Reason == "bad_json") {
				t.Fatalf("%s: json.Valid = %v but mapping says %v", name, valid, rej)
			}
			if rej != nil {
				continue
			}
			var obj map[string]any
			if err := json.Unmarshal(payload, &obj); err != nil {
				t.Fatalf("%s: mapping accepted what encoding/json refuses: %v", name, err)
			}
			if _, explicit := obj["fields"]; explicit || hasDupKeys(payload) {
				continue // encoding/json keeps a repeated key's last value; a skipped null hides the repeat
			}
			delete(obj, "tags")
			delete(obj, "time")
			if name == "pts/d" {
				delete(obj, "Time")
			}
			n := 0
			for _, p := range parseLP(t, out) {
				n += len(p.fields)
			}
			if want := leaves(obj); n != want {
				t.Fatalf("%s: %d fields written for %d scalars: %s -> %q", name, n, want, payload, out)
			}
		}
	})
}

// atLimit reports whether rej ended a reading at max_depth or
// max_key_bytes, before the rest of the payload was read: such a payload
// may be valid JSON or not.
func atLimit(rej *ingest.RejectError) bool {
	return rej != nil && (rej.Reason == "too_deep" || rej.Reason == "key_too_long")
}

// leaves counts the non-null scalars in a decoded JSON value.
func leaves(v any) int {
	switch x := v.(type) {
	case nil:
		return 0
	case map[string]any:
		n := 0
		for _, e := range x {
			n += leaves(e)
		}
		return n
	case []any:
		n := 0
		for _, e := range x {
			n += leaves(e)
		}
		return n
	}
	return 1
}

// hasDupKeys reports whether some object of a valid JSON payload repeats
// a key.
func hasDupKeys(payload []byte) bool {
	dec := json.NewDecoder(bytes.NewReader(payload))
	type frame struct {
		obj    bool
		keys   map[string]bool
		expect bool // the next string token is a key
	}
	var stack []*frame
	for {
		tok, err := dec.Token()
		if err != nil {
			return false
		}
		var top *frame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		switch v := tok.(type) {
		case json.Delim:
			switch v {
			case '{', '[':
				if top != nil && top.obj {
					top.expect = true
				}
				stack = append(stack, &frame{obj: v == '{', keys: map[string]bool{}, expect: v == '{'})
			default:
				stack = stack[:len(stack)-1]
			}
		default:
			if top == nil || !top.obj {
				continue
			}
			if top.expect {
				k, _ := v.(string)
				if top.keys[k] {
					return true
				}
				top.keys[k] = true
				top.expect = false
			} else {
				top.expect = true
			}
		}
	}
}
