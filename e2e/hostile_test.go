package e2e

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/mqflux/mqflux/bench/mqttwire"
	"github.com/mqflux/mqflux/flow/deadletter"
	"github.com/mqflux/mqflux/internal/testenv"
)

// startGuessers starts n attackers, each from a loopback address of its
// own, sending wrong-password CONNECTs over via to addr in a loop: half
// guess the password of the user "victim", half guess unknown user names.
// It returns the answered guesses, the accepted ones, and a stop that
// waits for them.
func startGuessers(via guessVia, addr string, n int) (attempts, accepted *atomic.Int64, stop func()) {
	attempts, accepted = new(atomic.Int64), new(atomic.Int64)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for i := range n {
		local := net.IPv4(127, 0, 1, byte(i+1))
		user := "victim"
		if i%2 == 1 {
			user = fmt.Sprintf("no-such-user-%d", i)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				ok, err := guess(via, addr, local, user)
				if err != nil {
					time.Sleep(10 * time.Millisecond)
					continue
				}
				attempts.Add(1)
				if ok {
					accepted.Add(1)
				}
			}
		}()
	}
	return attempts, accepted, func() { cancel(); wg.Wait() }
}

// guessVia is the transport a guesser speaks MQTT over: plain TCP (the
// zero value), TLS (tls set: the broker.tls listener) or WebSocket (ws);
// or, with http set, HTTP: the guesser of "victim" tries basic auth on
// /v1/latest, the others their user name as a key of the legacy API, or
// (noLegacy: a server without that API, mqflux bridge) basic auth too.
type guessVia struct {
	tls      *tls.Config
	ws       bool
	http     bool
	noLegacy bool
}

func (v guessVia) String() string {
	switch {
	case v.http:
		return "http"
	case v.ws:
		return "ws"
	case v.tls != nil:
		return "tls"
	}
	return "tcp"
}

// dial opens an MQTT connection over v to addr from local. A WebSocket's
// upgrade is answered at once, before any tarpit; the CONNECT is not.
func (v guessVia) dial(addr string, local net.IP) (guessConn, error) {
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: local}, Timeout: 10 * time.Second}
	if !v.ws {
		conn, err := d.Dial("tcp", addr)
		if err != nil {
			return nil, err
		}
		if v.tls == nil {
			return conn, nil
		}
		// The handshake happens with the first write, within the
		// deadline the caller sets.
		return tls.Client(conn, v.tls), nil
	}
	wd := websocket.Dialer{NetDialContext: d.DialContext, Subprotocols: []string{"mqtt"}, HandshakeTimeout: 10 * time.Second}
	c, resp, err := wd.Dial("ws://"+addr+"/", nil)
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	return &wsStream{c: c}, nil
}

// guessConn is what a guess needs of a connection, whatever its transport.
type guessConn interface {
	io.ReadWriteCloser
	SetReadDeadline(time.Time) error
	SetWriteDeadline(time.Time) error
}

// guess is one CONNECT with a wrong password, sent over via from local (a
// loopback address of the attacker's own), as a guessing attacker would.
// It reports whether the broker accepted it.
func guess(via guessVia, addr string, local net.IP, user string) (accepted bool, err error) {
	if via.http {
		return guessHTTP(addr, local, user, user != "victim" && !via.noLegacy)
	}
	conn, err := via.dial(addr, local)
	if err != nil {
		return false, err
	}
	defer conn.Close()
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	_ = conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
	pkt, err := mqttwire.AppendConnect(nil, mqttwire.Connect{Username: user, Password: "wrong-password", CleanSession: true, KeepAlive: 60})
	if err != nil {
		return false, err
	}
	if _, err := conn.Write(pkt); err != nil {
		return false, err
	}
	p, err := mqttwire.NewReader(conn, 1<<10).Next()
	if err != nil {
		return false, nil // refused by closing
	}
	return p.Type == mqttwire.CONNACK && len(p.Body) >= 2 && p.Body[1] == 0, nil
}

// guessHTTP is one HTTP login with a wrong password (or key), on a
// connection of its own from local, as guess's over HTTP: basic auth as
// user on /v1/latest, or with key, user as a key of the legacy API. A 2xx
// is an accepted guess; any answer is an answered one.
func guessHTTP(addr string, local net.IP, user string, key bool) (accepted bool, err error) {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: local}, Timeout: 10 * time.Second}
	c := &http.Client{Transport: &http.Transport{DialContext: d.DialContext, DisableKeepAlives: true}, Timeout: 30 * time.Second}
	req, _ := http.NewRequest(http.MethodGet, "http://"+addr+"/v1/latest", nil)
	req.SetBasicAuth(user, "wrong-password")
	if key {
		req, _ = http.NewRequest(http.MethodPost, "http://"+addr+"/v1/log-temperature", strings.NewReader(`{"temperature": 1}`))
		req.Header.Set("X-authorization", user)
		req.Header.Set("X-node-id", "guesser")
	}
	resp, err := c.Do(req)
	if err != nil {
		return false, err
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode/100 == 2, nil
}

// Attack 6: 32 parallel wrong-password guessers, each from an address of
// its own, must not starve a legitimate device: every one of its QoS 1
// readings is acknowledged and stored, the guessers are backed off by
// address rather than paid a bcrypt each, and the legacy HTTP keys are
// defended the same way.
func TestWrongPasswordFloodLeavesDeviceServed(t *testing.T) {
	in := testenv.StartInflux(t)
	srv := testenv.StartServer(t, testenv.ServerOptions{Influx: in})

	ctx, stop := context.WithCancel(context.Background())
	var attempts, accepted atomic.Int64
	var wg sync.WaitGroup
	for i := range 32 {
		local := net.IPv4(127, 0, 1, byte(i+1))
		user := "demo-device"
		if i%2 == 1 {
			user = fmt.Sprintf("no-such-user-%d", i) // unknown names take the same path
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				ok, err := guess(guessVia{}, srv.MQTT, local, user)
				if err != nil {
					time.Sleep(10 * time.Millisecond)
					continue
				}
				attempts.Add(1)
				if ok {
					accepted.Add(1)
				}
			}
		}()
	}
	defer func() { stop(); wg.Wait() }()
	// The device logs in once the guessers are being backed off: its first
	// login competes with theirs for bcrypt, and one refused as busy would
	// end the load tool's run.
	waitFor(t, 2*time.Minute, "the guessers backed off", func() bool {
		_, m := srv.HTTPGet(t, "/metrics")
		return attempts.Load() >= 32*8 && metricValue(t, m, `mqflux_mqtt_denied_total{reason="backoff",what="connect"}`) > 0
	})

	cfg := gatewayLoad(t, srv, 1, 300)
	rep := startLoad(t, cfg).finish(t, 5*time.Minute)
	stop()
	wg.Wait()
	waitStored(t, in, cfg.Measurement, 300, time.Minute)
	checkStored(t, in, cfg.Measurement, cfg.Ledger)
	t.Logf("%d guesses while the device published; %.0f PUBACKs/s", attempts.Load(), rep.AckRate)

	if n := accepted.Load(); n != 0 {
		t.Fatalf("%d wrong-password connections were accepted", n)
	}
	_, metrics := srv.HTTPGet(t, "/metrics")
	backedOff := metricValue(t, metrics, `mqflux_mqtt_denied_total{reason="backoff",what="connect"}`)
	checked := metricValue(t, metrics, `mqflux_mqtt_denied_total{reason="bad_password",what="connect"}`) +
		metricValue(t, metrics, `mqflux_mqtt_denied_total{reason="unknown_user",what="connect"}`)
	if backedOff == 0 || checked >= float64(attempts.Load()) {
		t.Errorf("of %d guesses, %v were checked with bcrypt and %v refused by backoff; want the backoff to spare bcrypt", attempts.Load(), checked, backedOff)
	}

	// The legacy HTTP keys: an address that keeps sending wrong keys is
	// told to back off; another address with the right key is served.
	client := &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{LocalAddr: &net.TCPAddr{IP: net.IPv4(127, 0, 2, 1)}}).DialContext}}
	var codes []int
	for range 8 {
		req, _ := http.NewRequest("POST", "http://"+srv.HTTP+"/v1/log-temperature", strings.NewReader(`{"temperature": 1}`))
		req.Header.Set("X-authorization", "not-the-key")
		req.Header.Set("X-node-id", "hostile")
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		codes = append(codes, resp.StatusCode)
	}
	// Backed off, a request is held for what is left of the backoff
	// before its 429 (the tarpit), so the next one may find the backoff
	// over and be checked (401) again.
	if codes[0] != http.StatusUnauthorized || !slices.Contains(codes, http.StatusTooManyRequests) {
		t.Errorf("wrong keys from one address answered %v; want 401 first, 429 once it keeps failing", codes)
	}
	req, _ := http.NewRequest("POST", "http://"+srv.HTTP+"/v1/log-temperature", strings.NewReader(`{"temperature": 2}`))
	req.Header.Set("X-authorization", demoKey)
	req.Header.Set("X-node-id", "honest-logger")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("the right key from another address answered %d, want 200", resp.StatusCode)
	}
}

// metricValue is the value of one series in a /metrics page, 0 if absent.
func metricValue(t *testing.T, page, series string) float64 {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(series) + ` (\S+)$`).FindStringSubmatch(page)
	if m == nil {
		return 0
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatalf("%s: %v", series, err)
	}
	return v
}

// Attack 8: one device flooding oversized publishes must not erase other
// senders' dead letters; what it loses is counted and logged once.
func TestDeadLetterFloodKeepsOthers(t *testing.T) {
	srv := testenv.StartServer(t, testenv.ServerOptions{Env: []string{"MQFLUX_DEAD_LETTER_MAX_BYTES=1MiB"}})
	early := []struct {
		login testenv.Login
		topic string
	}{
		{testenv.DemoGateway, "devices/field-7/sensors/temperature"},
		{testenv.DemoAdmin, "devices/field-8/sensors/humidity"},
	}
	for _, e := range early {
		if out, err := testenv.Pub(t, srv.MQTT, e.login, e.topic, "not-a-number", "-q", "1"); err != nil {
			t.Fatalf("mosquitto_pub to %s: %v: %s", e.topic, err, out)
		}
	}
	// 60 publishes of 100 KB: six times the file, which rotated away
	// every earlier entry before each device had a share.
	big := strings.Repeat("9", 100_000)
	for i := range 60 {
		if out, err := testenv.Pub(t, srv.MQTT, testenv.DemoDevice, "devices/demo-device/sensors/temperature", big, "-q", "1"); err != nil {
			t.Fatalf("oversized publish %d: %v: %s", i, err, out)
		}
	}
	_, metrics := srv.HTTPGet(t, "/metrics")
	dropped := metricValue(t, metrics, `mqflux_dead_letters_dropped_total{reason="quota"}`)
	if dropped == 0 {
		t.Errorf("/metrics counts no dropped dead letters after the flood")
	}
	var kept []deadletter.Entry
	path := deadletter.PathIn(srv.DataDir)
	for _, name := range []string{deadletter.RotatedPath(path), path} {
		f, err := os.Open(name)
		if os.IsNotExist(err) {
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		r := deadletter.NewReader(f)
		for {
			e, err := r.Next()
			if err != nil {
				break
			}
			kept = append(kept, e)
		}
		f.Close()
	}
	var flood int
	for _, want := range early {
		found := false
		for _, e := range kept {
			found = found || e.Topic == want.topic
		}
		if !found {
			t.Errorf("the dead letter of %s is gone after one device's flood", want.topic)
		}
	}
	for _, e := range kept {
		if e.Device == "demo-device" {
			flood++
		}
	}
	if float64(flood)+dropped != 60 {
		t.Errorf("%d flood entries kept and %v dropped, want the 60 published", flood, dropped)
	}
	if n := strings.Count(srv.Log(), "dead-letter quota reached"); n != 1 {
		t.Errorf("the flood's drops were logged %d times, want once", n)
	}
}
