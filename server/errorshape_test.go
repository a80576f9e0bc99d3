package server

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

// Every error the API answers, but the legacy API's, is {"error": "..."}
// as JSON, whichever part of the server refuses: the routes' own checks,
// the login guard, the Host check, the alerts' routes. The legacy API keeps
// its plain-text bodies.
func TestOneErrorShape(t *testing.T) {
	_, _, httpAddr := startMemServer(t)
	base := "http://" + httpAddr
	cases := []struct {
		method, path, host string
		status             int
		says               string
	}{
		{"GET", "/v1/deadletter?n=x", "", 400, "n must be a count"},
		{"GET", "/v1/deadletter?before=nonsense", "", 400, "before: "},
		{"GET", "/v1/devices?state=sleepy", "", 400, "state: want online, silent or offline"},
		{"GET", "/v1/history", "", 501, "does not answer history queries"},
		{"POST", "/logout", "", 403, "CSRF"},
		{"GET", "/v1/pipeline", "evil.example", 421, "is not a name of this server"},
	}
	for _, tc := range cases {
		req, err := http.NewRequest(tc.method, base+tc.path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if tc.host != "" {
			req.Host = tc.host
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var e map[string]any
		if resp.StatusCode != tc.status || resp.Header.Get("Content-Type") != "application/json" || json.Unmarshal(body, &e) != nil {
			t.Errorf("%s %s: %d %s %q, want %d and a JSON error", tc.method, tc.path, resp.StatusCode, resp.Header.Get("Content-Type"), body, tc.status)
			continue
		}
		msg, ok := e["error"].(string)
		if len(e) != 1 || !ok || !strings.Contains(msg, tc.says) {
			t.Errorf("%s %s: %s, want only an error saying %q", tc.method, tc.path, body, tc.says)
		}
	}
	resp, err := http.Get(base + "/v1/log-temperature")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed || string(body) != "Invalid request method\n" {
		t.Errorf("legacy GET /v1/log-temperature: %d %q, want 405 and its plain-text body", resp.StatusCode, body)
	}
}
