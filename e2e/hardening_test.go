package e2e

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mqflux/mqflux/bench/mqttwire"
	"github.com/mqflux/mqflux/internal/testenv"
	"github.com/mqflux/mqflux/passwd"
)

// Attacks on an exposed server by hostile or careless clients, each against
// a real `mqflux serve`.

// listenerHealth is the part of /healthz about the MQTT listeners.
type listenerHealth struct {
	Status string `json:"status"`
	MQTT   struct {
		Listeners []struct {
			ID           string `json:"id"`
			Accepting    bool   `json:"accepting"`
			AcceptErrors int64  `json:"accept_errors"`
		} `json:"listeners"`
	} `json:"mqtt"`
}

// tcpAccepting asks /healthz over client whether the "tcp" listener
// accepts, and how many accepts failed.
func tcpAccepting(t *testing.T, client *http.Client, srv *testenv.Server) (code int, accepting bool, errs int64) {
	t.Helper()
	resp, err := client.Get("http://" + srv.HTTP + "/healthz")
	if err != nil {
		t.Fatalf("GET /healthz: %v", err)
	}
	defer resp.Body.Close()
	var h listenerHealth
	if err := json.NewDecoder(resp.Body).Decode(&h); err != nil {
		t.Fatalf("GET /healthz: %v", err)
	}
	for _, l := range h.MQTT.Listeners {
		if l.ID == "tcp" {
			return resp.StatusCode, l.Accepting, l.AcceptErrors
		}
	}
	return resp.StatusCode, true, 0 // not listed: the server claims nothing wrong
}

// eventually polls cond until it holds (true) or within passes (false).
func eventually(within time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(100 * time.Millisecond)
	}
	return true
}

// openFiles is how many descriptors process pid holds.
func openFiles(t *testing.T, pid int) int {
	t.Helper()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatalf("descriptors of %d: %v", pid, err)
	}
	return len(fds)
}

// TestAcceptSurvivesDescriptorExhaustion: idle sockets take every
// descriptor the server may open, so accept fails. /healthz says so (it is
// asked over a connection opened before), and once the sockets close a real
// client connects and its reading is stored.
func TestAcceptSurvivesDescriptorExhaustion(t *testing.T) {
	prlimit := testenv.RequireCommand(t, "prlimit")
	in := testenv.StartInflux(t, testenv.WithoutFlux())
	// The idle sockets must outlast the test's steps: here the attack is
	// the descriptor limit, not the connect timeout.
	srv := testenv.StartServer(t, testenv.ServerOptions{Influx: in, Env: []string{"MQFLUX_BROKER_CONNECT_TIMEOUT=30m"}})
	// One kept-alive connection: while no descriptor is free the server
	// cannot accept a new HTTP connection either.
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 1}, Timeout: 30 * time.Second}
	if code, ok, _ := tcpAccepting(t, client, srv); code != http.StatusOK || !ok {
		t.Fatalf("/healthz before the attack: %d, accepting %v", code, ok)
	}
	const limit = 256
	if out, err := exec.Command(prlimit, "--pid", strconv.Itoa(srv.Pid()), fmt.Sprintf("--nofile=%d:%d", limit, limit)).CombinedOutput(); err != nil {
		t.Fatalf("prlimit: %v: %s", err, out)
	}

	var idle []net.Conn
	defer func() {
		for _, c := range idle {
			c.Close()
		}
	}()
	for i := 0; i < 2*limit; i++ { // the kernel's backlog takes what the server cannot
		c, err := net.DialTimeout("tcp", srv.MQTT, 10*time.Second)
		if err != nil {
			t.Fatalf("idle socket %d: %v", i, err)
		}
		idle = append(idle, c)
	}
	waitFor(t, time.Minute, "the server holding every descriptor it may", func() bool {
		return openFiles(t, srv.Pid()) >= limit
	})
	// Reported, not fatal: what matters most is that the server recovers.
	if !eventually(time.Minute, func() bool {
		code, ok, errs := tcpAccepting(t, client, srv)
		return code == http.StatusServiceUnavailable && !ok && errs > 0
	}) {
		t.Errorf("/healthz does not report the tcp listener as not accepting")
	}
	if !strings.Contains(srv.Log(), "mqtt accept failed") {
		t.Errorf("no failed accept logged")
	}

	for _, c := range idle {
		c.Close()
	}
	idle = nil
	m := measurementFor(t)
	if out, err := testenv.Pub(t, srv.MQTT, testenv.DemoDevice, "devices/demo-device/sensors/"+m, "21.5", "-q", "1"); err != nil {
		t.Fatalf("mosquitto_pub after the attack: %v: %s", err, out)
	}
	waitStored(t, in, m, 1, time.Minute)
	if code, ok, _ := tcpAccepting(t, client, srv); code != http.StatusOK || !ok {
		t.Errorf("/healthz after the attack: %d, accepting %v; want 200, accepting", code, ok)
	}
	if n := metric(t, srv, "mqflux_mqtt_accept_errors_total", `listener="tcp"`); n < 1 {
		t.Errorf("mqflux_mqtt_accept_errors_total{listener=\"tcp\"} = %v, want the failed accepts counted", n)
	}
}

// TestConnectTimeoutClosesIdleSocket: a connection that never sends
// CONNECT is closed by the server once broker.connect_timeout has passed,
// on every listener, whether or not it finished its TLS or WebSocket
// handshake.
func TestConnectTimeoutClosesIdleSocket(t *testing.T) {
	cert, key := testenv.WriteCert(t)
	tlsAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	wsAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	srv := testenv.StartServer(t, testenv.ServerOptions{Env: []string{
		"MQFLUX_BROKER_CONNECT_TIMEOUT=1s", "MQFLUX_BROKER_WEBSOCKET=" + wsAddr,
		"MQFLUX_BROKER_TLS_ADDRESS=" + tlsAddr, "MQFLUX_BROKER_TLS_CERT=" + cert, "MQFLUX_BROKER_TLS_KEY=" + key,
	}})
	cases := []struct {
		name string
		dial func(t *testing.T) net.Conn
	}{
		{"tcp", func(t *testing.T) net.Conn { return dialTCP(t, srv.MQTT) }},
		{"tls before the handshake", func(t *testing.T) net.Conn { return dialTCP(t, tlsAddr) }},
		{"tls after the handshake", func(t *testing.T) net.Conn {
			c := tls.Client(dialTCP(t, tlsAddr), &tls.Config{InsecureSkipVerify: true})
			if err := c.Handshake(); err != nil {
				t.Fatalf("TLS handshake: %v", err)
			}
			return c
		}},
		{"websocket after the upgrade", func(t *testing.T) net.Conn { return upgradeWebSocket(t, wsAddr) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			conn := tc.dial(t)
			defer conn.Close()
			// The deadline only keeps a failing test from hanging: without
			// the timeout the server would hold the socket for ever.
			_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			n, err := io.Copy(io.Discard, conn) // until the server closes
			if errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatal("the server still holds a connection that sent no CONNECT")
			}
			if err != nil && !errors.Is(err, syscall.ECONNRESET) {
				t.Fatalf("read from an idle connection: %d bytes, %v; want the server to close it", n, err)
			}
		})
	}
}

// upgradeWebSocket opens a WebSocket connection for MQTT by hand and
// returns it once the server has answered 101.
func upgradeWebSocket(t *testing.T, addr string) net.Conn {
	t.Helper()
	c := dialTCP(t, addr)
	fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: mqtt\r\n\r\n", addr)
	_ = c.SetReadDeadline(time.Now().Add(30 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("WebSocket upgrade: %v", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("WebSocket upgrade: %s", resp.Status)
	}
	return c
}

func dialTCP(t *testing.T, addr string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// connectRaw sends one MQTT 3.1.1 CONNECT with the given flags and client
// id as demo-device, and returns the CONNACK's return code, or closed when
// the server closed the connection without one.
func connectRaw(t *testing.T, addr string, flags byte, clientID string, password *string) (code byte, closed bool) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := &rawClient{version: 4, conn: conn, r: mqttwire.NewReader(conn, 1<<20)}
	var body []byte
	body = appendStr(body, "MQTT")
	body = append(body, 4, flags, 0, 60)
	body = appendStr(body, clientID)
	body = appendStr(body, testenv.DemoDevice.User)
	if password != nil {
		body = appendStr(body, *password)
	}
	c.write(t, mqttwire.CONNECT, 0, body)
	_ = conn.SetReadDeadline(time.Now().Add(time.Minute))
	p, err := c.r.Next()
	if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
		return 0, true
	}
	if err != nil {
		t.Fatalf("read CONNACK: %v", err)
	}
	if p.Type != mqttwire.CONNACK || len(p.Body) != 2 {
		t.Fatalf("answer to CONNECT: %s % x, want a 3.1.1 CONNACK", p.Type, p.Body)
	}
	return p.Body[1], false
}

// TestMQTT311ConnackCodes: a 3.1.1 client gets only 3.1.1 return codes
// (0 to 5); what 3.1.1 has no code for closes the connection.
func TestMQTT311ConnackCodes(t *testing.T) {
	srv := testenv.StartServer(t, testenv.ServerOptions{})
	pw, wrong, empty := testenv.DemoDevice.Password, "wrong-password", ""
	cases := []struct {
		name       string
		flags      byte
		clientID   string
		password   *string
		wantCode   byte
		wantClosed bool
	}{
		{"accepted", 0x80 | 0x40 | 0x02, "c1", &pw, 0x00, false},
		{"persistent session without client id: identifier rejected", 0x80 | 0x40, "", &pw, 0x02, false},
		{"wrong password: not authorized", 0x80 | 0x40 | 0x02, "c2", &wrong, 0x05, false},
		{"empty password with the password flag: protocol violation", 0x80 | 0x40 | 0x02, "c3", &empty, 0, true},
		{"password flag and no password field: malformed", 0x80 | 0x40 | 0x02, "c5", nil, 0, true},
		{"reserved flag bit set: protocol violation", 0x80 | 0x40 | 0x02 | 0x01, "c4", &pw, 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, closed := connectRaw(t, srv.MQTT, tc.flags, tc.clientID, tc.password)
			if closed != tc.wantClosed || code != tc.wantCode {
				t.Fatalf("CONNACK code 0x%02x, closed without one %v; want 0x%02x, %v", code, closed, tc.wantCode, tc.wantClosed)
			}
		})
	}
}

// TestShutdownSpares311Subscriber: on shutdown a 3.1.1 subscriber's
// connection is closed without an MQTT 5 DISCONNECT, which mosquitto_sub
// would report as a protocol error.
func TestShutdownSpares311Subscriber(t *testing.T) {
	srv := testenv.StartServer(t, testenv.ServerOptions{})
	sub := testenv.Subscribe(t, srv.MQTT, testenv.DemoReader, "devices/#", "-q", "1", "-V", "mqttv311")
	srv.WaitLog(t, "subscribed", "demo-reader")
	srv.Stop(t)
	err, stderr := sub.Wait(time.Minute)
	if strings.Contains(strings.ToLower(stderr), "protocol error") {
		t.Fatalf("mosquitto_sub on shutdown: %v: %s", err, stderr)
	}
	t.Logf("mosquitto_sub on shutdown: %v %q", err, stderr)
}

// TestInflightGaugeNeverNegative: a reader's persistent session collects
// readings while it is away and receives them when it is back; the
// inflight gauge returns to zero, not below.
func TestInflightGaugeNeverNegative(t *testing.T) {
	srv := testenv.StartServer(t, testenv.ServerOptions{})
	session := []string{"-q", "1", "-c", "-i", "reader-away", "-V", "mqttv311"}
	sub := testenv.Subscribe(t, srv.MQTT, testenv.DemoReader, "devices/#", session...)
	srv.WaitLog(t, "subscribed", "demo-reader")
	sub.Stop()

	const n = 5
	for i := range n {
		if out, err := testenv.Pub(t, srv.MQTT, testenv.DemoDevice, "devices/demo-device/sensors/t", strconv.Itoa(i), "-q", "1"); err != nil {
			t.Fatalf("mosquitto_pub: %v: %s", err, out)
		}
	}
	waitFor(t, time.Minute, "readings queued for the reader", func() bool {
		return metric(t, srv, "mqflux_mqtt_inflight_messages") == n
	})
	// The reader stays connected, so that it acknowledges every delivery.
	back := testenv.Subscribe(t, srv.MQTT, testenv.DemoReader, "devices/#", session...)
	back.WaitLines(t, n, time.Minute)
	waitFor(t, time.Minute, "the inflight gauge settled", func() bool {
		return metric(t, srv, "mqflux_mqtt_inflight_messages") <= 0
	})
	if v := metric(t, srv, "mqflux_mqtt_inflight_messages"); v != 0 {
		t.Fatalf("mqflux_mqtt_inflight_messages = %v after every queued reading was delivered, want 0", v)
	}
}

// TestDemoSecretsRefusedBeyondLoopback: `mqflux serve` refuses to listen
// on every address while a shipped hash is in use under any name, and an
// IPv6 any-address from the environment is read as one.
func TestDemoSecretsRefusedBeyondLoopback(t *testing.T) {
	bin := testenv.Build(t, "./cmd/mqflux")
	shipped := map[string]string{}
	for _, line := range strings.Split(readFile(t, testenv.ModuleRoot(t)+"/config.yaml"), "\n") {
		for _, name := range []string{"demo-admin", "demo-gateway"} {
			if strings.Contains(line, "name: "+name+",") {
				_, rest, _ := strings.Cut(line, `password_hash: "`)
				shipped[name], _, _ = strings.Cut(rest, `"`)
			}
		}
	}
	users := fmt.Sprintf(`[{name: admin, password_hash: %q, role: admin}, {name: gateway-1, password_hash: %q, role: gateway}]`,
		shipped["demo-admin"], shipped["demo-gateway"])
	ownKey, err := passwd.Hash([]byte("not-the-demo-key"), 4)
	if err != nil {
		t.Fatal(err)
	}
	keys := fmt.Sprintf(`[{key_hash: %q, device: "*"}]`, ownKey)
	cases := []struct {
		name string
		env  []string
		want []string
	}{
		{"shipped hashes renamed, on 0.0.0.0",
			[]string{"MQFLUX_BROKER_TCP=0.0.0.0:" + strconv.Itoa(testenv.FreePort(t)), "MQFLUX_BROKER_USERS=" + users,
				"MQFLUX_HTTP_LEGACY_KEYS=" + keys},
			[]string{"refusing to listen beyond loopback", "user admin", "user gateway-1"}},
		{"shipped users on [::]",
			[]string{"MQFLUX_BROKER_TCP=[::]:" + strconv.Itoa(testenv.FreePort(t))},
			[]string{"refusing to listen beyond loopback", "broker.tcp [::]:", "user demo-admin"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := append([]string{"MQFLUX_DATA_DIR=" + t.TempDir(),
				"MQFLUX_HTTP_ADDRESS=127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))}, tc.env...)
			p := testenv.StartProcess(t, env, bin, "serve", "-config", testenv.ModuleRoot(t)+"/config.yaml")
			waitFor(t, 2*time.Minute, "mqflux serve exiting", func() bool {
				if strings.Contains(p.Log.String(), "mqflux serving") {
					t.Fatalf("mqflux serve started, want a refusal:\n%s", p.Log.Tail(20))
				}
				select {
				case <-p.Exited():
					return true
				default:
					return false
				}
			})
			if p.Err() == nil {
				t.Fatalf("mqflux serve exited 0, want a refusal:\n%s", p.Log.Tail(20))
			}
			for _, w := range tc.want {
				if !strings.Contains(p.Log.String(), w) {
					t.Errorf("mqflux serve's output lacks %q:\n%s", w, p.Log.Tail(20))
				}
			}
		})
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
