package server

import (
	"log/slog"
	"net/http"
	"strconv"

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
	// tarpit holds a login from an address in backoff before its 429;
	// nil: answered at once.
	tarpit passwd.Tarpit
}

// realm is what a 401 asks credentials for.
const realm = `Basic realm="mqflux"`

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

// role is what a route needs of its user beyond loopback; routes.go names
// one for each guarded route.
type role struct {
	name   string // for the 403's detail
	allows func(u broker.User) bool
}

var (
	// roleReader reads: a reader or an admin.
	roleReader = role{"reader or admin", mayRead}
	// roleAdmin changes what is stored, a dead-letter replay: an admin.
	roleAdmin = role{"admin", func(u broker.User) bool { return u.Role == broker.RoleAdmin }}
)

func mayRead(u broker.User) bool { return u.Role == broker.RoleReader || u.Role == broker.RoleAdmin }

// Collectors are the gate's metrics.
func (g *readGate) Collectors() []prometheus.Collector { return []prometheus.Collector{g.denied} }

// guard serves next only to a reader or an admin, unless the gate is open;
// it is guardAs(roleReader, ...), the guard of every route that reads.
func (g *readGate) guard(endpoint string, next http.Handler) http.Handler {
	return g.guardAs(roleReader, endpoint, next)
}

// guardAs serves next only to a user with the role need, logged in with
// HTTP basic auth or the console's session cookie, unless the gate is
// open. The Host and cross-origin checks (hostGuard) stand in front of
// every route, so a page of another site cannot use the browser's cookie.
func (g *readGate) guardAs(need role, endpoint string, next http.Handler) http.Handler {
	if g.open {
		return next
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if ref := g.check(r, need); ref != nil {
			g.refuse(w, r, endpoint, ref)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// refusal is why a request is not served: the status, a stable reason (the
// metric's label), a detail for people, and the Retry-After (seconds) of a
// refusal that passes with time.
type refusal struct {
	status     int
	reason     string
	detail     string
	retryAfter int
}

// check returns why r may not be served on a route that needs need; nil
// when it may. Basic auth, when sent, is what counts; without it, the
// console's session.
func (g *readGate) check(r *http.Request, need role) *refusal {
	name, password, ok := r.BasicAuth()
	if !ok || name == "" {
		_, ses, ok := g.sessions.of(r)
		if !ok {
			return loginRefusal(passwd.Outcome{Result: passwd.NoUser})
		}
		return g.allow(g.users[ses.user], need)
	}
	u, ref := g.login(r, name, password)
	if ref != nil {
		return ref
	}
	return g.allow(u, need)
}

// login checks a user name and password through the server's one login
// path (passwd.Checker.Login); the user, or why not.
func (g *readGate) login(r *http.Request, name, password string) (broker.User, *refusal) {
	u, known := g.users[name]
	out := g.checker.Login(r.RemoteAddr, name != "", g.checker.Hashed(r.RemoteAddr, u.PasswordHash, known, []byte(password)), []byte(password))
	out = g.checker.HoldBackoff(r.Context(), g.tarpit, r.RemoteAddr, tarpitListener, out)
	if out.Refused() {
		return broker.User{}, loginRefusal(out)
	}
	return u, nil
}

// allow refuses a logged-in user without the role a route needs.
func (g *readGate) allow(u broker.User, need role) *refusal {
	if u.Name == "" {
		// A session whose user is no longer configured.
		return loginRefusal(passwd.Outcome{Result: passwd.NoUser})
	}
	if !need.allows(u) {
		return &refusal{status: http.StatusForbidden, reason: "role",
			detail: "user " + u.Name + " has role " + u.Role + "; this needs " + need.name}
	}
	return nil
}

// loginRefusal is the one HTTP answer to each refused login, the same on
// every guarded route and the console's login form: a missing, unknown or
// wrong login is 401; an address backed off for its failures, or a check
// refused because too many wait, is 429 with Retry-After, since waiting,
// not another password, is what helps.
func loginRefusal(out passwd.Outcome) *refusal {
	switch out.Result {
	case passwd.NoUser:
		return &refusal{status: http.StatusUnauthorized, reason: "no_credentials",
			detail: "log in as a reader or admin user of the broker (HTTP basic auth or the console's login)"}
	case passwd.Backoff:
		return &refusal{status: http.StatusTooManyRequests, reason: "backoff",
			detail: passwd.ErrBackoff.Error(), retryAfter: out.RetryAfterSeconds()}
	case passwd.Busy:
		return &refusal{status: http.StatusTooManyRequests, reason: "busy",
			detail: passwd.ErrBusy.Error(), retryAfter: out.RetryAfterSeconds()}
	case passwd.Unknown:
		return &refusal{status: http.StatusUnauthorized, reason: "unknown_user", detail: "wrong user name or password"}
	}
	return &refusal{status: http.StatusUnauthorized, reason: "bad_password", detail: "wrong user name or password"}
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
	if ref.retryAfter > 0 && h.Get("Retry-After") == "" {
		h.Set("Retry-After", strconv.Itoa(ref.retryAfter))
	}
	writeError(w, ref.status, ref.detail)
}

// who names the user a request that passed its guard came as, for the
// log: the basic-auth user (checked by the guard) or the console
// session's. On loopback the routes are open and no one logs in.
func (g *readGate) who(r *http.Request) string {
	if g.open {
		return "(loopback, no login)"
	}
	if name, _, ok := r.BasicAuth(); ok && name != "" {
		return name
	}
	if _, ses, ok := g.sessions.of(r); ok {
		return ses.user
	}
	return ""
}
