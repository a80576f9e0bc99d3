package e2e

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/mqflux/mqflux/internal/testenv"
)

// consoleSession logs l in through the console's form (POST /login, as
// the browser does) and returns a client that keeps the session cookie.
func consoleSession(t *testing.T, srv *testenv.Server, l testenv.Login) *http.Client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	form := url.Values{"username": {l.User}, "password": {l.Password}}
	req, _ := http.NewRequest(http.MethodPost, "http://"+srv.HTTP+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", "http://"+srv.HTTP)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("POST /login as %s: %v", l.User, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || len(jar.Cookies(req.URL)) == 0 {
		t.Fatalf("POST /login as %s: %d, cookies %v; want 303 and a session", l.User, resp.StatusCode, jar.Cookies(req.URL))
	}
	return c
}

// postFromConsole posts path with c's cookie and the console's own Origin,
// as the console's page does.
func postFromConsole(t *testing.T, c *http.Client, srv *testenv.Server, path string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, "http://"+srv.HTTP+path, nil)
	req.Header.Set("Origin", "http://"+srv.HTTP)
	req.Header.Set("Sec-Fetch-Site", "same-origin")
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// Beyond loopback, an admin logged into the console replays dead letters
// with the session the login form gave, no basic auth; a reader's session
// is refused with 403, and the cross-origin check still stands in front.
func TestConsoleAdminSessionReplaysDeadLetters(t *testing.T) {
	srv := startExposed(t)
	if out, err := testenv.Pub(t, srv.MQTT, exposedDevice, "devices/"+exposedDevice.User+"/sensors/climate", `not json`, "-q", "1"); err != nil {
		t.Fatalf("publish: %v\n%s", err, out)
	}
	waitFor(t, 30*time.Second, "the dead letter", func() bool { return len(deadLetters(t, srv)) == 1 })

	reader := consoleSession(t, srv, exposedReader)
	if code, body := postFromConsole(t, reader, srv, "/v1/deadletter/replay"); code != http.StatusForbidden {
		t.Errorf("replay from a reader's console session: %d %q, want 403", code, body)
	}

	admin := consoleSession(t, srv, exposedAdmin)
	req, _ := http.NewRequest(http.MethodPost, "http://"+srv.HTTP+"/v1/deadletter/replay", nil)
	req.Header.Set("Origin", "http://evil.example")
	if resp, err := admin.Do(req); err != nil || resp.StatusCode != http.StatusForbidden {
		t.Errorf("cross-origin replay with the admin's cookie: %v %v, want 403", resp, err)
	} else {
		resp.Body.Close()
	}
	code, body := postFromConsole(t, admin, srv, "/v1/deadletter/replay")
	var res struct {
		Selected int `json:"selected"`
	}
	if code != http.StatusOK || json.Unmarshal([]byte(body), &res) != nil || res.Selected != 1 {
		t.Errorf("replay from an admin's console session: %d %q, want 200 with the dead letter selected", code, body)
	}
}

// An address backed off for its failed logins gets the same answer on
// every guarded route and the login form: 429 with Retry-After, even with
// the right password; another address is served.
func TestLoginBackoffIs429Everywhere(t *testing.T) {
	// Each request from the backed-off address is held before its 429
	// (the tarpit): a tenth of a second, not up to 10 s each, so the
	// routes are all asked within the backoff.
	srv := startExposed(t, "MQFLUX_BROKER_TARPIT_MAX_HOLD=100ms")
	guesser := clientFrom(net.IPv4(127, 0, 6, 1))
	wrong := testenv.Login{User: exposedAdmin.User, Password: "not-the-password"}
	// Failures past the free ones double the backoff; ten make it 16
	// seconds, long enough to ask every route.
	for failed := 0; failed < 10; {
		switch a := getAs(t, guesser, srv, "/v1/latest", wrong); a.code {
		case http.StatusUnauthorized:
			failed++
		case http.StatusTooManyRequests:
			time.Sleep(100 * time.Millisecond)
		default:
			t.Fatalf("wrong password: %d %s", a.code, a.body)
		}
	}
	for _, tc := range []struct{ method, path string }{
		{"GET", "/metrics"}, {"GET", "/v1/latest"}, {"GET", "/v1/stream"}, {"GET", "/v1/devices"},
		{"GET", "/v1/alerts"}, {"GET", "/v1/deadletter"}, {"POST", "/v1/deadletter/replay"},
		{"GET", "/v1/history"}, {"GET", "/v1/pipeline"}, {"GET", "/v1/pipeline/history"}, {"GET", "/v1/session"}, {"POST", "/login"},
	} {
		var body io.Reader
		if tc.path == "/login" {
			body = strings.NewReader(url.Values{"username": {exposedAdmin.User}, "password": {exposedAdmin.Password}}.Encode())
		}
		req, _ := http.NewRequest(tc.method, "http://"+srv.HTTP+tc.path, body)
		req.SetBasicAuth(exposedAdmin.User, exposedAdmin.Password)
		if body != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := guesser.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", tc.method, tc.path, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" {
			t.Errorf("%s %s from a backed-off address: %d, Retry-After %q; want 429 with Retry-After",
				tc.method, tc.path, resp.StatusCode, resp.Header.Get("Retry-After"))
		}
	}
	if a := getAs(t, http.DefaultClient, srv, "/v1/latest", exposedAdmin); a.code != http.StatusOK {
		t.Errorf("an admin from another address: %d, want 200", a.code)
	}
}
