package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mqflux/mqflux/internal/testenv"
)

// guessesAnswered is how many CONNECTs the server has refused so far, by
// any reason a guess can meet (the tarpit's included), from /metrics.
func guessesAnswered(t *testing.T, srv *testenv.Server) float64 {
	t.Helper()
	_, m := srv.HTTPGet(t, "/metrics")
	var n float64
	for _, reason := range []string{"backoff", "bad_password", "unknown_user", "busy", "tarpit_full"} {
		n += metricValue(t, m, fmt.Sprintf(`mqflux_mqtt_denied_total{reason=%q,what="connect"}`, reason))
	}
	return n
}

// Point: a flood of wrong passwords costs the guessers, not the honest
// device. 32 guessers, each from an address of its own and each guessing
// in a loop, are held by the tarpit once their addresses are in backoff,
// so their loops slow to one guess per hold instead of thousands a second
// on the device's CPU. Meanwhile the device, connected before the flood,
// publishes QoS 1 readings, every one stored exactly once, and fresh
// logins of other users from clean addresses all succeed.
//
// The guessers' pace is asserted as a ratio, guesses answered per reading
// acknowledged over the same stretch, not as a time: answered at once,
// the guessers made more guesses than the device made readings
// (BENCHMARKS.md, "Tarpit under a password-guessing flood": about 60,000
// guesses while the device acknowledged 34,000 to 57,000 readings).
func TestPasswordFloodIsTarpitted(t *testing.T) {
	const fresh, readings = 16, 20000
	in := testenv.StartInflux(t)
	users := append(demoUsers(t), freshUsers(t, fresh)...)
	users = append(users, fmt.Sprintf(`{name: victim, password_hash: %q, role: device}`, mustHash(t, "victim-password")))
	srv := testenv.StartServer(t, testenv.ServerOptions{Influx: in, Env: []string{"MQFLUX_BROKER_USERS=[" + strings.Join(users, ", ") + "]"}})

	// The device logs in and publishes before the flood, as a device in
	// the field has: its password is remembered from then on.
	warm := gatewayLoad(t, srv, 1, 200)
	warm.Measurement += "_warm"
	startLoad(t, warm).finish(t, 5*time.Minute)

	attempts, accepted, stop := startGuessers(guessVia{}, srv.MQTT, 32)
	defer stop()
	// Under way: every guesser held once, or (with nothing holding them)
	// 50 guesses each.
	waitFor(t, 3*time.Minute, "the guessers tarpitted", func() bool {
		_, m := srv.HTTPGet(t, "/metrics")
		return metricValue(t, m, "mqflux_mqtt_tarpit_held_total") >= 32 || attempts.Load() >= 32*50
	})

	freshOK := freshLogins(t, srv.MQTT, 0, fresh)
	before := guessesAnswered(t, srv)
	cfg := gatewayLoad(t, srv, 1, readings)
	rep := startLoad(t, cfg).finish(t, 5*time.Minute)
	during := guessesAnswered(t, srv) - before
	stop()

	waitStored(t, in, cfg.Measurement, readings, time.Minute)
	checkStored(t, in, cfg.Measurement, cfg.Ledger)
	_, m := srv.HTTPGet(t, "/metrics")
	held := metricValue(t, m, "mqflux_mqtt_tarpit_held_total")
	t.Logf("32 guessers: %d guesses in all, %.0f answered while the device published %d readings at %.0f PUBACKs/s; %.0f held by the tarpit (backoff refusals %v, tarpit_full %v, busy %v); %d/%d fresh logins",
		attempts.Load(), during, readings, rep.AckRate, held,
		metricValue(t, m, `mqflux_mqtt_denied_total{reason="backoff",what="connect"}`),
		metricValue(t, m, `mqflux_mqtt_denied_total{reason="tarpit_full",what="connect"}`),
		metricValue(t, m, `mqflux_mqtt_denied_total{reason="busy",what="connect"}`),
		freshOK, fresh)

	if n := accepted.Load(); n != 0 {
		t.Errorf("%d wrong-password connections were accepted", n)
	}
	if freshOK != fresh {
		t.Errorf("%d of %d fresh logins from clean addresses accepted during the flood; want all", freshOK, fresh)
	}
	if held < 32 {
		t.Errorf("the tarpit held %.0f connections of 32 guessers in backoff; want every guesser held", held)
	}
	if ratio := during / float64(readings); ratio >= 0.02 {
		t.Errorf("%.0f guesses answered while the device published %d readings (%.4f per reading); want fewer than one per 50 readings: the guessers are not slowed down",
			during, readings, ratio)
	}
}
