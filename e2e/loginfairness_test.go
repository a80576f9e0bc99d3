package e2e

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqflux/mqflux/bench"
	"github.com/mqflux/mqflux/bench/mqttwire"
	"github.com/mqflux/mqflux/internal/testenv"
	"github.com/mqflux/mqflux/passwd"
)

// login sends one CONNECT from local and returns the CONNACK's return code
// (0: accepted); an error when no CONNACK came.
func login(addr string, local net.IP, user, password string) (byte, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: local}, Timeout: 10 * time.Second}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	pkt, err := mqttwire.AppendConnect(nil, mqttwire.Connect{Username: user, Password: password, CleanSession: true, KeepAlive: 60})
	if err != nil {
		return 0, err
	}
	if _, err := conn.Write(pkt); err != nil {
		return 0, err
	}
	p, err := mqttwire.NewReader(conn, 1<<10).Next()
	if err != nil {
		return 0, fmt.Errorf("no CONNACK: %w", err)
	}
	if p.Type != mqttwire.CONNACK || len(p.Body) < 2 {
		return 0, fmt.Errorf("answer %s % x, want a CONNACK", p.Type, p.Body)
	}
	return p.Body[1], nil
}

// freshUsers are n device users fresh-0, fresh-1, ... with passwords of
// their own at bcrypt's default cost, as YAML entries of broker.users.
func freshUsers(t *testing.T, n int) []string {
	t.Helper()
	users := make([]string, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			h, err := passwd.Hash([]byte(fmt.Sprintf("fresh-pass-%d", i)), passwd.DefaultCost)
			if err != nil {
				t.Error(err)
				return
			}
			users[i] = fmt.Sprintf(`{name: fresh-%d, password_hash: "%s", role: device}`, i, h)
		}()
	}
	wg.Wait()
	return users
}

// demoUsers are the broker.users entries of the shipped config.yaml.
func demoUsers(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.ModuleRoot(t), "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); strings.HasPrefix(l, "- {name: demo-") {
			out = append(out, strings.TrimPrefix(l, "- "))
		}
	}
	return out
}

// freshLogins logs users fresh-from .. fresh-(from+n-1) in once each, each
// from a loopback address of its own that never failed (127.0.3.x), and
// returns how many were accepted; a refusal is logged.
func freshLogins(t *testing.T, addr string, from, n int) int {
	t.Helper()
	ok := 0
	for i := from; i < from+n; i++ {
		code, err := login(addr, net.IPv4(127, 0, 3, byte(i+1)), fmt.Sprintf("fresh-%d", i), fmt.Sprintf("fresh-pass-%d", i))
		if err == nil && code == 0 {
			ok++
			continue
		}
		t.Logf("fresh login of fresh-%d refused: code %d, %v", i, code, err)
	}
	return ok
}

// Point: fresh, correct logins of other users from clean addresses are
// served during a flood of wrong passwords from 32 addresses of their own:
// the guessers wait in a queue of their own behind clean logins, and their
// refusals as busy count toward their backoff. The numbers it logs are
// BENCHMARKS.md's "Fresh logins under a password-guessing flood".
//
// As a benchmark: MQFLUX_FAIRNESS_DURATION=10s has the device publish for
// that long in each phase instead of 2,000 readings, and
// MQFLUX_FAIRNESS_LOGINS=n makes n fresh logins in each phase (16).
func TestFreshLoginsDuringPasswordFlood(t *testing.T) {
	fresh := 16
	if n, err := strconv.Atoi(os.Getenv("MQFLUX_FAIRNESS_LOGINS")); err == nil && n > 0 && n <= 120 { // two addresses 127.0.3.x each
		fresh = n
	}
	device := func(srv *testenv.Server, phase string) bench.Config {
		cfg := gatewayLoad(t, srv, 1, 2000)
		cfg.Measurement += "_" + phase
		if d, err := time.ParseDuration(os.Getenv("MQFLUX_FAIRNESS_DURATION")); err == nil && d > 0 {
			cfg.Messages, cfg.Duration = 0, d
		}
		return cfg
	}
	in := testenv.StartInflux(t)
	users := append(demoUsers(t), freshUsers(t, 2*fresh)...)
	users = append(users, fmt.Sprintf(`{name: victim, password_hash: %q, role: device}`, mustHash(t, "victim-password")))
	srv := testenv.StartServer(t, testenv.ServerOptions{Influx: in, Env: []string{"MQFLUX_BROKER_USERS=[" + strings.Join(users, ", ") + "]"}})

	// Unattacked: the device's PUBACK rate and fresh logins.
	quiet := device(srv, "quiet")
	quietRep := startLoad(t, quiet).finish(t, 5*time.Minute)
	quietOK := freshLogins(t, srv.MQTT, 0, fresh)

	attempts, accepted, stop := startGuessers(guessVia{}, srv.MQTT, 32)
	defer stop()
	// The flood is in full swing: every guesser has been answered twice.
	waitFor(t, time.Minute, "the guessers under way", func() bool { return attempts.Load() >= 64 })

	floodOK := freshLogins(t, srv.MQTT, fresh, fresh)
	flood := device(srv, "flood")
	floodRep := startLoad(t, flood).finish(t, 5*time.Minute)
	stop()

	waitStored(t, in, flood.Measurement, flood.Ledger.Len(), time.Minute)
	checkStored(t, in, flood.Measurement, flood.Ledger)
	_, m := srv.HTTPGet(t, "/metrics")
	t.Logf("no flood: %d/%d fresh logins, %d readings at %.0f PUBACKs/s; 32 guessers (%d guesses; denied busy %v, backoff %v): %d/%d fresh logins, %d readings at %.0f PUBACKs/s",
		quietOK, fresh, quiet.Ledger.Len(), quietRep.AckRate, attempts.Load(),
		metricValue(t, m, `mqflux_mqtt_denied_total{reason="busy",what="connect"}`),
		metricValue(t, m, `mqflux_mqtt_denied_total{reason="backoff",what="connect"}`),
		floodOK, fresh, flood.Ledger.Len(), floodRep.AckRate)
	if quietOK != fresh || floodOK != fresh {
		t.Errorf("fresh logins accepted: %d of %d without guessers, %d of %d during the flood; want all", quietOK, fresh, floodOK, fresh)
	}
	if n := accepted.Load(); n != 0 {
		t.Errorf("%d wrong-password connections were accepted", n)
	}
}

func mustHash(t *testing.T, secret string) string {
	t.Helper()
	h, err := passwd.Hash([]byte(secret), passwd.DefaultCost)
	if err != nil {
		t.Fatal(err)
	}
	return h
}
