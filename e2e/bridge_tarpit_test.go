package e2e

import (
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/mqflux/mqflux/internal/testenv"
)

// An `mqflux bridge` with input nats shows the fleet's devices, readings
// and alerts over HTTP, behind the same logins as `mqflux serve`. With no
// broker of its own it had no tarpit: a guesser in backoff was told 429 at
// once and went straight round again. Now its logins are held like the
// server's: 8 guessers, each from an address of its own, guessing
// passwords for user names the bridge does not have, are each held twice before
// 100 guesses each, none is accepted, and a reader from a clean address is
// served meanwhile.
func TestBridgePasswordGuessersAreTarpitted(t *testing.T) {
	const guessers = 8
	node := testenv.StartNATSServer(t)
	influx := testenv.StartInflux(t, testenv.WithoutFlux())
	bin := testenv.Build(t, "./cmd/mqflux")
	b := startNATSBridgeOn(t, bin, []string{node.ClientURL}, "0.0.0.0", influx, "tarpit", true,
		exposedUsers(t), "MQFLUX_HTTP_LEGACY_KEYS=[]", "MQFLUX_BRIDGE_NATS_MAX_BYTES=64MiB", "MQFLUX_BRIDGE_NATS_REPLICAS=1")

	honest := clientFrom(net.IPv4(127, 0, 0, 1))
	get := func(path string) answer {
		t.Helper()
		return getAs(t, honest, &testenv.Server{HTTP: b.http}, path, exposedReader)
	}
	held := func() float64 {
		t.Helper()
		a := get("/metrics")
		if a.code != http.StatusOK {
			t.Fatalf("GET /metrics as the reader: %d %s", a.code, a.body)
		}
		return metricValue(t, a.body, `mqflux_tarpit_held_total{listener="http"}`)
	}

	attempts, accepted, stop := startGuessers(guessVia{http: true, noLegacy: true}, b.http, guessers)
	defer stop()
	waitFor(t, 3*time.Minute, "the guessers held twice each or 100 guesses each", func() bool {
		return held() >= 2*guessers || attempts.Load() >= 100*guessers
	})
	if n, a := held(), attempts.Load(); n < 2*guessers {
		t.Fatalf("%v guesses held in %d: the bridge answers an address in backoff at once", n, a)
	}
	if n := accepted.Load(); n != 0 {
		t.Errorf("%d wrong passwords accepted", n)
	}
	if a := get("/v1/latest"); a.code != http.StatusOK {
		t.Errorf("a reader from a clean address during the guessing: %d %s, want 200", a.code, a.body)
	}
}
