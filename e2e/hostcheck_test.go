package e2e

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mqflux/mqflux/flow/deadletter"
	"github.com/mqflux/mqflux/internal/testenv"
)

// httpDo sends one request to the server with the given Host and headers
// and returns the status and body.
func httpDo(t *testing.T, srv *testenv.Server, method, path, host string, header map[string]string, body ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, "http://"+srv.HTTP+path, strings.NewReader(strings.Join(body, "")))
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s (Host %s): %v", method, path, host, err)
	}
	defer resp.Body.Close()
	got, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(got)
}

// A loopback server is open to every process of the machine, not to every
// web page its browser shows. A page of evil.example that re-points its
// name at 127.0.0.1 (DNS rebinding) sends Host: evil.example and must read
// nothing; a page of any site that posts to the server (CSRF) must change
// nothing. The server's own names, http.allowed_hosts and its own origin
// still work, and the legacy API still takes a logger's request whatever
// its Host.
func TestForeignHostAndCrossOrigin(t *testing.T) {
	srv := testenv.StartServer(t, testenv.ServerOptions{Env: []string{"MQFLUX_HTTP_ALLOWED_HOSTS=[mqflux.example.com]"}})
	if out, err := testenv.Pub(t, srv.MQTT, testenv.DemoGateway, "devices/pi-kitchen/sensors/climate", `not json`, "-q", "1"); err != nil {
		t.Fatalf("publish: %v\n%s", err, out)
	}
	waitFor(t, 30*time.Second, "the dead letter", func() bool { return len(deadLetters(t, srv)) == 1 })
	_, port, _ := net.SplitHostPort(srv.HTTP)

	for _, path := range []string{"/v1/latest", "/metrics", "/v1/deadletter", "/v1/pipeline", "/healthz", "/"} {
		for _, host := range []string{"evil.example", "evil.example:" + port, "EVIL.example.:" + port} {
			code, body := httpDo(t, srv, "GET", path, host, nil)
			if code != http.StatusMisdirectedRequest || !strings.Contains(body, "http.allowed_hosts") ||
				!strings.Contains(strings.ToLower(body), "evil.example") {
				t.Errorf("GET %s with Host %s: %d %q; want 421 naming the Host and http.allowed_hosts", path, host, code, body)
			}
			if strings.Contains(body, "not json") || strings.Contains(body, "mqflux_") {
				t.Errorf("GET %s with Host %s answered what it guards: %q", path, host, body)
			}
		}
		for _, host := range []string{srv.HTTP, "localhost:" + port, "[::1]:" + port, "mqflux.example.com", "MQFLUX.example.com:443"} {
			if code, body := httpDo(t, srv, "GET", path, host, nil); code != http.StatusOK {
				t.Errorf("GET %s with Host %s: %d %q; want 200", path, host, code, body)
			}
		}
	}

	// Cross-origin POSTs change nothing: the file a replay rewrites is
	// the same file afterwards.
	path := deadletter.PathIn(srv.DataDir)
	before, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, header := range []map[string]string{
		{"Origin": "http://evil.example"},
		{"Origin": "http://evil.example", "Sec-Fetch-Site": "cross-site"},
		{"Sec-Fetch-Site": "cross-site"},
		{"Origin": "null"},
		{"Origin": "http://" + srv.HTTP, "Sec-Fetch-Site": "same-site"}, // a sibling of the page's site
	} {
		code, body := httpDo(t, srv, "POST", "/v1/deadletter/replay", srv.HTTP, header)
		if code != http.StatusForbidden || !strings.Contains(body, "cross-origin") {
			t.Errorf("POST /v1/deadletter/replay with %v: %d %q; want 403 naming the cross-origin request", header, code, body)
		}
	}
	if code, body := httpDo(t, srv, "POST", "/v1/deadletter/replay", "evil.example", map[string]string{"Origin": "http://evil.example"}); code != http.StatusMisdirectedRequest {
		t.Errorf("POST /v1/deadletter/replay from a rebound page: %d %q; want 421", code, body)
	}
	after, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(before, after) || after.Size() != before.Size() || !after.ModTime().Equal(before.ModTime()) {
		t.Fatalf("a refused replay rewrote the dead-letter file")
	}

	// The server's own page, and a client without Origin, replay.
	for _, header := range []map[string]string{
		{"Origin": "http://" + srv.HTTP, "Sec-Fetch-Site": "same-origin"},
		{"Origin": "http://localhost:" + port},
		{"Origin": "https://mqflux.example.com", "Sec-Fetch-Site": "same-origin"},
		nil,
	} {
		host := srv.HTTP
		if o := header["Origin"]; o != "" {
			host = strings.SplitN(o, "://", 2)[1]
		}
		code, body := httpDo(t, srv, "POST", "/v1/deadletter/replay", host, header)
		var res struct {
			Selected     int            `json:"selected"`
			StillFailing map[string]int `json:"still_failing"`
		}
		if code != http.StatusOK || json.Unmarshal([]byte(body), &res) != nil || res.Selected != 1 || res.StillFailing["bad_number"] != 1 {
			t.Errorf("POST /v1/deadletter/replay with %v: %d %q; want 200, the dead letter selected and still failing", header, code, body)
		}
	}
	// A replay writes a new file in place of the old one; the file system
	// may give the new one the inode number an older one had, so the
	// modification time says it was rewritten, not the inode alone.
	if now, err := os.Stat(path); err != nil || (os.SameFile(before, now) && now.ModTime().Equal(before.ModTime())) {
		t.Errorf("the replays did not rewrite the dead-letter file (%v)", err)
	}

	// A logger reaches the legacy API by any name it was given; it sends
	// no Origin.
	code, body := httpDo(t, srv, "POST", "/v1/log-temperature", "logger-gateway.plant.example:8080", map[string]string{
		"Content-Type": "application/json", "X-Authorization": demoKey, "X-Node-Id": "truck-7"}, `{"temperature": 21.5}`)
	if code != http.StatusOK || body != "Temperature logged successfully\n" {
		t.Errorf("legacy POST with a foreign Host: %d %q; want 200 and the legacy answer", code, body)
	}

	_, metrics := srv.HTTPGet(t, "/metrics")
	if metricValue(t, metrics, `mqflux_http_refused_total{reason="host"}`) < 18 ||
		metricValue(t, metrics, `mqflux_http_refused_total{reason="cross_origin"}`) != 5 {
		t.Errorf("mqflux_http_refused_total does not count the refusals:\n%s", grepLines(metrics, "mqflux_http_refused_total"))
	}
}

// grepLines is the lines of s that contain sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
