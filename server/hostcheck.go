package server

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mqflux/mqflux/internal/loglimit"
)

// Browsers make any page a client of a server on loopback or the LAN: a
// page of evil.example whose name the attacker re-points at 127.0.0.1 (DNS
// rebinding) reads what the server answers, with the page's Host; a form or
// fetch of any page can POST to it (CSRF). Loopback being open to every
// local process does not make it open to every web page. Two checks stand
// in front of every route: the Host must be a name of this server, and a
// browser request that changes something must come from the server's own
// origin.

// hostGuard refuses requests whose Host is not a name of this server, and
// cross-origin browser requests that change state.
type hostGuard struct {
	names  map[string]bool // lower case, no port, no trailing dot
	cross  *http.CrossOriginProtection
	exempt func(*http.Request) bool // routes outside the Host check
	// logs writes the first refusal per address and reason a minute: a
	// page hammering the server would otherwise write a line a request.
	logs *loglimit.Limiter
	// refused counts refusals by reason: host, cross_origin.
	refused *prometheus.CounterVec
}

// newHostGuard, registering its counter in reg, takes the names of
// http.address's host, loopback's names when it is loopback, the machine's
// names when it is every address, and http.allowed_hosts. exempt, if not nil, picks requests the
// Host check lets through (the cross-origin check still applies).
func newHostGuard(cfg HTTP, log *slog.Logger, reg prometheus.Registerer, exempt func(*http.Request) bool) *hostGuard {
	g := &hostGuard{names: map[string]bool{}, cross: http.NewCrossOriginProtection(), exempt: exempt, logs: loglimit.New(log),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "mqflux_http_refused_total",
			Help: "HTTP requests refused before any route, by reason: host (the Host header is not a name of this server, " +
				"see http.allowed_hosts), cross_origin (a browser request from another site that would change state).",
		}, []string{"reason"})}
	reg.MustRegister(g.refused)
	host, _, err := net.SplitHostPort(cfg.Address)
	if err != nil {
		host = cfg.Address
	}
	add := func(names ...string) {
		for _, n := range names {
			if n = normalHost(n); n != "" {
				g.names[n] = true
			}
		}
	}
	add(host)
	ip := net.ParseIP(host)
	switch {
	case host == "" || ip != nil && ip.IsUnspecified():
		add(machineNames()...)
		add("localhost", "127.0.0.1", "::1")
	case host == "localhost" || ip != nil && ip.IsLoopback():
		add("localhost", "127.0.0.1", "::1")
	}
	add(cfg.AllowedHosts...)
	return g
}

// machineNames are the host name and its mDNS .local name, how a
// Raspberry Pi is often reached.
func machineNames() []string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return nil
	}
	return []string{h, strings.SplitN(h, ".", 2)[0] + ".local"}
}

// normalHost is a Host header's or a configured name's host part, lower
// case, without port, brackets or trailing dot.
func normalHost(h string) string {
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	h = strings.TrimSuffix(strings.Trim(h, "[]"), ".")
	if ip := net.ParseIP(h); ip != nil {
		return ip.String()
	}
	return strings.ToLower(h)
}

// allowed reports whether r's Host names this server. No Host (HTTP/1.0)
// comes from no browser. Any address literal passes: a browser sends one
// only to that very address, and an address cannot be re-pointed as a
// name can (behind NAT, a container's port mapping or a load balancer, the
// address the client used is not one of this machine's).
func (g *hostGuard) allowed(r *http.Request) bool {
	h := normalHost(r.Host)
	return h == "" || g.names[h] || net.ParseIP(h) != nil
}

// wrap puts both checks in front of next.
func (g *hostGuard) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !g.allowed(r) && (g.exempt == nil || !g.exempt(r)) {
			g.refused.WithLabelValues("host").Inc()
			g.logs.Warn(remoteHost(r)+" host", "http request refused: Host is not a name of this server", "remote", r.RemoteAddr,
				"host", r.Host, "path", r.URL.Path, "key", "http.allowed_hosts")
			writeError(w, http.StatusMisdirectedRequest, fmt.Sprintf(
				"Host %q is not a name of this server; if it is (a reverse proxy's or a DNS name), add %q to http.allowed_hosts",
				r.Host, normalHost(r.Host)))
			return
		}
		if err := g.cross.Check(r); err != nil {
			g.refused.WithLabelValues("cross_origin").Inc()
			g.logs.Warn(remoteHost(r)+" cross_origin", "http request refused: cross-origin", "remote", r.RemoteAddr, "host", r.Host,
				"origin", r.Header.Get("Origin"), "sec_fetch_site", r.Header.Get("Sec-Fetch-Site"), "method", r.Method, "path", r.URL.Path)
			writeError(w, http.StatusForbidden, fmt.Sprintf(
				"cross-origin %s %s refused (Origin %q, Sec-Fetch-Site %q, Host %q): only pages of this server may change its state; "+
					"send the request without a browser's Origin, or from a page of %s",
				r.Method, r.URL.Path, r.Header.Get("Origin"), r.Header.Get("Sec-Fetch-Site"), r.Host, r.Host))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// validHostName reports whether an http.allowed_hosts entry is a host name
// or an address alone: a port, scheme or path there would never match.
func validHostName(s string) bool {
	if s == "" || len(s) > 253 {
		return false
	}
	if ip := net.ParseIP(strings.Trim(s, "[]")); ip != nil {
		return true
	}
	for _, label := range strings.Split(strings.TrimSuffix(s, "."), ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, c := range []byte(label) {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
				return false
			}
		}
	}
	return true
}

// remoteHost is the address a request came from, without its port.
func remoteHost(r *http.Request) string {
	if h, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
		return h
	}
	return r.RemoteAddr
}
