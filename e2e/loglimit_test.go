package e2e

import (
	"net"
	"strings"
	"testing"
	"time"

	"github.com/mqflux/mqflux/bench/mqttwire"
	"github.com/mqflux/mqflux/internal/testenv"
)

// The packet types mqttwire does not name.
const (
	mqttSubscribe mqttwire.Type = 8
	mqttSuback    mqttwire.Type = 9
)

// A client repeating refused packets cannot fill the server's log: of
// 1,000 denied publishes the log shows the first (and no more than a
// handful of lines), the metric counts all 1,000; the same for refused
// logins from one address, denied subscriptions and a device's readings
// that cannot be stored.
func TestDeniedPacketsLogBounded(t *testing.T) {
	// The guesses below come one after another from one address: held by
	// the tarpit for what is left of its backoff, up to 10 s each, they
	// would take minutes. Held at most a second, they still meet the
	// tarpit and its log lines.
	srv := testenv.StartServer(t, testenv.ServerOptions{Env: []string{"MQFLUX_BROKER_TARPIT_MAX_HOLD=1s"}})
	dev := testenv.DemoDevice

	c := dialRaw(t, srv.MQTT, 5, "loglimit-dev", dev.User, dev.Password)
	const n = 1000
	for i := range n {
		code, err := c.publish(t, uint16(i%60000+1), "devices/someone-else/sensors/temp", []byte(`{"value":1}`), false, 10*time.Second)
		if err != nil || code != 0x87 {
			t.Fatalf("publish %d to another device's topic: code %#x, err %v; want 0x87 not authorized", i, code, err)
		}
	}
	const subscribes = 200
	for i := range subscribes {
		body := append(u16(uint16(i+1)), 0) // packet id, no properties
		body = append(appendStr(body, "devices/someone-else/#"), 1)
		c.write(t, mqttSubscribe, 0x02, body)
		if p := c.next(t, 10*time.Second); p.Type != mqttSuback || len(p.Body) < 4 || p.Body[3] != 0x87 {
			t.Fatalf("subscribe %d to another device's topics: answer %s % x, want SUBACK 0x87", i, p.Type, p.Body)
		}
	}
	const bad = 300
	for i := range bad {
		code, err := c.publish(t, uint16(i+1), "devices/"+dev.User+"/sensors/temp", []byte(`not a reading`), false, 10*time.Second)
		if err != nil || code != 0 {
			t.Fatalf("bad reading %d: code %#x, err %v; want it acknowledged (and dead-lettered)", i, code, err)
		}
	}
	const guesses = 30
	for i := range guesses {
		if ok, err := guess(guessVia{}, srv.MQTT, net.IPv4(127, 0, 0, 1), dev.User); err != nil || ok {
			t.Fatalf("wrong password %d: accepted %v, err %v", i, ok, err)
		}
	}

	waitFor(t, 10*time.Second, "every refusal counted", func() bool {
		return metric(t, srv, "mqflux_mqtt_denied_total", `what="publish"`, `reason="acl"`) == n &&
			metric(t, srv, "mqflux_mqtt_denied_total", `what="connect"`) == guesses &&
			metric(t, srv, "mqflux_mqtt_denied_total", `what="subscribe"`) == subscribes &&
			metric(t, srv, "mqflux_readings_rejected_total", `source="mqtt"`) == bad
	})
	log := srv.Log()
	for _, tc := range []struct {
		line string
		max  int
	}{
		{"publish denied by role", 3},
		{"subscribe denied by role", 2},
		{"wrong password", 2},
		{"login refused: too many failures", 2},
		{"reading rejected", 2},
	} {
		if got := strings.Count(log, tc.line); got == 0 || got > tc.max {
			t.Errorf("the log has %d lines %q, want 1 to %d:\n%s", got, tc.line, tc.max, tail(log, 20))
		}
	}
}

// tail is the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(0, len(lines)-n):], "\n")
}
