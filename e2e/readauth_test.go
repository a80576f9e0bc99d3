package e2e

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/mqflux/mqflux/flow/latest"
	"github.com/mqflux/mqflux/internal/testenv"
	"github.com/mqflux/mqflux/passwd"
	"github.com/mqflux/mqflux/server"
)

// Users of an exposed server, with passwords that are not the demo ones:
// the server refuses to listen beyond loopback with those.
var (
	exposedReader = testenv.Login{User: "dash-reader", Password: "reader-secret-1"}
	exposedAdmin  = testenv.Login{User: "ops-admin", Password: "admin-secret-1"}
	exposedDevice = testenv.Login{User: "pi-exposed", Password: "device-secret-1"}
	// The load tool names its devices prefix + number: this is device 0
	// of prefix "legit-", the honest device of TestAllAttacksAtOnce.
	exposedLegit = testenv.Login{User: "legit-0", Password: "device-secret-2"}
)

// startExposed runs `mqflux serve` with http.address on every interface
// (0.0.0.0) and the users above; the test reaches it on 127.0.0.1.
func startExposed(t *testing.T, env ...string) *testenv.Server {
	t.Helper()
	users := exposedUsers(t)
	port := testenv.FreePort(t)
	srv := &testenv.Server{
		Bin:     testenv.Build(t, "./cmd/mqflux"),
		DataDir: t.TempDir(),
		MQTT:    fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)),
		HTTP:    fmt.Sprintf("127.0.0.1:%d", port),
		Config:  filepath.Join(testenv.ModuleRoot(t), "config.yaml"),
	}
	srv.Env = append([]string{
		"MQFLUX_DATA_DIR=" + srv.DataDir,
		"MQFLUX_BROKER_TCP=" + srv.MQTT,
		fmt.Sprintf("MQFLUX_HTTP_ADDRESS=0.0.0.0:%d", port),
		fmt.Sprintf("MQFLUX_INFLUX_URL=http://127.0.0.1:%d", testenv.FreePort(t)),
		"MQFLUX_INFLUX_DRAIN_TIMEOUT=2s",
		"MQFLUX_LOG_LEVEL=debug",
		users,
		"MQFLUX_HTTP_LEGACY_KEYS=[]",
	}, env...)
	srv.Start(t)
	return srv
}

// exposedUsers is the MQFLUX_BROKER_USERS setting of the exposed logins.
func exposedUsers(t *testing.T) string {
	t.Helper()
	var users []string
	for _, u := range []struct {
		l    testenv.Login
		role string
	}{{exposedReader, "reader"}, {exposedAdmin, "admin"}, {exposedDevice, "device"}, {exposedLegit, "device"}} {
		// The lowest bcrypt cost: these hashes are checked, not attacked.
		h, err := passwd.Hash([]byte(u.l.Password), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		users = append(users, fmt.Sprintf("{name: %s, password_hash: %q, role: %s}", u.l.User, h, u.role))
	}
	return "MQFLUX_BROKER_USERS=[" + strings.Join(users, ", ") + "]"
}

// clientFrom is an HTTP client whose connections come from local, a
// loopback address of its own: the server's backoff is per address.
func clientFrom(local net.IP) *http.Client {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: local}, Timeout: 10 * time.Second}
	return &http.Client{Transport: &http.Transport{DialContext: d.DialContext}, Timeout: 30 * time.Second}
}

// answer is the status and headers of a GET; for a stream, of its start.
type answer struct {
	code   int
	header http.Header
	body   string
}

// getAs sends GET path with basic auth as l (none when l.User is empty) and
// returns without reading past the headers of a 200 stream.
func getAs(t *testing.T, c *http.Client, srv *testenv.Server, path string, l testenv.Login) answer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+srv.HTTP+path, nil)
	if l.User != "" {
		req.SetBasicAuth(l.User, l.Password)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s as %q: %v", path, l.User, err)
	}
	defer resp.Body.Close()
	a := answer{code: resp.StatusCode, header: resp.Header}
	if resp.Header.Get("Content-Type") != "text/event-stream" {
		b, _ := io.ReadAll(resp.Body)
		a.body = string(b)
	}
	return a
}

// Attack 9, the open door: beyond loopback, /metrics, /v1/latest,
// /v1/stream and /v1/pipeline/history answer a reader or admin login
// only; no login, a wrong password or an unknown user get 401 with a
// basic-auth challenge, a device login 403. A flood of wrong passwords
// is backed off (429 with Retry-After, without a bcrypt each), and a
// reader from another address is still served. Health stays open for load balancers.
func TestReadEndpointsNeedReaderLogin(t *testing.T) {
	// Backed off, the flood's requests are held before their 429 (the
	// tarpit): a tenth of a second each, not up to 10 s, keeps the 40
	// guesses short (TestHTTPPasswordGuessersAreTarpitted holds them).
	srv := startExposed(t, "MQFLUX_BROKER_TARPIT_MAX_HOLD=100ms")
	honest := http.DefaultClient
	for _, path := range []string{"/healthz", "/healthcheck"} {
		if a := getAs(t, honest, srv, path, testenv.Login{}); a.code != http.StatusOK {
			t.Errorf("GET %s without a login: %d, want 200 (load balancers probe it)", path, a.code)
		}
	}
	for i, path := range []string{"/v1/latest", "/v1/stream", "/metrics", "/v1/pipeline/history"} {
		// Wrong guesses come from an address of their own per endpoint,
		// so each sees its answer before any backoff.
		guesser := clientFrom(net.IPv4(127, 0, 3, byte(i+1)))
		for _, tc := range []struct {
			who  string
			c    *http.Client
			l    testenv.Login
			want int
		}{
			{"no login", honest, testenv.Login{}, http.StatusUnauthorized},
			{"wrong password", guesser, testenv.Login{User: exposedReader.User, Password: "not-the-password"}, http.StatusUnauthorized},
			{"unknown user", guesser, testenv.Login{User: "no-such-reader", Password: exposedReader.Password}, http.StatusUnauthorized},
			{"device", honest, exposedDevice, http.StatusForbidden},
			{"reader", honest, exposedReader, http.StatusOK},
			{"admin", honest, exposedAdmin, http.StatusOK},
		} {
			a := getAs(t, tc.c, srv, path, tc.l)
			if a.code != tc.want {
				t.Errorf("GET %s, %s: %d, want %d (%s)", path, tc.who, a.code, tc.want, a.body)
			}
			if got := a.header.Get("WWW-Authenticate"); tc.want == http.StatusUnauthorized && got != `Basic realm="mqflux"` {
				t.Errorf("GET %s, %s: WWW-Authenticate %q, want a basic-auth challenge", path, tc.who, got)
			}
		}
	}

	// Bulk wrong passwords from one address: never served, and past the
	// free failures refused without a password check.
	flood := clientFrom(net.IPv4(127, 0, 4, 1))
	const guesses = 40
	for i := range guesses {
		l := testenv.Login{User: exposedReader.User, Password: fmt.Sprintf("guess-%d", i)}
		switch a := getAs(t, flood, srv, "/v1/latest", l); {
		case a.code == http.StatusTooManyRequests && a.header.Get("Retry-After") != "":
		case a.code != http.StatusUnauthorized:
			t.Fatalf("wrong password %d: %d, want 401, or 429 with Retry-After once backed off", i, a.code)
		}
	}
	if a := getAs(t, honest, srv, "/v1/latest", exposedReader); a.code != http.StatusOK {
		t.Errorf("a reader from another address during the flood: %d, want 200", a.code)
	}

	metrics := getAs(t, honest, srv, "/metrics", exposedReader).body
	denied := func(endpoint, reason string) float64 {
		return metricValue(t, metrics, fmt.Sprintf(`mqflux_http_denied_total{endpoint=%q,reason=%q}`, endpoint, reason))
	}
	for _, reason := range []string{"no_credentials", "bad_password", "unknown_user", "role"} {
		for _, endpoint := range []string{"/v1/latest", "/v1/stream", "/metrics", "/v1/pipeline/history"} {
			if denied(endpoint, reason) == 0 {
				t.Errorf("mqflux_http_denied_total{endpoint=%q,reason=%q} not counted", endpoint, reason)
			}
		}
	}
	checked := denied("/v1/latest", "bad_password")
	if backedOff := denied("/v1/latest", "backoff"); backedOff == 0 || checked >= guesses {
		t.Errorf("of %d wrong passwords, %v were checked and %v backed off; want the backoff to spare the checks", guesses, checked, backedOff)
	}
	srv.WaitLog(t, "http request refused", "reason=bad_password", "remote=127.0.4.1")
}

// Attack 9, the crowding device: one device publishing 1000 new
// measurement names takes only its own share of /v1/latest, and another
// device's reading, sent after, is still shown.
func TestLatestSeriesPerDevice(t *testing.T) {
	// Room for more than the flood's share, less than the whole flood.
	srv := testenv.StartServer(t, testenv.ServerOptions{Env: []string{"MQFLUX_HTTP_LATEST_MAX_SERIES=600"}})
	const names = 1000
	c := dialRaw(t, srv.MQTT, 4, "crowder", testenv.DemoDevice.User, testenv.DemoDevice.Password)
	for i := range names {
		topic := fmt.Sprintf("devices/%s/sensors/m%04d", testenv.DemoDevice.User, i)
		if code, err := c.publish(t, uint16(i%60000+1), topic, []byte("1"), false, 10*time.Second); err != nil || code != 0 {
			t.Fatalf("publish %s: reason %d, %v", topic, code, err)
		}
	}
	pub(t, srv, testenv.DemoGateway, "devices/pi-quiet/sensors/temperature", `21.5`)

	waitFor(t, 30*time.Second, "pi-quiet's reading in /v1/latest", func() bool {
		return len(getLatest(t, srv, "?device=pi-quiet")) == 1
	})
	if n := len(getLatest(t, srv, "?device="+testenv.DemoDevice.User)); n != latest.DefaultMaxSeriesPerDevice {
		t.Errorf("the crowding device holds %d series, want its share of %d", n, latest.DefaultMaxSeriesPerDevice)
	}
	if n := metric(t, srv, "mqflux_latest_untracked_readings_total", `limit="latest_max_series_per_device"`); n < names-latest.DefaultMaxSeriesPerDevice {
		t.Errorf("untracked readings of the crowding device counted %v, want at least %d", n, names-latest.DefaultMaxSeriesPerDevice)
	}
}

// stream is one open /v1/stream client.
type stream struct {
	code   int
	retry  string
	cancel context.CancelFunc
	body   io.ReadCloser
}

func openStream(t *testing.T, srv *testenv.Server) *stream {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+srv.HTTP+"/v1/stream", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET /v1/stream: %v", err)
	}
	s := &stream{code: resp.StatusCode, retry: resp.Header.Get("Retry-After"), cancel: cancel, body: resp.Body}
	if s.code != http.StatusOK {
		resp.Body.Close()
	}
	return s
}

// Attack 9, the stream crowd: beyond http.max_stream_clients, a stream is
// answered 503 with Retry-After, while a device's readings are all
// acknowledged and stored and an open stream sees them; a closed stream
// frees its place.
func TestStreamClientsCapped(t *testing.T) {
	in := testenv.StartInflux(t)
	srv := testenv.StartServer(t, testenv.ServerOptions{Influx: in})
	limit := server.DefaultConfig().HTTP.MaxStreamClients
	const excess = 10
	var open []*stream
	refused := 0
	for range limit + excess {
		s := openStream(t, srv)
		switch s.code {
		case http.StatusOK:
			open = append(open, s)
		case http.StatusServiceUnavailable:
			refused++
			if s.retry == "" {
				t.Error("a refused stream has no Retry-After")
			}
		default:
			t.Fatalf("GET /v1/stream: %d", s.code)
		}
	}
	if len(open) != limit || refused != excess {
		t.Fatalf("%d streams opened and %d refused, want %d and %d", len(open), refused, limit, excess)
	}

	cfg := gatewayLoad(t, srv, 1, 300)
	seen := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(open[0].body)
		for sc.Scan() {
			if strings.Contains(sc.Text(), cfg.Measurement) {
				seen <- true
				return
			}
		}
		seen <- false
	}()
	startLoad(t, cfg).finish(t, 5*time.Minute)
	waitStored(t, in, cfg.Measurement, 300, time.Minute)
	checkStored(t, in, cfg.Measurement, cfg.Ledger)
	select {
	case ok := <-seen:
		if !ok {
			t.Error("an open stream ended without showing the device's readings")
		}
	case <-time.After(30 * time.Second):
		t.Error("an open stream showed none of the device's readings")
	}
	if n := metric(t, srv, "mqflux_http_denied_total", `endpoint="/v1/stream"`, `reason="max_stream_clients"`); n != excess {
		t.Errorf("refused streams counted %v, want %d", n, excess)
	}

	open[1].cancel()
	waitFor(t, 30*time.Second, "a stream's place freed", func() bool {
		s := openStream(t, srv)
		if s.code == http.StatusOK {
			s.cancel()
		}
		return s.code == http.StatusOK
	})
}
