package server

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestHostGuard(t *testing.T) {
	hostname, _ := os.Hostname()
	short := strings.SplitN(hostname, ".", 2)[0]
	for _, tc := range []struct {
		address string
		allowed []string
		host    string
		method  string
		header  map[string]string
		want    int
	}{
		{"127.0.0.1:8080", nil, "127.0.0.1:8080", "GET", nil, 200},
		{"127.0.0.1:8080", nil, "localhost:8080", "GET", nil, 200},
		{"127.0.0.1:8080", nil, "LocalHost.", "GET", nil, 200},
		{"127.0.0.1:8080", nil, "[::1]:8080", "GET", nil, 200},
		{"127.0.0.1:8080", nil, "", "GET", nil, 200}, // HTTP/1.0: no browser
		{"127.0.0.1:8080", nil, "evil.example", "GET", nil, 421},
		{"127.0.0.1:8080", nil, "evil.example:8080", "GET", nil, 421},
		{"127.0.0.1:8080", nil, "localhost.evil.example", "GET", nil, 421},
		{"127.0.0.1:8080", nil, short + ".local", "GET", nil, 421}, // the machine's names only on every address
		{"127.0.0.1:8080", []string{"Mqflux.Example.com"}, "mqflux.example.com:443", "GET", nil, 200},
		{"0.0.0.0:8080", nil, hostname + ":8080", "GET", nil, 200},
		{"0.0.0.0:8080", nil, short + ".local:8080", "GET", nil, 200},
		{"0.0.0.0:8080", nil, "localhost:8080", "GET", nil, 200},
		{"0.0.0.0:8080", nil, "192.168.7.7:8080", "GET", nil, 200}, // an address cannot be re-pointed
		{"0.0.0.0:8080", nil, "evil.example", "GET", nil, 421},
		{":8080", nil, hostname, "GET", nil, 200},
		{"192.168.1.20:8080", nil, "pi.lan:8080", "GET", nil, 421},
		{"192.168.1.20:8080", []string{"pi.lan"}, "pi.lan:8080", "GET", nil, 200},
		{"pi.lan:8080", nil, "pi.lan:8080", "GET", nil, 200},
		// Cross-origin: state changes from another origin, on any address.
		{"127.0.0.1:8080", nil, "127.0.0.1:8080", "POST", map[string]string{"Origin": "http://evil.example"}, 403},
		{"127.0.0.1:8080", nil, "127.0.0.1:8080", "DELETE", map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{"127.0.0.1:8080", nil, "127.0.0.1:8080", "PUT", map[string]string{"Sec-Fetch-Site": "same-site"}, 403},
		{"0.0.0.0:8080", nil, "10.0.0.5:8080", "PATCH", map[string]string{"Origin": "http://10.0.0.6:8080"}, 403},
		{"127.0.0.1:8080", nil, "127.0.0.1:8080", "POST", map[string]string{"Origin": "http://127.0.0.1:8080"}, 200},
		{"127.0.0.1:8080", nil, "127.0.0.1:8080", "POST", map[string]string{"Sec-Fetch-Site": "same-origin"}, 200},
		{"127.0.0.1:8080", nil, "127.0.0.1:8080", "POST", nil, 200}, // a logger, curl: no browser
		{"127.0.0.1:8080", nil, "127.0.0.1:8080", "GET", map[string]string{"Origin": "http://evil.example"}, 200},
	} {
		g := newHostGuard(HTTP{Address: tc.address, AllowedHosts: tc.allowed}, slog.New(slog.DiscardHandler), prometheus.NewRegistry(), nil)
		h := g.wrap(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
		req := httptest.NewRequest(tc.method, "/v1/deadletter/replay", nil)
		req.Host = tc.host
		for k, v := range tc.header {
			req.Header.Set(k, v)
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != tc.want {
			t.Errorf("address %s allowed %v: %s with Host %q %v: %d %s; want %d", tc.address, tc.allowed, tc.method, tc.host, tc.header, rec.Code, rec.Body, tc.want)
		}
	}
}

func TestValidHostName(t *testing.T) {
	for s, want := range map[string]bool{
		"mqflux.example.com": true, "pi": true, "pi.lan.": true, "192.168.1.20": true, "::1": true, "[::1]": true, "my_host": true,
		"": false, "http://mqflux.example.com": false, "mqflux.example.com:8080": false, "mqflux.example.com/": false,
		"*.example.com": false, "-pi": false, "a..b": false,
	} {
		if got := validHostName(s); got != want {
			t.Errorf("validHostName(%q) = %v, want %v", s, got, want)
		}
	}
}
