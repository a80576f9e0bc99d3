package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mqflux/mqflux/internal/testenv"
)

// An inputs entry adds a source of readings to `mqflux serve` by its
// kind, started and stopped with the broker and the legacy API: here the
// mqtt kind (the bridge's subscriber) takes readings published to a
// Debian mosquitto into the same spool and InfluxDB, named for the entry
// in the metrics, while the embedded broker keeps taking its own.
func TestInputsEntryFeedsServe(t *testing.T) {
	influx := testenv.StartInflux(t, testenv.WithoutFlux())
	upstream := testenv.StartMosquitto(t, "")
	srv := testenv.StartServer(t, testenv.ServerOptions{Influx: influx, Env: []string{
		fmt.Sprintf(`MQFLUX_INPUTS=[{name: upstream, kind: mqtt, url: "tcp://%s", client_id: mqflux-upstream, filters: ["devices/#"]}, {name: away, kind: mqtt, url: "tcp://127.0.0.1:%d", client_id: mqflux-away}]`,
			upstream.Addr, testenv.FreePort(t)),
	}})
	srv.WaitLog(t, "mqflux serving", "upstream")
	// The entry starts in the background; once a first reading came
	// through, its persistent session holds what is published after.
	waitFor(t, time.Minute, "a first reading through the upstream input", func() bool {
		if _, err := testenv.Pub(t, upstream.Addr, testenv.Login{}, "devices/pi-up/sensors/upstream_probe", "1", "-q", "1"); err != nil {
			t.Fatalf("mosquitto_pub: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
		return count(influx, "upstream_probe") > 0
	})

	const n = 5
	for i := range n {
		if out, err := testenv.Pub(t, upstream.Addr, testenv.Login{}, "devices/pi-up/sensors/upstream_temp", fmt.Sprint(20+i), "-q", "1"); err != nil {
			t.Fatalf("mosquitto_pub: %v %s", err, out)
		}
	}
	waitStored(t, influx, "upstream_temp", n, time.Minute)
	if got := metric(t, srv, "mqflux_readings_spooled_total", `source="upstream"`); got < n+1 {
		t.Errorf("spooled from source upstream: %v, want at least %d", got, n+1)
	}
	// Its own metrics carry its name: two entries of one kind do not clash.
	if got := metric(t, srv, "mqflux_bridge_messages_acked_total", `input="upstream"`, `result="spooled"`); got < n+1 {
		t.Errorf("acknowledged by the upstream input: %v, want at least %d", got, n+1)
	}
	// An entry whose broker is away holds up neither the server nor the
	// other inputs: it is reported, the server degraded, not failing.
	code, body := srv.HTTPGet(t, "/healthz")
	var h struct{ Status, Readiness string }
	if err := json.Unmarshal([]byte(body), &h); err != nil || code != 200 || h.Status != "degraded" ||
		!strings.Contains(h.Readiness, "away: not connected") || strings.Contains(h.Readiness, "upstream") {
		t.Errorf("/healthz = %d %s", code, body)
	}

	// The upstream broker gone: that input is down too.
	upstream.Stop()
	waitFor(t, time.Minute, "/healthz reporting the upstream input down", func() bool {
		code, body := srv.HTTPGet(t, "/healthz")
		return code == 200 && json.Unmarshal([]byte(body), &h) == nil && h.Status == "degraded" && strings.Contains(h.Readiness, "upstream: not connected")
	})
	srv.Stop(t)
}
