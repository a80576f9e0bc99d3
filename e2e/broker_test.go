package e2e

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mqflux/mqflux/internal/testenv"
)

// A reading published by a device with the real mosquitto_pub reaches a
// reader's real mosquitto_sub through a real server process.
func TestDeviceReadingReachesReader(t *testing.T) {
	srv := testenv.StartServer(t, testenv.ServerOptions{})
	sub := testenv.Subscribe(t, srv.MQTT, testenv.DemoReader, "devices/#", "-q", "1")
	srv.WaitLog(t, "subscribed", "demo-reader") // the subscription is in place

	topic := "devices/demo-device/sensors/temperature"
	if out, err := testenv.Pub(t, srv.MQTT, testenv.DemoDevice, topic, "21.5", "-q", "1"); err != nil {
		t.Fatalf("mosquitto_pub as demo-device: %v: %s", err, out)
	}
	lines := sub.WaitLines(t, 1, 30*time.Second)
	if want := topic + " 21.5"; !slices.Contains(lines, want) {
		t.Fatalf("mosquitto_sub printed %q, want a line %q", lines, want)
	}
}

// Each refusal of the role table, checked with the real clients, leaves a
// log line naming the user and the reason.
func TestACLRefusals(t *testing.T) {
	srv := testenv.StartServer(t, testenv.ServerOptions{})
	cases := []struct {
		name    string
		login   testenv.Login
		topic   string
		wantLog []string
	}{
		{"device publishes under another device", testenv.DemoDevice, "devices/someone-else/sensors/t",
			[]string{"publish denied by role", "user=demo-device", "topic=devices/someone-else/sensors/t"}},
		{"reader publishes", testenv.DemoReader, "devices/demo-reader/sensors/t",
			[]string{"publish denied by role", "user=demo-reader"}},
		{"gateway publishes outside devices/", testenv.DemoGateway, "other/topic",
			[]string{"publish denied by role", "user=demo-gateway", "topic=other/topic"}},
		{"unknown user", testenv.Login{User: "mallory", Password: "whatever1"}, "devices/mallory/sensors/t",
			[]string{"unknown user refused", "user=mallory", "remote=127.0.0.1:"}},
		{"wrong password", testenv.Login{User: "demo-device", Password: "not-the-password"}, "devices/demo-device/sensors/t",
			[]string{"wrong password", "user=demo-device", "remote=127.0.0.1:"}},
		{"no user name", testenv.Login{}, "devices/x/sensors/t",
			[]string{"connection without a user name refused", "remote=127.0.0.1:"}},
	}
	spy := testenv.Subscribe(t, srv.MQTT, testenv.DemoAdmin, "#", "-q", "1")
	srv.WaitLog(t, "subscribed", "demo-admin")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := testenv.Pub(t, srv.MQTT, tc.login, tc.topic, "1", "-q", "1")
			if err == nil {
				t.Fatalf("mosquitto_pub succeeded, want a refusal; output %q", out)
			}
			srv.WaitLog(t, tc.wantLog...)
		})
	}
	// Nothing refused may have reached a subscriber, not even the admin.
	for _, l := range spy.Lines() {
		if !strings.HasPrefix(l, "$SYS") {
			t.Errorf("a refused publish was delivered: %q", l)
		}
	}
	// A reader may not subscribe outside devices/ either.
	sub := testenv.Subscribe(t, srv.MQTT, testenv.DemoReader, "$SYS/#", "-E")
	if err, _ := sub.Wait(30 * time.Second); err != nil {
		t.Logf("mosquitto_sub exited with %v", err)
	}
	srv.WaitLog(t, "subscribe denied by role", "user=demo-reader", "topic=$SYS/#")
	_, metrics := srv.HTTPGet(t, "/metrics")
	for _, want := range []string{
		`mqflux_mqtt_denied_total{reason="acl",what="publish"} 3`,
		`mqflux_mqtt_denied_total{reason="unknown_user",what="connect"} 1`,
		`mqflux_mqtt_denied_total{reason="bad_password",what="connect"} 1`,
		`mqflux_mqtt_denied_total{reason="acl",what="subscribe"} 1`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// A QoS 1 message for an offline persistent subscriber and a retained
// message both survive a stop and a start of the server.
func TestSessionsAndRetainedSurviveRestart(t *testing.T) {
	srv := testenv.StartServer(t, testenv.ServerOptions{})
	const id = "persistent-reader"
	// Create the persistent session, then leave.
	first := testenv.Subscribe(t, srv.MQTT, testenv.DemoReader, "devices/+/sensors/#", "-q", "1", "-c", "-i", id, "-E")
	if err, stderr := first.Wait(30 * time.Second); err != nil {
		t.Fatalf("creating the persistent session: %v %s", err, stderr)
	}

	queued := "devices/demo-device/sensors/humidity"
	if out, err := testenv.Pub(t, srv.MQTT, testenv.DemoDevice, queued, "40.5", "-q", "1"); err != nil {
		t.Fatalf("publish: %v %s", err, out)
	}
	retained := "devices/demo-device/status"
	if out, err := testenv.Pub(t, srv.MQTT, testenv.DemoDevice, retained, "online", "-q", "1", "-r"); err != nil {
		t.Fatalf("publish retained: %v %s", err, out)
	}

	srv.Stop(t)
	srv.Start(t)

	again := testenv.Subscribe(t, srv.MQTT, testenv.DemoReader, "devices/+/sensors/#", "-q", "1", "-c", "-i", id, "-C", "1")
	if got := again.WaitLines(t, 1, 30*time.Second); got[0] != queued+" 40.5" {
		t.Errorf("persistent session after restart got %q, want %q", got[0], queued+" 40.5")
	}
	fresh := testenv.Subscribe(t, srv.MQTT, testenv.DemoReader, retained, "-C", "1")
	if got := fresh.WaitLines(t, 1, 30*time.Second); got[0] != retained+" online" {
		t.Errorf("retained after restart: %q, want %q", got[0], retained+" online")
	}
}

// The legacy health check answers exactly as the original API did.
func TestLegacyHealthcheck(t *testing.T) {
	srv := testenv.StartServer(t, testenv.ServerOptions{})
	for _, path := range []string{"/healthcheck", "/v1/healthcheck"} {
		code, body := srv.HTTPGet(t, path)
		if code != 200 || body != "Server is healthy\n" {
			t.Errorf("GET %s = %d %q, want 200 %q", path, code, body, "Server is healthy\n")
		}
	}
	// No InfluxDB answers in this test: readings are still accepted.
	code, body := srv.HTTPGet(t, "/healthz")
	if code != 200 || !strings.Contains(body, `"status": "degraded"`) || !strings.Contains(body, `"up": false`) {
		t.Errorf("GET /healthz = %d %s", code, body)
	}
}
