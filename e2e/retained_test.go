package e2e

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mqflux/mqflux/bench/mqttwire"
	"github.com/mqflux/mqflux/internal/testenv"
)

// retainedUnder lists the retained messages under filter as "topic
// payload" lines, sorted: a mosquitto_sub --retained-only prints what the
// broker retains and exits at the first plain message, the marker this
// publishes once the subscription is acknowledged (mochi queues the
// retained messages right behind the SUBACK).
func retainedUnder(t *testing.T, srv *testenv.Server, filter, marker string) []string {
	t.Helper()
	sub := testenv.Subscribe(t, srv.MQTT, testenv.DemoAdmin, filter, "--retained-only", "-d")
	waitFor(t, time.Minute, "SUBACK", func() bool {
		return slices.ContainsFunc(sub.Lines(), func(l string) bool { return strings.Contains(l, "received SUBACK") })
	})
	if out, err := testenv.Pub(t, srv.MQTT, testenv.DemoAdmin, marker, "marker", "-q", "1"); err != nil {
		t.Fatalf("marker: %v\n%s", err, out)
	}
	if err, serr := sub.Wait(time.Minute); err != nil {
		t.Fatalf("mosquitto_sub --retained-only: %v %s", err, serr)
	}
	var lines []string
	for _, l := range sub.Lines() {
		if !strings.HasPrefix(l, "Client ") && !strings.HasPrefix(l, "Subscribed ") {
			lines = append(lines, l)
		}
	}
	slices.Sort(lines)
	return lines
}

// publishRetained5 sends one retained QoS 1 PUBLISH over MQTT 5 and returns
// the PUBACK's reason code.
func publishRetained5(t *testing.T, c *rawClient, id uint16, topic, payload string) byte {
	t.Helper()
	body := appendStr(nil, topic)
	body = append(body, byte(id>>8), byte(id), 0) // id, no properties
	body = append(body, payload...)
	c.write(t, mqttwire.PUBLISH, 0x02|0x01, body) // QoS 1, retain
	for {
		p := c.next(t, 30*time.Second)
		if p.Type != mqttwire.PUBACK {
			continue
		}
		if len(p.Body) < 3 {
			return 0 // success, reason code left out
		}
		return p.Body[2]
	}
}

// A device cannot fill the broker with retained messages: past
// broker.max_retained_per_user a 3.1.1 retained publish is delivered but
// not retained (counted), an MQTT 5 one is answered 0x97; replacing one's
// own topic, deleting and the device's own status always fit; and the
// count survives a restart.
func TestRetainedMessagesAreBounded(t *testing.T) {
	srv := testenv.StartServer(t, testenv.ServerOptions{Env: []string{"MQFLUX_BROKER_MAX_RETAINED_PER_USER=5"}})
	dev := testenv.DemoDevice
	const base = "devices/demo-device/settings/"
	retain := func(topic, msg string, extra ...string) {
		t.Helper()
		args := append([]string{"-r", "-q", "1"}, extra...)
		if out, err := testenv.Pub(t, srv.MQTT, dev, topic, msg, args...); err != nil {
			t.Fatalf("mosquitto_pub -r %s: %v\n%s", topic, err, out)
		}
	}
	live := testenv.Subscribe(t, srv.MQTT, testenv.DemoAdmin, base+"#", "-q", "1")
	for i := range 5 {
		retain(base+string(rune('0'+i)), "v1")
	}
	live.WaitLines(t, 5, time.Minute)

	// Past the bound, MQTT 3.1.1: acknowledged and delivered, not retained.
	retain(base+"5", "v1")
	if l := live.WaitLines(t, 6, time.Minute); l[5] != base+"5 v1" {
		t.Errorf("a live subscriber got %q, want the unretained message delivered", l[5])
	}
	// MQTT 5: quota exceeded.
	_, c := rawConnect{version: 5, clientID: "retain-v5", user: dev.User, password: dev.Password}.dial(t, srv.MQTT)
	if code := publishRetained5(t, c, 1, base+"6", "v1"); code != 0x97 {
		t.Errorf("MQTT 5 retained publish past the bound: PUBACK reason %#x, want 0x97 (quota exceeded)", code)
	}
	// What always fits: a replacement, the device's own status, a deletion
	// (which makes room for one more).
	retain(base+"0", "v2")
	retain("devices/demo-device/status", "online")
	retain(base+"1", "") // an empty payload deletes
	retain(base+"7", "v1")

	want := []string{base + "0 v2", base + "2 v1", base + "3 v1", base + "4 v1", base + "7 v1", "devices/demo-device/status online"}
	slices.Sort(want)
	got := retainedUnder(t, srv, "devices/demo-device/#", "devices/demo-device/marker")
	if !slices.Equal(got, want) {
		t.Fatalf("retained after the bound was reached:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if n := metric(t, srv, "mqflux_mqtt_retained_refused_total", `reason="count"`); n != 2 {
		t.Errorf("mqflux_mqtt_retained_refused_total{reason=\"count\"} = %v, want 2", n)
	}

	// After a restart the count is what the store brought back: still full.
	srv.Stop(t)
	srv.Start(t)
	retain(base+"8", "v1")
	if got := retainedUnder(t, srv, "devices/demo-device/#", "devices/demo-device/marker"); !slices.Equal(got, want) {
		t.Fatalf("retained after a restart and one more publish:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if n := metric(t, srv, "mqflux_mqtt_retained_refused_total", `reason="count"`); n != 1 {
		t.Errorf("after the restart, mqflux_mqtt_retained_refused_total{reason=\"count\"} = %v, want 1", n)
	}

	// A retained Last Will past the bound is sent, not retained.
	watch := testenv.Subscribe(t, srv.MQTT, testenv.DemoAdmin, base+"will", "-q", "1")
	waitFor(t, time.Minute, "the will's watcher subscribed", func() bool {
		if out, err := testenv.Pub(t, srv.MQTT, dev, base+"will", "probe", "-q", "1"); err != nil {
			t.Fatalf("probe: %v\n%s", err, out)
		}
		time.Sleep(200 * time.Millisecond)
		return slices.Contains(watch.Lines(), base+"will probe")
	})
	_, w := rawConnect{version: 4, clientID: "retain-will", user: dev.User, password: dev.Password,
		willTopic: base + "will", willMsg: "gone", willRetain: true}.dial(t, srv.MQTT)
	w.drop()
	waitFor(t, time.Minute, "the will delivered", func() bool { return slices.Contains(watch.Lines(), base+"will gone") })
	if got := retainedUnder(t, srv, "devices/demo-device/#", "devices/demo-device/marker"); !slices.Equal(got, want) {
		t.Errorf("retained after a retained will past the bound:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
