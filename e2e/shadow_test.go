package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mqflux/mqflux/internal/testenv"
)

// A device's payload key named like a topic tag (device), or only looking
// like it (Device, "device "), is what InfluxQL's WHERE "device" = 'x'
// reads when such a field exists: demo-device could make its 99 pass for
// pi-kitchen's reading and hide pi-kitchen's own. Each spoof, on the
// default template and on the tasmota and zigbee2mqtt preset topics, is
// refused before its PUBACK and dead-lettered as bad_field (bad_tag for a
// lookalike tag); the queries a dashboard and the console send for
// pi-kitchen return pi-kitchen's readings only.
func TestPayloadKeyCannotShadowTopicTag(t *testing.T) {
	in := testenv.StartInflux(t, testenv.WithoutFlux())
	srv := testenv.StartServer(t, testenv.ServerOptions{Influx: in, Env: []string{"MQFLUX_MAPPING_PRESETS=[zigbee2mqtt, tasmota, shelly]"}})
	meas := measurementFor(t)
	readings := "devices/%s/sensors/" + meas

	honest := []struct{ topic, payload, meas, field, value string }{
		{fmt.Sprintf(readings, "pi-kitchen"), `{"value": 21.5}`, meas, "value", "21.5"},
		{"zigbee2mqtt/pi-kitchen", `{"value": 20.5}`, "zigbee2mqtt", "value", "20.5"},
		{"tele/pi-kitchen/STATE", `{"value": 7}`, "tasmota", "value", "7"},
	}
	spoofs := []struct{ topic, payload, key, reason string }{
		{fmt.Sprintf(readings, "demo-device"), `{"value": 99, "device": "pi-kitchen"}`, "device", "bad_field"},
		{fmt.Sprintf(readings, "demo-device"), `{"value": 99, "Device": "pi-kitchen"}`, "Device", "bad_field"},
		{fmt.Sprintf(readings, "demo-device"), `{"value": 99, "device ": "pi-kitchen"}`, "device ", "bad_field"},
		{fmt.Sprintf(readings, "demo-device"), `{"fields": {"value": 99, "DEVICE": "pi-kitchen"}}`, "DEVICE", "bad_field"},
		{fmt.Sprintf(readings, "demo-device"), `{"value": 99, "tags": {"Device": "pi-kitchen"}}`, "Device", "bad_tag"},
		{"zigbee2mqtt/demo-device", `{"value": 99, "device": "pi-kitchen"}`, "device", "bad_field"},
		{"tele/demo-device/STATE", `{"value": 99, "device": "pi-kitchen"}`, "device", "bad_field"},
	}
	for _, h := range honest {
		pubFile(t, srv.MQTT, testenv.DemoGateway, h.topic, "-m", h.payload)
	}
	for _, s := range spoofs {
		pubFile(t, srv.MQTT, testenv.DemoDevice, s.topic, "-m", s.payload)
	}
	// demo-device's honest reading comes after the spoofs: once it is
	// stored, the spoofs have been mapped.
	pubFile(t, srv.MQTT, testenv.DemoDevice, fmt.Sprintf(readings, "demo-device"), "-m", `{"value": 1}`)
	waitStored(t, in, meas, 2, time.Minute)
	waitStored(t, in, "zigbee2mqtt", 1, time.Minute)
	waitStored(t, in, "tasmota", 1, time.Minute)

	for _, h := range honest {
		// As a Grafana panel asks for one device's series.
		q := fmt.Sprintf(`SELECT * FROM %q WHERE ("device" = 'pi-kitchen') AND time >= now() - 1h`, h.meas)
		rows := rowsOf(in.Query(t, q))
		if len(rows) != 1 || fmt.Sprint(rows[0][h.field]) != h.value || rows[0]["device"] != "pi-kitchen" {
			t.Errorf("%s for pi-kitchen: %v; want one row with %s=%s", h.meas, rows, h.field, h.value)
		}
		// As the console asks for it.
		code, body := srv.HTTPGet(t, fmt.Sprintf("/v1/history?device=pi-kitchen&measurement=%s&field=%s&range=1h", h.meas, h.field))
		if code != 200 || !strings.Contains(body, ",\n      "+h.value+"\n") || strings.Contains(body, ",\n      99\n") {
			t.Errorf("/v1/history of %s for pi-kitchen: %d %s; want %s only", h.meas, code, body, h.value)
		}
		for _, r := range rowsOf(in.Query(t, fmt.Sprintf(`SELECT * FROM %q`, h.meas))) {
			if fmt.Sprint(r[h.field]) == "99" {
				t.Errorf("%s holds the spoofed reading %v", h.meas, r)
			}
		}
	}

	letters := deadLetters(t, srv)
	if len(letters) != len(spoofs) {
		t.Fatalf("%d dead letters, want %d: %+v", len(letters), len(spoofs), letters)
	}
	for i, s := range spoofs {
		e := letters[i]
		want := fmt.Sprintf(`field %q at byte`, s.key)
		if s.reason == "bad_tag" {
			want = fmt.Sprintf(`tag %q would shadow`, s.key)
		}
		if e.Device != "demo-device" || e.Topic != s.topic || e.Reason != s.reason || string(e.Payload) != s.payload ||
			!strings.Contains(e.Detail, want) || !strings.Contains(e.Detail, `would shadow tag "device"`) {
			t.Errorf("dead letter %d: %+v\nwant device demo-device, topic %s, reason %s, detail with %q", i, e, s.topic, s.reason, want)
		}
	}
}

// rowsOf flattens query results into rows keyed by column, numbers as
// their text.
func rowsOf(ss []testenv.Series) []map[string]any {
	var out []map[string]any
	for _, s := range ss {
		for _, r := range s.Rows() {
			for k, v := range r {
				if n, ok := v.(json.Number); ok {
					r[k] = n.String()
				}
			}
			out = append(out, r)
		}
	}
	return out
}

// deepPayload is {"a":{"a":...{"a":1}...}} nested n deep: 60 KB at 10,000.
func deepPayload(n int) string {
	return strings.Repeat(`{"a":`, n) + "1" + strings.Repeat("}", n)
}

// A payload nested 10,000 deep on a preset topic that flattens objects is
// refused at max_depth, as soon as the reader gets there, and
// dead-lettered as too_deep with the byte offset; another device's
// readings, published meanwhile, are all acknowledged and stored.
func TestDeepPayloadIsRefusedAtMaxDepth(t *testing.T) {
	in := testenv.StartInflux(t, testenv.WithoutFlux())
	srv := testenv.StartServer(t, testenv.ServerOptions{Influx: in, Env: []string{"MQFLUX_MAPPING_PRESETS=[zigbee2mqtt]"}})
	meas := measurementFor(t)
	deep := filepath.Join(t.TempDir(), "deep.json")
	if err := os.WriteFile(deep, []byte(deepPayload(10000)), 0o600); err != nil {
		t.Fatal(err)
	}

	const honest = 20
	done := make(chan error, 1)
	go func() {
		for i := range honest {
			if out, err := testenv.Pub(t, srv.MQTT, testenv.DemoGateway, "devices/pi-kitchen/sensors/"+meas,
				fmt.Sprintf(`{"value": %d}`, i), "-q", "1"); err != nil {
				done <- fmt.Errorf("honest reading %d: %v: %s", i, err, out)
				return
			}
		}
		done <- nil
	}()
	const deepOnes = 3
	for range deepOnes {
		pubFile(t, srv.MQTT, testenv.DemoDevice, "zigbee2mqtt/demo-device", "-f", deep)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	waitStored(t, in, meas, honest, time.Minute)

	letters := deadLetters(t, srv)
	if len(letters) != deepOnes {
		t.Fatalf("%d dead letters, want %d", len(letters), deepOnes)
	}
	for _, e := range letters {
		if e.Reason != "too_deep" || e.Topic != "zigbee2mqtt/demo-device" ||
			!strings.Contains(e.Detail, "byte 80: nesting deeper than max_depth (16)") {
			t.Errorf("dead letter %s %s %q; want too_deep at byte 80", e.Reason, e.Topic, e.Detail)
		}
	}
	if n := points(t, in, "zigbee2mqtt"); n != 0 {
		t.Errorf("zigbee2mqtt holds %d points, want none", n)
	}
}

// TestDeepPayloadRSS measures the resident memory of a real server while
// four connections send the 10,000-deep payload over and over (see
// BENCHMARKS.md). It only reports; run it with MQFLUX_RSS=1.
func TestDeepPayloadRSS(t *testing.T) {
	if os.Getenv("MQFLUX_RSS") == "" {
		t.Skip("set MQFLUX_RSS=1 to measure")
	}
	srv := testenv.StartServer(t, testenv.ServerOptions{Env: []string{"MQFLUX_MAPPING_PRESETS=[zigbee2mqtt]"}})
	deep := filepath.Join(t.TempDir(), "deep.json")
	if err := os.WriteFile(deep, []byte(deepPayload(10000)), 0o600); err != nil {
		t.Fatal(err)
	}
	rss := func() int {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", srv.Pid()))
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range strings.Split(string(b), "\n") {
			if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
				var kb int
				fmt.Sscan(strings.TrimSuffix(strings.TrimSpace(v), " kB"), &kb)
				return kb
			}
		}
		return -1
	}
	before := rss()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	host, port, _ := strings.Cut(srv.MQTT, ":")
	const conns, repeat = 4, 10
	pub := testenv.RequireCommand(t, "mosquitto_pub")
	errs := make(chan error, conns)
	for i := range conns {
		go func() {
			cmd := exec.CommandContext(ctx, pub, "-h", host, "-p", port,
				"-u", testenv.DemoDevice.User, "-P", testenv.DemoDevice.Password, "-i", fmt.Sprintf("deep-%d", i),
				"-q", "1", "-t", "zigbee2mqtt/demo-device", "-f", deep, "--repeat", fmt.Sprint(repeat))
			out, err := cmd.CombinedOutput()
			if err != nil {
				err = fmt.Errorf("%v: %s", err, out)
			}
			errs <- err
		}()
	}
	peak := before
	start := time.Now()
	for finished := 0; finished < conns; {
		select {
		case err := <-errs:
			if err != nil {
				t.Error(err)
			}
			finished++
		case <-time.After(100 * time.Millisecond):
		}
		peak = max(peak, rss())
	}
	took := time.Since(start)
	time.Sleep(5 * time.Second)
	t.Logf("VmRSS before %d MiB, peak during %d MiB, 5 s after %d MiB; %d×%d messages of %d bytes in %s",
		before>>10, peak>>10, rss()>>10, conns, repeat, len(deepPayload(10000)), took.Round(time.Millisecond))
}
