package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mqflux/mqflux/internal/testenv"
)

// siteLayoutConfig is the shipped config.yaml with its topic layout moved
// from devices/{device}/sensors/{measurement} to site/{device}/{measurement},
// and nothing else changed: the ACL has no line of its own to edit.
func siteLayoutConfig(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testenv.ModuleRoot(t), "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	for old, repl := range map[string]string{
		"template: devices/{device}/sensors/{measurement}": "template: site/{device}/{measurement}",
		"status_template: devices/{device}/status":         "status_template: site/{device}/status",
		"logs_template: devices/{device}/logs":             "logs_template: site/{device}/logs",
	} {
		if !strings.Contains(text, old) {
			t.Fatalf("config.yaml no longer has %q", old)
		}
		text = strings.Replace(text, old, repl, 1)
	}
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// With mapping.topics changed to another layout, the broker's roles, the
// legacy HTTP API and /v1/latest follow it: a device publishing there as
// itself is allowed and stored, as another device it is refused, and a
// legacy POST is stored, seen by mosquitto_sub and listed in /v1/latest.
func TestAnotherTopicLayout(t *testing.T) {
	in := testenv.StartInflux(t)
	srv := testenv.StartServer(t, testenv.ServerOptions{Influx: in, Config: siteLayoutConfig(t)})
	sub := testenv.Subscribe(t, srv.MQTT, testenv.DemoReader, "site/#", "-q", "1")
	srv.WaitLog(t, "subscribed", "demo-reader", "filter=site/#")

	mine := "site/demo-device/temperature"
	if out, err := testenv.Pub(t, srv.MQTT, testenv.DemoDevice, mine, "21.5", "-q", "1"); err != nil {
		t.Fatalf("mosquitto_pub as demo-device to %s: %v: %s", mine, err, out)
	}
	theirs := "site/someone-else/temperature"
	if out, err := testenv.Pub(t, srv.MQTT, testenv.DemoDevice, theirs, "99", "-q", "1"); err == nil {
		t.Fatalf("mosquitto_pub as demo-device to %s succeeded, want a refusal; output %q", theirs, out)
	}
	srv.WaitLog(t, "publish denied by role", "user=demo-device", "topic="+theirs)
	old := "devices/demo-device/sensors/temperature"
	if out, err := testenv.Pub(t, srv.MQTT, testenv.DemoDevice, old, "98", "-q", "1"); err == nil {
		t.Fatalf("mosquitto_pub as demo-device to the old layout %s succeeded, want a refusal; output %q", old, out)
	}
	srv.WaitLog(t, "publish denied by role", "user=demo-device", "topic="+old)

	node := "node-legacy-1"
	body := `{"temperature": 23.75, "timestamp": "2025-03-18T10:00:00.123+00:00"}`
	code, answer := rawPost(t, srv.HTTP, fmt.Sprintf("POST /v1/log-temperature HTTP/1.1\r\nHost: %s\r\n"+
		"Content-Type: application/json\r\nX-authorization: %s\r\nX-node-id: %s\r\nContent-Length: %d\r\n\r\n%s",
		srv.HTTP, demoKey, node, len(body), body))
	if code != http.StatusOK {
		t.Fatalf("legacy POST: %d %s", code, answer)
	}

	// mosquitto_sub on site/# sees the device's reading and the legacy one,
	// under the new layout, and nothing refused.
	lines := sub.WaitLines(t, 2, 30*time.Second)
	if want := mine + " 21.5"; !slices.Contains(lines, want) {
		t.Errorf("mosquitto_sub printed %q, want a line %q", lines, want)
	}
	legacyTopic := "site/" + node + "/temperature"
	if !slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, legacyTopic+" ") }) {
		t.Errorf("mosquitto_sub printed %q, want a line on %s", lines, legacyTopic)
	}
	for _, l := range lines {
		if strings.HasPrefix(l, theirs) {
			t.Errorf("a refused publish was delivered: %q", l)
		}
	}

	// Both are stored in InfluxDB, each with its device tag.
	waitStored(t, in, "temperature", 2, 60*time.Second)
	got := map[string]string{}
	for _, s := range in.Query(t, `SELECT "value" FROM "temperature" GROUP BY "device"`) {
		for _, row := range s.Rows() {
			got[s.Tags["device"]] = fmt.Sprint(row["value"])
		}
	}
	if want := map[string]string{"demo-device": "21.5", node: "23.75"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("InfluxDB holds temperature values by device %v, want %v", got, want)
	}

	// /v1/latest lists both devices.
	var devices []string
	for _, r := range getLatest(t, srv, "?measurement=temperature") {
		devices = append(devices, r.Device)
	}
	if want := []string{"demo-device", node}; !slices.Equal(devices, want) {
		t.Errorf("/v1/latest?measurement=temperature lists devices %q, want %q", devices, want)
	}
}
