package server

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mqflux/mqflux/broker"
	"github.com/mqflux/mqflux/internal/configfile"
	"github.com/mqflux/mqflux/passwd"
)

// readGate guards what the HTTP side shows of the readings and of the
// server: /metrics, /v1/latest, /v1/stream and the console's data. On
// loopback they stay open, as `make run` and a proxy in front expect.
// Beyond it they answer only the broker's reader and admin users, with HTTP
// basic auth or the console's session cookie (POST /login): an unfiltered
// /v1/latest is every device's every value, and /metrics names devices and
// users.
//
// Passwords are checked by the server's one passwd.Checker, the way the
// broker checks a CONNECT: an unknown user costs the same bcrypt as a wrong
// password, and an address that keeps failing is refused for a while
// without any, whichever of broker, legacy API or these endpoints it tries.
type readGate struct {
	open    bool
	users   map[string]broker.User
	checker *passwd.Checker
	log     *slog.Logger
	denied  *prometheus.CounterVec // {endpoint, reason}
	// sessions are the console's logins beyond loopback.
	sessions *sessions
}

// realm is what a 401 asks credentials for.
const realm = `Basic realm="mqflux"`

// backoffRetryAfter is the Retry-After (seconds) of a request refused
// because its address keeps failing, or because too many checks wait.
const backoffRetryAfter = "5"

func newReadGate(cfg Config, checker *passwd.Checker, log *slog.Logger) *readGate {
	g := &readGate{
		open:     configfile.IsLoopback(cfg.HTTP.Address),
		users:    make(map[string]broker.User, len(cfg.Broker.Users)),
		checker:  checker,
		log:      log,
		sessions: newSessions(),
		denied: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mqflux_http_denied_total",
			Help: "Requests to /metrics, /v1/latest and /v1/stream refused, by endpoint and reason: " +
				"no_credentials, unknown_user, bad_password, backoff, busy, role, max_stream_clients.",
		}, []string{"endpoint", "reason"}),
	}
	readers := 0
	for _, u := range cfg.Broker.Users {
		g.users[u.Name] = u
		if mayRead(u) {
			readers++
		}
	}
	if !g.open && readers == 0 {
		log.Warn("http.address is beyond loopback and no broker user has role reader or admin: "+
			"/metrics, /v1/latest and /v1/stream will refuse everyone", "http", cfg.HTTP.Address)
	}
	return g
}

func mayRead(u broker.User) bool { return u.Role == broker.RoleReader || u.Role == broker.RoleAdmin }

// Collectors are the gate's metrics.
func (g *readGate) Collectors() []prometheus.Collector { return []prometheus.Collector{g.denied} }

// guard serves next only to a reader or an admin, unless the gate is open.
func (g *readGate) guard(endpoint string, next http.Handler) http.Handler {
	if g.open {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ref := g.check(r); ref != nil {
			g.refuse(w, r, endpoint, ref)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// refusal is why a request is not served: the status, a stable reason (the
// metric's label) and a detail for people.
type refusal struct {
	status int
	reason string
	detail string
}

func (g *readGate) check(r *http.Request) *refusal {
	name, password, ok := r.BasicAuth()
	if !ok || name == "" {
		if _, _, ok := g.sessions.of(r); ok {
			return nil
		}
		return &refusal{http.StatusUnauthorized, "no_credentials", "log in as a reader or admin user of the broker (HTTP basic auth or the console's login)"}
	}
	return g.login(r, name, password)
}

// login checks a user name and password, with the per-address backoff and
// the bound on concurrent checks; nil when the user may read.
func (g *readGate) login(r *http.Request, name, password string) *refusal {
	if err := g.checker.Admit(r.RemoteAddr); err != nil {
		return &refusal{http.StatusUnauthorized, "backoff", err.Error()}
	}
	u, known := g.users[name]
	var err error
	if known {
		err = g.checker.VerifyFrom(r.RemoteAddr, u.PasswordHash, []byte(password))
	} else {
		err = g.checker.RefuseFrom(r.RemoteAddr, []byte(password))
	}
	switch {
	case errors.Is(err, passwd.ErrBusy):
		// Counts toward the address's backoff, as a failure does.
		g.checker.Record(r.RemoteAddr, false)
		return &refusal{http.StatusServiceUnavailable, "busy", err.Error()}
	case !known:
		g.checker.Record(r.RemoteAddr, false)
		return &refusal{http.StatusUnauthorized, "unknown_user", "wrong user name or password"}
	case err != nil:
		g.checker.Record(r.RemoteAddr, false)
		return &refusal{http.StatusUnauthorized, "bad_password", "wrong user name or password"}
	}
	g.checker.Record(r.RemoteAddr, true)
	if !mayRead(u) {
		return &refusal{http.StatusForbidden, "role", "user " + name + " has role " + u.Role + "; reading needs reader or admin"}
	}
	return nil
}

// refuse answers, counts and logs a refusal. A request without credentials
// is how every browser and most clients begin, so it is logged only at
// debug level.
func (g *readGate) refuse(w http.ResponseWriter, r *http.Request, endpoint string, ref *refusal) {
	g.denied.WithLabelValues(endpoint, ref.reason).Inc()
	level := slog.LevelWarn
	if ref.reason == "no_credentials" {
		level = slog.LevelDebug
	}
	user, _, _ := r.BasicAuth()
	g.log.Log(r.Context(), level, "http request refused", "remote", r.RemoteAddr, "endpoint", endpoint,
		"reason", ref.reason, "status", ref.status, "user", user)
	h := w.Header()
	if ref.status == http.StatusUnauthorized {
		h.Set("WWW-Authenticate", realm)
	}
	if (ref.reason == "backoff" || ref.reason == "busy") && h.Get("Retry-After") == "" {
		h.Set("Retry-After", backoffRetryAfter)
	}
	writeJSON(w, ref.status, struct {
		Error string `json:"error"`
	}{ref.detail})
}
