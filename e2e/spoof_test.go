package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mqflux/mqflux/internal/testenv"
)

// lineLayoutConfig is the shipped config.yaml with a second template,
// devices/{device}/lines, reading InfluxDB line protocol.
func lineLayoutConfig(t *testing.T) string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(testenv.ModuleRoot(t), "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	const anchor = "      tags: {}                  # static tags added to every point of this template\n"
	text := string(data)
	if !strings.Contains(text, anchor) {
		t.Fatalf("config.yaml no longer has %q", anchor)
	}
	text = strings.Replace(text, anchor, anchor+"    - template: devices/{device}/lines\n      format: line\n", 1)
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// A device may publish only under its own name (the broker's ACL), so the
// payload must not name another device or write presence either. On a
// line-protocol template, demo-device sends a line tagged device=pi-kitchen
// that would overwrite pi-kitchen's point, and on both templates a
// device_status point that would mark it online without the status topic.
// Each is refused before its PUBACK and dead-lettered; pi-kitchen's point
// and device_status are untouched, and demo-device's honest readings are
// stored.
func TestPayloadCannotSpeakForAnotherDevice(t *testing.T) {
	in := testenv.StartInflux(t, testenv.WithoutFlux())
	srv := testenv.StartServer(t, testenv.ServerOptions{Influx: in, Config: lineLayoutConfig(t)})
	meas := measurementFor(t)
	const at = 1795456800 // seconds, the default time_precision

	pubFile(t, srv.MQTT, testenv.DemoGateway, "devices/pi-kitchen/sensors/"+meas, "-m", fmt.Sprintf(`{"value": 21.5, "time": %d}`, at))
	waitStored(t, in, meas, 1, time.Minute)

	attacks := []struct {
		topic, payload, reason, detail string
	}{
		{"devices/demo-device/lines", fmt.Sprintf("%s,device=pi-kitchen value=85 %d", meas, at),
			"bad_tag", `tag "device" is given twice (the topic and the payload)`},
		{"devices/demo-device/lines", `device_status online=true,state="online"`,
			"reserved_measurement", `"device_status" is written only by the status template`},
		{"devices/demo-device/sensors/device_status", `{"online": true, "state": "online"}`,
			"reserved_measurement", `"device_status" is written only by the status template`},
	}
	for _, a := range attacks {
		pubFile(t, srv.MQTT, testenv.DemoDevice, a.topic, "-m", a.payload)
	}
	// Honest readings after the attacks, on both templates.
	pubFile(t, srv.MQTT, testenv.DemoDevice, "devices/demo-device/lines", "-m", fmt.Sprintf("%s value=1 %d", meas, at+1))
	pubFile(t, srv.MQTT, testenv.DemoDevice, "devices/demo-device/sensors/"+meas, "-m", fmt.Sprintf(`{"value": 2, "time": %d}`, at+2))
	waitStored(t, in, meas, 3, time.Minute)

	letters := deadLetters(t, srv)
	if len(letters) != len(attacks) {
		t.Fatalf("%d dead letters, want %d: %+v", len(letters), len(attacks), letters)
	}
	for i, a := range attacks {
		e := letters[i]
		if e.Source != "mqtt" || e.Device != "demo-device" || e.Topic != a.topic || e.Reason != a.reason ||
			!strings.Contains(e.Detail, a.detail) || string(e.Payload) != a.payload {
			t.Errorf("dead letter %d: %+v\nwant source mqtt, device demo-device, topic %s, reason %s, detail with %q, payload %q",
				i, e, a.topic, a.reason, a.detail, a.payload)
		}
	}

	want := map[string][]string{"pi-kitchen": {"21.5"}, "demo-device": {"1", "2"}}
	for dev, values := range want {
		rows := in.Query(t, fmt.Sprintf(`SELECT "value" FROM %q WHERE "device" = '%s'`, meas, dev))
		var got []string
		for _, s := range rows {
			for _, r := range s.Values {
				got = append(got, string(r[1].(json.Number)))
			}
		}
		if strings.Join(got, " ") != strings.Join(values, " ") {
			t.Errorf("%s holds values %v, want %v", dev, got, values)
		}
	}
	if n := points(t, in, "device_status"); n != 0 {
		t.Errorf("device_status holds %d points, want none: no status topic was published", n)
	}
	if got := metric(t, srv, "mqflux_readings_rejected_total", `reason="reserved_measurement"`); got != 2 {
		t.Errorf("rejected{reserved_measurement} = %v, want 2", got)
	}
}
