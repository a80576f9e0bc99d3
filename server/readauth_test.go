package server

import (
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"golang.org/x/crypto/bcrypt"

	"github.com/mqflux/mqflux/broker"
	"github.com/mqflux/mqflux/passwd"
)

func gateFor(t *testing.T, address string) *readGate {
	t.Helper()
	cfg := DefaultConfig()
	cfg.HTTP.Address = address
	cfg.Broker.Users = nil
	for name, role := range map[string]string{"r": broker.RoleReader, "a": broker.RoleAdmin, "d": broker.RoleDevice, "g": broker.RoleGateway} {
		h, err := passwd.Hash([]byte(name+"-password"), bcrypt.MinCost)
		if err != nil {
			t.Fatal(err)
		}
		cfg.Broker.Users = append(cfg.Broker.Users, broker.User{Name: name, PasswordHash: h, Role: role})
	}
	return newReadGate(cfg, passwd.NewChecker(), slog.New(slog.NewTextHandler(io.Discard, nil)))
}

func TestReadGate(t *testing.T) {
	served := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	for _, tc := range []struct {
		name, address  string
		user, password string
		noAuth         bool
		want           int
		reason         string // counted in mqflux_http_denied_total
	}{
		{name: "loopback is open", address: "127.0.0.1:8080", noAuth: true, want: http.StatusOK},
		{name: "localhost is open", address: "localhost:8080", noAuth: true, want: http.StatusOK},
		{name: "no credentials", address: ":8080", noAuth: true, want: http.StatusUnauthorized, reason: "no_credentials"},
		{name: "empty user", address: ":8080", password: "x", want: http.StatusUnauthorized, reason: "no_credentials"},
		{name: "unknown user", address: ":8080", user: "nobody", password: "r-password", want: http.StatusUnauthorized, reason: "unknown_user"},
		{name: "wrong password", address: "0.0.0.0:8080", user: "r", password: "a-password", want: http.StatusUnauthorized, reason: "bad_password"},
		{name: "device", address: "0.0.0.0:8080", user: "d", password: "d-password", want: http.StatusForbidden, reason: "role"},
		{name: "gateway", address: "0.0.0.0:8080", user: "g", password: "g-password", want: http.StatusForbidden, reason: "role"},
		{name: "reader", address: "192.0.2.1:8080", user: "r", password: "r-password", want: http.StatusOK},
		{name: "admin", address: "[::]:8080", user: "a", password: "a-password", want: http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := gateFor(t, tc.address)
			req := httptest.NewRequest(http.MethodGet, "/v1/latest", nil)
			if !tc.noAuth {
				req.SetBasicAuth(tc.user, tc.password)
			}
			rec := httptest.NewRecorder()
			g.guard("/v1/latest", served).ServeHTTP(rec, req)
			if rec.Code != tc.want {
				t.Fatalf("status %d, want %d (%s)", rec.Code, tc.want, rec.Body)
			}
			if got := rec.Header().Get("WWW-Authenticate"); (tc.want == http.StatusUnauthorized) != (got == `Basic realm="mqflux"`) {
				t.Errorf("WWW-Authenticate %q with status %d", got, rec.Code)
			}
			if tc.reason != "" {
				if n := testutil.ToFloat64(g.denied.WithLabelValues("/v1/latest", tc.reason)); n != 1 {
					t.Errorf("denied{reason=%q} = %v, want 1", tc.reason, n)
				}
			}
		})
	}
}

// An address that keeps failing is refused without a check, even with the
// right password, while other addresses are served.
func TestReadGateBacksOff(t *testing.T) {
	g := gateFor(t, ":8080")
	get := metricsGetter(g)
	for range 10 {
		get("192.0.2.9:4000", "wrong-password")
	}
	rec := get("192.0.2.9:4001", "r-password")
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") == "" {
		t.Errorf("the right password from a failing address: %d, Retry-After %q; want 429 with Retry-After", rec.Code, rec.Header().Get("Retry-After"))
	}
	if n := testutil.ToFloat64(g.denied.WithLabelValues("/metrics", "backoff")); n == 0 {
		t.Error("no refusal counted as backoff")
	}
	if rec := get("192.0.2.10:4000", "r-password"); rec.Code != http.StatusOK {
		t.Errorf("another address: %d, want 200", rec.Code)
	}
}

// Each login outcome has one HTTP answer, the same on every guarded route
// and the login form: waiting helps (429 with Retry-After) or another
// login does (401).
func TestLoginRefusal(t *testing.T) {
	for _, tc := range []struct {
		out        passwd.Outcome
		status     int
		reason     string
		retryAfter int
	}{
		{passwd.Outcome{Result: passwd.NoUser}, http.StatusUnauthorized, "no_credentials", 0},
		{passwd.Outcome{Result: passwd.Unknown}, http.StatusUnauthorized, "unknown_user", 0},
		{passwd.Outcome{Result: passwd.BadSecret}, http.StatusUnauthorized, "bad_password", 0},
		{passwd.Outcome{Result: passwd.Backoff, RetryAfter: 3500 * time.Millisecond}, http.StatusTooManyRequests, "backoff", 4},
		{passwd.Outcome{Result: passwd.Backoff, RetryAfter: time.Millisecond}, http.StatusTooManyRequests, "backoff", 1},
		{passwd.Outcome{Result: passwd.Busy, RetryAfter: passwd.BusyRetryAfter}, http.StatusTooManyRequests, "busy", 5},
	} {
		ref := loginRefusal(tc.out)
		if ref.status != tc.status || ref.reason != tc.reason || ref.retryAfter != tc.retryAfter {
			t.Errorf("%+v: %d %s Retry-After %d, want %d %s %d", tc.out, ref.status, ref.reason, ref.retryAfter, tc.status, tc.reason, tc.retryAfter)
		}
		rec := httptest.NewRecorder()
		gateFor(t, ":8080").refuse(rec, httptest.NewRequest(http.MethodGet, "/v1/latest", nil), "/v1/latest", ref)
		if got, want := rec.Header().Get("Retry-After") != "", tc.retryAfter > 0; rec.Code != tc.status || got != want {
			t.Errorf("%+v answered %d, Retry-After %q", tc.out, rec.Code, rec.Header().Get("Retry-After"))
		}
	}
}

// A route guarded for admins takes an admin's console session and refuses
// a reader's with 403; a session ends with its user.
func TestGuardAsTakesSessions(t *testing.T) {
	g := gateFor(t, ":8080")
	served := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	for _, tc := range []struct {
		user string
		want int
	}{{"a", http.StatusOK}, {"r", http.StatusForbidden}, {"gone", http.StatusUnauthorized}} {
		id, _ := g.sessions.start(tc.user)
		req := httptest.NewRequest(http.MethodPost, "/v1/deadletter/replay", nil)
		req.AddCookie(&http.Cookie{Name: sessionCookie, Value: id})
		rec := httptest.NewRecorder()
		g.guardAs(roleAdmin, "/v1/deadletter/replay", served).ServeHTTP(rec, req)
		if rec.Code != tc.want {
			t.Errorf("session of %q: %d, want %d", tc.user, rec.Code, tc.want)
		}
	}
}

// metricsGetter asks g's guard of /metrics as user "r" with password from
// remote, behind it a handler that answers 200.
func metricsGetter(g *readGate) func(remote, password string) *httptest.ResponseRecorder {
	served := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
	return func(remote, password string) *httptest.ResponseRecorder {
		req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
		req.RemoteAddr = remote
		req.SetBasicAuth("r", password)
		rec := httptest.NewRecorder()
		g.guard("/metrics", served).ServeHTTP(rec, req)
		return rec
	}
}
