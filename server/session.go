package server

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/mqflux/mqflux/server/console"
)

// sessionCookie names the console's session cookie.
const sessionCookie = "mqflux_session"

// sessionLifetime is how long a console login lasts.
const sessionLifetime = 12 * time.Hour

// maxSessions bounds the sessions held at once; past it the oldest go.
const maxSessions = 1000

// session is one console login: the user, and the token a form that
// changes state must carry (the cookie alone, sent by the browser on any
// request, proves nothing about who made the form).
type session struct {
	user    string
	csrf    string
	expires time.Time
}

// sessions are the console's logins, kept in memory: a restart logs
// everyone out, which a console can afford.
type sessions struct {
	mu sync.Mutex
	m  map[string]session
}

func newSessions() *sessions { return &sessions{m: map[string]session{}} }

func token() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (s *sessions) start(user string) (string, session) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	for k, v := range s.m {
		if now.After(v.expires) || len(s.m) >= maxSessions {
			delete(s.m, k)
		}
	}
	id, ses := token(), session{user: user, csrf: token(), expires: now.Add(sessionLifetime)}
	s.m[id] = ses
	return id, ses
}

// of returns the live session of r's cookie.
func (s *sessions) of(r *http.Request) (string, session, bool) {
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return "", session{}, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ses, ok := s.m[c.Value]
	if !ok || time.Now().After(ses.expires) {
		delete(s.m, c.Value)
		return "", session{}, false
	}
	return c.Value, ses, true
}

func (s *sessions) end(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.m, id)
}

// sameOrigin refuses a form posted from another site: browsers send Origin
// on every POST, and a request without it comes from no browser page.
func sameOrigin(r *http.Request) bool {
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	u, err := url.Parse(o)
	return err == nil && u.Host == r.Host
}

func setCookie(w http.ResponseWriter, r *http.Request, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: sessionCookie, Value: value, Path: "/", MaxAge: maxAge,
		HttpOnly: true, SameSite: http.SameSiteStrictMode, Secure: r.TLS != nil})
}

// getConsole serves the console, or beyond loopback without a session
// sends the browser to the login form.
func (g *readGate) getConsole(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" {
		http.NotFound(w, r)
		return
	}
	if !g.open {
		if _, _, ok := g.sessions.of(r); !ok {
			http.Redirect(w, r, "login", http.StatusSeeOther)
			return
		}
	}
	console.Index(w, r)
}

func (g *readGate) getLogin(w http.ResponseWriter, _ *http.Request) {
	console.Login(w, http.StatusOK, "", "")
}

// postLogin checks the form's user with the same checker, backoff and
// refusal counters as basic auth, and starts a session.
func (g *readGate) postLogin(w http.ResponseWriter, r *http.Request) {
	if !sameOrigin(r) {
		writeError(w, http.StatusForbidden, "cross-site login refused")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	user, password := r.PostFormValue("username"), r.PostFormValue("password")
	u, ref := g.login(r, user, password)
	if ref == nil {
		ref = g.allow(u, roleReader)
	}
	if ref != nil {
		g.refuse(discard{http.Header{}}, r, "/login", ref)
		code := ref.status
		if ref.retryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(ref.retryAfter))
		}
		// The form answers a user without the console's role as it
		// answers a wrong password: log in as another user.
		if code == http.StatusForbidden {
			code = http.StatusUnauthorized
		}
		console.Login(w, code, user, ref.detail)
		return
	}
	id, _ := g.sessions.start(user)
	setCookie(w, r, id, int(sessionLifetime/time.Second))
	http.Redirect(w, r, "./", http.StatusSeeOther)
}

func (g *readGate) postLogout(w http.ResponseWriter, r *http.Request) {
	id, ses, ok := g.sessions.of(r)
	r.Body = http.MaxBytesReader(w, r.Body, 8<<10)
	if !ok || !sameOrigin(r) || subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(ses.csrf)) != 1 {
		writeError(w, http.StatusForbidden, "missing or wrong CSRF token")
		return
	}
	g.sessions.end(id)
	setCookie(w, r, "", -1)
	http.Redirect(w, r, "login", http.StatusSeeOther)
}

// getSession tells the console who is logged in and the CSRF token its
// logout form carries; on loopback there is no login.
func (g *readGate) getSession(w http.ResponseWriter, r *http.Request) {
	type answer struct {
		User string `json:"user,omitempty"`
		CSRF string `json:"csrf,omitempty"`
		Open bool   `json:"open"`
	}
	if g.open {
		writeJSON(w, http.StatusOK, answer{Open: true})
		return
	}
	_, ses, ok := g.sessions.of(r)
	if !ok {
		// Basic auth got here through the gate: no form to protect.
		name, _, _ := r.BasicAuth()
		writeJSON(w, http.StatusOK, answer{User: name})
		return
	}
	writeJSON(w, http.StatusOK, answer{User: ses.user, CSRF: ses.csrf})
}

// discard lets refuse count and log a refusal while the login form, not
// refuse's JSON, answers it.
type discard struct{ h http.Header }

func (d discard) Header() http.Header       { return d.h }
func (discard) Write(p []byte) (int, error) { return len(p), nil }
func (discard) WriteHeader(int)             {}

// consoleRoutes adds the console's page, its files, the login form and
// the session to mux; the data it shows comes from the routes beside them.
func (g *readGate) consoleRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", g.getConsole)
	mux.Handle("GET /assets/", console.Assets())
	mux.HandleFunc("GET /login", g.getLogin)
	mux.HandleFunc("POST /login", g.postLogin)
	mux.HandleFunc("POST /logout", g.postLogout)
	mux.Handle("GET /v1/session", g.guard("/v1/session", http.HandlerFunc(g.getSession)))
}
