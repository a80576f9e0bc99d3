package e2e

import (
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mqflux/mqflux/flow/deadletter"
	"github.com/mqflux/mqflux/internal/testenv"
)

// deadLetterCmd runs `mqflux deadletter args...` with the server's
// configuration and environment.
func deadLetterCmd(t *testing.T, srv *testenv.Server, env []string, args ...string) string {
	t.Helper()
	cmd := exec.Command(srv.Bin, append([]string{"deadletter"}, append(args[:1:1], append([]string{"-config", srv.Config}, args[1:]...)...)...)...)
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MQFLUX_") { // the tests' own settings are no configuration keys
			cmd.Env = append(cmd.Env, kv)
		}
	}
	cmd.Env = append(append(cmd.Env, srv.Env...), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("mqflux deadletter %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// Before the presets: templates of one's own for Tasmota and Zigbee2MQTT
// that take their topics but refuse their nested objects.
const ownTopics = `MQFLUX_MAPPING_TOPICS=[{template: "devices/{device}/sensors/{measurement}"}, ` +
	`{template: "tele/{device}/SENSOR", measurement: tasmota}, {template: "zigbee2mqtt/{device}", measurement: zigbee2mqtt}]`

// Readings dead-lettered before the presets were enabled are stored after
// it by `mqflux deadletter replay`, once: one while the server is stopped
// (on its data directory), the other through the running server; each
// with its original time, and a second replay stores nothing.
func TestReplayAfterPresetEnabled(t *testing.T) {
	in := testenv.StartInflux(t)
	srv := testenv.StartServer(t, testenv.ServerOptions{Influx: in, Env: []string{ownTopics}})
	tasmota := `{"Time":"2021-01-01T12:00:00","BME280":{"Temperature":21.7,"Humidity":48.2},"TempUnit":"C"}`
	for _, m := range [][2]string{
		{"tele/tasmota_A/SENSOR", tasmota},
		{"zigbee2mqtt/lamp_b", `{"state":"ON","color":{"x":0.5,"y":0.25}}`},
	} {
		if out, err := testenv.Pub(t, srv.MQTT, testenv.DemoGateway, m[0], m[1], "-q", "1"); err != nil {
			t.Fatalf("mosquitto_pub %s: %v: %s", m[0], err, out)
		}
	}
	srv.WaitLog(t, "reading rejected", "topic=zigbee2mqtt/lamp_b")
	before, err := deadletter.Summarize(deadletter.PathIn(srv.DataDir), 10, "")
	if err != nil {
		t.Fatal(err)
	}
	if before.Entries != 2 || before.ByReason["bad_field"] != 2 {
		t.Fatalf("dead letters before: %+v, want 2 with reason bad_field", before)
	}
	var lampTime time.Time
	for _, e := range before.Newest {
		if e.Device == "lamp_b" {
			lampTime = e.Time
		}
	}

	// Dry, through the running server: nothing maps yet, nothing changes.
	out := deadLetterCmd(t, srv, nil, "replay", "-dry-run")
	if !strings.Contains(out, "selected 2: 0 would be stored, 0 ignored, 2 still failing") {
		t.Fatalf("dry replay printed %q", out)
	}
	srv.Stop(t)

	// Stopped, with the presets instead of the own templates: the Tasmota
	// reading only.
	fixed := append([]string{`MQFLUX_MAPPING_TOPICS=[{template: "devices/{device}/sensors/{measurement}"}]`}, presetEnv...)
	out = deadLetterCmd(t, srv, fixed, "replay", "-device", "tasmota_A")
	if !strings.Contains(out, "replaying on") || !strings.Contains(out, "selected 1: 1 stored, 0 ignored, 0 still failing") {
		t.Fatalf("offline replay printed %q", out)
	}

	srv.Env = append(srv.Env, fixed...)
	srv.Start(t)
	out = deadLetterCmd(t, srv, nil, "replay")
	if strings.Contains(out, "replaying on") || !strings.Contains(out, "selected 1: 1 stored, 0 ignored, 0 still failing") {
		t.Fatalf("replay through the server printed %q", out)
	}
	out = deadLetterCmd(t, srv, nil, "replay")
	if !strings.Contains(out, "selected 0: 0 stored") {
		t.Fatalf("second replay printed %q", out)
	}
	if list := deadLetterCmd(t, srv, nil, "list"); !strings.HasPrefix(list, "0 dead letters") {
		t.Fatalf("deadletter list after replay printed %q", list)
	}

	// Once each, at the original instants: Tasmota's local time read in
	// Europe/Berlin, Zigbee2MQTT's at its first receipt.
	want := map[string]bool{
		"zigbee2mqtt,device=lamp_b color_x=0.5,color_y=0.25,state=\"ON\" " + strconv.FormatInt(lampTime.UnixNano(), 10): true,
		"tasmota,device=tasmota_A TempUnit=\"C\" 1609498800000000000":                                                   true,
		"tasmota,device=tasmota_A,sensor=BME280 Humidity=48.2,Temperature=21.7 1609498800000000000":                     true,
	}
	var got map[string]bool
	for deadline := time.Now().Add(60 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if got = storedPoints(t, in, time.Time{}, time.Time{}); len(got) >= len(want) || time.Now().After(deadline) {
			break
		}
	}
	for p := range want {
		if !got[p] {
			t.Errorf("InfluxDB lacks %s; holds %v", p, got)
		}
	}
	if len(got) != len(want) {
		t.Errorf("InfluxDB holds %d points, want %d: %v", len(got), len(want), got)
	}
}
