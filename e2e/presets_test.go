package e2e

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/influxdata/line-protocol/v2/lineprotocol"

	"github.com/mqflux/mqflux/flow/mapping/fixture"
	"github.com/mqflux/mqflux/internal/testenv"
)

// presetEnv enables every preset, with the zone the Tasmota fixtures were
// written for.
var presetEnv = []string{
	"MQFLUX_MAPPING_PRESETS=[zigbee2mqtt, tasmota, esphome, shelly]",
	"MQFLUX_MAPPING_TIMEZONE=Europe/Berlin",
}

// Every preset fixture, published by mosquitto_pub as the gateway to a real
// server, becomes exactly its points in a real InfluxDB: Tasmota's local
// times at the instant they mean in Europe/Berlin, Zigbee2MQTT's JSON and
// plain availability as device_status, and the ignored topics nowhere —
// neither stored nor dead-lettered.
func TestPresetFixturesReachInflux(t *testing.T) {
	in := testenv.StartInflux(t)
	srv := testenv.StartServer(t, testenv.ServerOptions{Influx: in, Env: presetEnv})
	all, err := fixture.LoadDir(filepath.Join(testenv.ModuleRoot(t), "flow/mapping/testdata/presets"))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]bool{}
	start := time.Now()
	for _, name := range []string{"zigbee2mqtt", "tasmota", "esphome", "shelly"} {
		if len(all[name]) == 0 {
			t.Fatalf("no fixtures for preset %s", name)
		}
		for _, c := range all[name] {
			if out, err := testenv.Pub(t, srv.MQTT, testenv.DemoGateway, c.Topic, c.Payload, "-q", "1"); err != nil {
				t.Fatalf("%s:%d mosquitto_pub %s: %v: %s", c.File, c.Line, c.Topic, err, out)
			}
			for _, p := range c.Points {
				want[canonicalLine(t, p)] = true
			}
		}
	}
	end := time.Now()

	var got map[string]bool
	deadline := time.Now().Add(60 * time.Second)
	for {
		got = storedPoints(t, in, start, end)
		if len(got) >= len(want) || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	for p := range want {
		if !got[p] {
			t.Errorf("InfluxDB lacks %s", p)
		}
	}
	for p := range got {
		if !want[p] {
			t.Errorf("InfluxDB holds %s, which no fixture expects", p)
		}
	}
	if strings.Contains(srv.Log(), "reading rejected") {
		t.Errorf("a fixture was rejected (dead-lettered):\n%s", srv.Log())
	}
}

// canonicalLine is one fixture point as measurement, sorted tags, sorted
// fields with their values as storedPoints prints them, and the time, or
// "rx" for a point stamped on receipt.
func canonicalLine(t *testing.T, line string) string {
	t.Helper()
	dec := lineprotocol.NewDecoderWithBytes([]byte(line + "\n"))
	if !dec.Next() {
		t.Fatalf("fixture point %q: no line", line)
	}
	m, err := dec.Measurement()
	if err != nil {
		t.Fatalf("fixture point %q: %v", line, err)
	}
	tags := map[string]string{}
	for {
		k, v, err := dec.NextTag()
		if err != nil {
			t.Fatalf("fixture point %q: %v", line, err)
		}
		if k == nil {
			break
		}
		tags[string(k)] = string(v)
	}
	fields := map[string]string{}
	for {
		k, v, err := dec.NextField()
		if err != nil {
			t.Fatalf("fixture point %q: %v", line, err)
		}
		if k == nil {
			break
		}
		switch v.Kind() {
		case lineprotocol.Float:
			fields[string(k)] = strconv.FormatFloat(v.FloatV(), 'g', -1, 64)
		case lineprotocol.String:
			fields[string(k)] = strconv.Quote(v.StringV())
		case lineprotocol.Bool:
			fields[string(k)] = strconv.FormatBool(v.BoolV())
		default:
			t.Fatalf("fixture point %q: field %s has kind %v", line, k, v.Kind())
		}
	}
	ts, err := dec.Time(lineprotocol.Nanosecond, time.Time{})
	if err != nil {
		t.Fatalf("fixture point %q: %v", line, err)
	}
	at := "rx"
	if !ts.IsZero() {
		at = strconv.FormatInt(ts.UnixNano(), 10)
	}
	return canonical(string(m), tags, fields, at)
}

func canonical(m string, tags, fields map[string]string, at string) string {
	var b strings.Builder
	b.WriteString(m)
	for _, k := range sortedKeys(tags) {
		fmt.Fprintf(&b, ",%s=%s", k, tags[k])
	}
	for i, k := range sortedKeys(fields) {
		sep := ","
		if i == 0 {
			sep = " "
		}
		fmt.Fprintf(&b, "%s%s=%s", sep, k, fields[k])
	}
	return b.String() + " " + at
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// storedPoints is every point in the database, canonical; a time within
// [from, to] (when the fixtures were published) is printed as "rx".
func storedPoints(t *testing.T, in *testenv.Influx, from, to time.Time) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	for _, ms := range in.Query(t, "SHOW MEASUREMENTS") {
		for _, row := range ms.Rows() {
			name := fmt.Sprint(row["name"])
			if name == "alerts" {
				continue // the alert engine's own record, not a reading
			}
			for _, s := range in.Query(t, fmt.Sprintf(`SELECT * FROM %q GROUP BY *`, name)) {
				for _, r := range s.Rows() {
					fields := map[string]string{}
					var at string
					for k, v := range r {
						switch {
						case v == nil:
						case k == "time":
							ns, _ := v.(json.Number).Int64()
							at = strconv.FormatInt(ns, 10)
							if ns >= from.UnixNano() && ns <= to.UnixNano() {
								at = "rx"
							}
						default:
							fields[k] = storedValue(v)
						}
					}
					tags := map[string]string{}
					for k, v := range s.Tags {
						if v != "" { // GROUP BY * lists the measurement's other tag keys empty
							tags[k] = v
						}
					}
					out[canonical(name, tags, fields, at)] = true
				}
			}
		}
	}
	return out
}

func storedValue(v any) string {
	switch x := v.(type) {
	case json.Number:
		f, _ := x.Float64()
		return strconv.FormatFloat(f, 'g', -1, 64)
	case string:
		return strconv.Quote(x)
	case bool:
		return strconv.FormatBool(x)
	}
	return fmt.Sprint(v)
}
