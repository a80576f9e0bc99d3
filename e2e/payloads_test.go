package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mqflux/mqflux/internal/testenv"
)

// payloadCase is one message published through the real server and what
// must become of it: a point in InfluxDB (fields, and a time unless the
// receive time is used), a dead letter with a reason, or neither (a topic
// the mapping does not take only passes through the broker).
type payloadCase struct {
	name    string
	topic   string // "" = devices/<device>/sensors/<measurement>
	payload string
	// written:
	fields map[string]string // field -> value as InfluxDB returns it
	time   int64             // ns; 0 = the receive time
	types  map[string]string // field -> InfluxDB type, where the type is the point
	// rejected:
	reason string
}

const t0 = 1795456800000000000 // 2026-11-23T18:00:00Z

func payloadCases() []payloadCase {
	many := make([]string, 65)
	for i := range many {
		many[i] = fmt.Sprintf(`"f%d": %d`, i, i)
	}
	return []payloadCase{
		// Written, exactly.
		{name: "bare number", payload: "21.5", fields: map[string]string{"value": "21.5"}},
		{name: "bare number with plus and exponent", payload: " +3e2 ", fields: map[string]string{"value": "300"}},
		{name: "number too small for a float is 0", payload: "1e-400", fields: map[string]string{"value": "0"}},
		{name: "JSON value with RFC 3339 time", payload: `{"value": 21.5, "time": "2026-11-23T18:00:00.123Z"}`,
			fields: map[string]string{"value": "21.5"}, time: t0 + 123000000},
		{name: "JSON integer stored as float", payload: `{"count": 21, "time": "2026-11-23T18:00:01Z"}`,
			fields: map[string]string{"count": "21"}, time: t0 + 1e9, types: map[string]string{"count": "float"}},
		{name: "JSON string field", payload: `{"note": "door open", "time": "2026-11-23T18:00:02Z"}`,
			fields: map[string]string{"note": "door open"}, time: t0 + 2e9, types: map[string]string{"note": "string"}},
		{name: "JSON boolean field", payload: `{"door": true, "time": "2026-11-23T18:00:03Z"}`,
			fields: map[string]string{"door": "true"}, time: t0 + 3e9, types: map[string]string{"door": "boolean"}},
		{name: "JSON epoch seconds", payload: `{"value": 7, "time": 1795456804}`,
			fields: map[string]string{"value": "7"}, time: t0 + 4e9},
		{name: "JSON fields and tags", payload: `{"fields": {"temp": 1.5, "hum": 40}, "tags": {"room": "kitchen"}, "time": "2026-11-23T18:00:05+01:00"}`,
			fields: map[string]string{"temp": "1.5", "hum": "40", "room": "kitchen"}, time: t0 + 5e9 - 3600e9},
		{name: "JSON unicode string", payload: `{"note": "größe \"12\"", "time": "2026-11-23T18:00:06Z"}`,
			fields: map[string]string{"note": `größe "12"`}, time: t0 + 6e9},

		// Dead-lettered with a reason.
		{name: "NaN", payload: "NaN", reason: "nan_inf"},
		{name: "Inf", payload: "+Inf", reason: "nan_inf"},
		{name: "minus Infinity", payload: "-Infinity", reason: "nan_inf"},
		{name: "JSON number overflowing a float", payload: `{"value": 1e999}`, reason: "nan_inf"},
		{name: "bad JSON", payload: `{"value": 21.5`, reason: "bad_json"},
		{name: "not a number", payload: "twenty", reason: "bad_number"},
		{name: "empty payload", payload: "", reason: "empty"},
		{name: "only whitespace", payload: "  \t ", reason: "empty"},
		{name: "nested object", payload: `{"value": {"a": 1}}`, reason: "bad_field"},
		{name: "array field", payload: `{"value": [1, 2]}`, reason: "bad_field"},
		{name: "top-level array", payload: `[1, 2]`, reason: "bad_json"},
		{name: "null field", payload: `{"value": null}`, reason: "null_field"},
		{name: "no fields", payload: `{"time": "2026-11-23T18:00:00Z"}`, reason: "no_fields"},
		{name: "bad time", payload: `{"value": 1, "time": "yesterday"}`, reason: "bad_time"},
		{name: "time out of range", payload: `{"value": 1, "time": "2300-01-01T00:00:00Z"}`, reason: "bad_time"},
		{name: "too large payload", payload: `{"note": "` + strings.Repeat("x", 70000) + `"}`, reason: "payload_too_large"},
		{name: "too many fields", payload: "{" + strings.Join(many, ", ") + "}", reason: "too_many_fields"},
		{name: "string too long", payload: `{"note": "` + strings.Repeat("y", 5000) + `"}`, reason: "string_too_long"},
		{name: "tag overriding the topic's device", payload: `{"value": 1, "tags": {"device": "someone-else"}}`, reason: "bad_tag"},
		{name: "field named time", payload: `{"fields": {"time": 1}}`, reason: "bad_field"},
		{name: "line protocol on a default topic", payload: "env,room=k temperature=21.5 1795456800", reason: "bad_number"},
		{name: "bad status payload", topic: "devices/{device}/status", payload: "maybe", reason: "bad_status"},
		{name: "empty device level", topic: "devices//sensors/{measurement}", payload: "1", reason: "topic"},

		// Presence is written to device_status.
		{name: "status online", topic: "devices/{device}/status", payload: "online",
			fields: map[string]string{"online": "true", "state": "online"}},

		// Not for the mapping: passes through the broker to subscribers,
		// neither stored nor dead-lettered.
		{name: "unknown topic under devices", topic: "devices/{device}/config/interval", payload: "30"},
	}
}

// TestPayloads publishes every case with the real mosquitto_pub through a
// real server and checks the exact point, or the dead letter and its
// count in /metrics.
func TestPayloads(t *testing.T) {
	in := testenv.StartInflux(t, testenv.WithoutFlux())
	srv := testenv.StartServer(t, testenv.ServerOptions{Influx: in})
	measurement := measurementFor(t)
	sub := testenv.Subscribe(t, srv.MQTT, testenv.DemoReader, "devices/#", "-q", "1")
	srv.WaitLog(t, "subscribed", "demo-reader")

	cases := payloadCases()
	topics := make([]string, len(cases))
	var from, to time.Time
	for i, c := range cases {
		device := fmt.Sprintf("pl-%02d", i)
		topic := c.topic
		if topic == "" {
			topic = "devices/{device}/sensors/{measurement}"
		}
		topics[i] = strings.NewReplacer("{device}", device, "{measurement}", measurement).Replace(topic)
		// The payload goes through a file: an argument cannot be empty for
		// mosquitto_pub -m, nor as long as the largest case.
		file := filepath.Join(t.TempDir(), "payload")
		if err := os.WriteFile(file, []byte(c.payload), 0o600); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			from = time.Now()
		}
		msg := []string{"-f", file}
		if c.payload == "" {
			msg = []string{"-n"} // a zero-length message
		}
		pubFile(t, srv.MQTT, testenv.DemoGateway, topics[i], msg...)
		to = time.Now()
	}
	// Every message, rejected or not, reached the subscriber: a rejected
	// reading is acknowledged and delivered, only not stored.
	sub.WaitLines(t, len(cases), time.Minute)

	written := 0
	for _, c := range cases {
		if c.fields != nil && c.topic == "" {
			written++
		}
	}
	waitFor(t, time.Minute, "every good reading stored", func() bool { return points(t, in, measurement) >= written })
	waitFor(t, time.Minute, "the status point stored", func() bool { return points(t, in, "device_status") >= 1 })

	letters := deadLetters(t, srv)
	types := fieldTypes(t, in, measurement)
	wantRejected := map[string]int{}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var mine []int
			for j, e := range letters {
				if e.Topic == topics[i] {
					mine = append(mine, j)
				}
			}
			switch {
			case c.reason != "":
				wantRejected[c.reason]++
				if len(mine) != 1 {
					t.Fatalf("%d dead letters for %s, want 1", len(mine), topics[i])
				}
				e := letters[mine[0]]
				if e.Reason != c.reason || e.Source != "mqtt" || !bytes.Equal(e.Payload, []byte(c.payload)) || e.Detail == "" {
					t.Errorf("dead letter: reason %q source %q detail %q payload %.80q; want reason %q, source mqtt, the payload",
						e.Reason, e.Source, e.Detail, e.Payload, c.reason)
				}
				checkNotStored(t, in, strings.Split(topics[i], "/")[1])
			case c.fields != nil:
				if len(mine) != 0 {
					t.Fatalf("a good reading was dead-lettered: %+v", letters[mine[0]])
				}
				meas := measurement
				if c.topic != "" {
					meas = "device_status"
				}
				checkPoint(t, in, meas, strings.Split(topics[i], "/")[1], c, from, to)
				for f, typ := range c.types {
					if types[f] != typ {
						t.Errorf("field %s has type %q in InfluxDB, want %q", f, types[f], typ)
					}
				}
			default: // passes through
				if len(mine) != 0 {
					t.Errorf("dead-lettered: %+v", letters[mine[0]])
				}
				if !slices.Contains(sub.Lines(), topics[i]+" "+c.payload) {
					t.Errorf("the subscriber did not get %s %s", topics[i], c.payload)
				}
				checkNotStored(t, in, strings.Split(topics[i], "/")[1])
			}
		})
	}

	rejected := 0
	for reason, n := range wantRejected {
		rejected += n
		if got := metric(t, srv, "mqflux_readings_rejected_total", `reason="`+reason+`"`, `source="mqtt"`); got != float64(n) {
			t.Errorf("mqflux_readings_rejected_total{reason=%q} = %v, want %d", reason, got, n)
		}
	}
	if got := metric(t, srv, "mqflux_readings_rejected_total"); got != float64(rejected) {
		t.Errorf("mqflux_readings_rejected_total sums to %v, want %d", got, rejected)
	}
	if len(letters) != rejected {
		t.Errorf("%d dead letters, want %d", len(letters), rejected)
	}
	// The pass-through message is not a reading.
	if got := metric(t, srv, "mqflux_readings_received_total", `source="mqtt"`); got != float64(len(cases)-1) {
		t.Errorf("mqflux_readings_received_total = %v, want %d", got, len(cases)-1)
	}
}

// pubFile runs the real mosquitto_pub at QoS 1 with the message options
// given (testenv.Pub always passes -m, which cannot be empty or huge).
func pubFile(t *testing.T, addr string, l testenv.Login, topic string, msg ...string) {
	t.Helper()
	bin := testenv.RequireCommand(t, "mosquitto_pub")
	host, port, _ := strings.Cut(addr, ":")
	args := append([]string{"-h", host, "-p", port, "-u", l.User, "-P", l.Password, "-q", "1", "-t", topic}, msg...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_pub -t %s: %v %s", topic, err, out)
	}
}

// points counts the points of a measurement, whatever its fields.
func points(t *testing.T, in *testenv.Influx, measurement string) int {
	t.Helper()
	ss := in.Query(t, fmt.Sprintf(`SELECT * FROM %q`, measurement))
	if len(ss) == 0 {
		return 0
	}
	return len(ss[0].Values)
}

// checkPoint finds the one point of device and compares every column.
func checkPoint(t *testing.T, in *testenv.Influx, measurement, device string, c payloadCase, from, to time.Time) {
	t.Helper()
	ss := in.Query(t, fmt.Sprintf(`SELECT * FROM %q WHERE "device" = '%s'`, measurement, device))
	if len(ss) != 1 || len(ss[0].Values) != 1 {
		t.Fatalf("%s of %s: %+v, want one point", measurement, device, ss)
	}
	row := ss[0].Rows()[0]
	ts := fmt.Sprint(row["time"])
	if c.time != 0 {
		if ts != fmt.Sprint(c.time) {
			t.Errorf("time %s, want %d", ts, c.time)
		}
	} else {
		var n int64
		fmt.Sscan(ts, &n)
		// The receive time: after the first publish began, before the last ended.
		if n < from.UnixNano() || n > to.UnixNano() {
			t.Errorf("time %s, want the receive time between %d and %d", ts, from.UnixNano(), to.UnixNano())
		}
	}
	for col, v := range row {
		if col == "time" || col == "device" {
			continue
		}
		want, ok := c.fields[col]
		switch {
		case !ok && v != nil:
			t.Errorf("column %s = %v, want none", col, v)
		case ok && fmt.Sprint(v) != want:
			t.Errorf("column %s = %v, want %s", col, v, want)
		}
	}
	for f := range c.fields {
		if _, ok := row[f]; !ok {
			t.Errorf("column %s missing", f)
		}
	}
}

// checkNotStored fails if anything was stored for device.
func checkNotStored(t *testing.T, in *testenv.Influx, device string) {
	t.Helper()
	for _, s := range in.Query(t, fmt.Sprintf(`SELECT * FROM /.*/ WHERE "device" = '%s'`, device)) {
		if len(s.Values) > 0 {
			t.Errorf("stored in %s: %v", s.Name, s.Values)
		}
	}
}

// fieldTypes is SHOW FIELD KEYS of a measurement: field -> type.
func fieldTypes(t *testing.T, in *testenv.Influx, measurement string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, s := range in.Query(t, fmt.Sprintf(`SHOW FIELD KEYS FROM %q`, measurement)) {
		for _, row := range s.Values {
			out[fmt.Sprint(row[0])] = fmt.Sprint(row[1])
		}
	}
	return out
}
