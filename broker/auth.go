package broker

import (
	"bytes"
	"log/slog"
	"strings"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mqflux/mqflux/passwd"
)

// authHook lets in the configured users and allows each role only what
// DESIGN.md grants it; whatever no rule allows is denied. It replaces
// mochi's Ledger, which allows what no rule matches and keeps passwords in
// plain text.
type authHook struct {
	mqtt.HookBase
	users   map[string]User
	checker *passwd.Checker
	log     *slog.Logger
	denied  *prometheus.CounterVec // {what="connect"|"publish"|"subscribe", reason}
}

func newAuthHook(users []User, checker *passwd.Checker, log *slog.Logger, denied *prometheus.CounterVec) *authHook {
	m := make(map[string]User, len(users))
	for _, u := range users {
		m[u.Name] = u
	}
	return &authHook{users: m, checker: checker, log: log, denied: denied}
}

func (h *authHook) ID() string { return "mqflux-auth" }

func (h *authHook) Provides(b byte) bool {
	return b == mqtt.OnConnectAuthenticate || b == mqtt.OnACLCheck || b == mqtt.OnSubscribed
}

// OnSubscribed logs each granted subscription at debug level: with it an
// operator (and a test) can see that a subscriber is in place.
func (h *authHook) OnSubscribed(cl *mqtt.Client, pk packets.Packet, reasonCodes []byte) {
	for i, f := range pk.Filters {
		if i < len(reasonCodes) && reasonCodes[i] < 0x80 {
			h.log.Debug("subscribed", "user", string(cl.Properties.Username), "client_id", cl.ID, "filter", f.Filter, "qos", reasonCodes[i])
		}
	}
}

func (h *authHook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	name := string(pk.Connect.Username)
	u, ok := h.users[name]
	switch {
	case name == "":
		h.deny("connect", "no_username", cl, "connection without a user name refused")
		return false
	case !ok:
		h.deny("connect", "unknown_user", cl, "unknown user refused", "user", name)
		return false
	case !h.checker.Check(u.PasswordHash, pk.Connect.Password):
		h.deny("connect", "bad_password", cl, "wrong password", "user", name)
		return false
	}
	return true
}

func (h *authHook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	u, ok := h.users[string(cl.Properties.Username)]
	if ok && allowed(u, topic, write) {
		return true
	}
	what := "subscribe"
	if write {
		what = "publish"
	}
	h.deny(what, "acl", cl, what+" denied by role", "user", string(cl.Properties.Username), "role", u.Role, "topic", topic)
	return false
}

func (h *authHook) deny(what, reason string, cl *mqtt.Client, msg string, args ...any) {
	h.denied.WithLabelValues(what, reason).Inc()
	h.log.Warn(msg, append([]any{"remote", cl.Net.Remote, "client_id", cl.ID, "reason", reason}, args...)...)
}

// allowed is the role table of DESIGN.md. topic is a topic name for a
// publish and a topic filter for a subscribe.
func allowed(u User, topic string, write bool) bool {
	if u.Role == RoleAdmin {
		return true
	}
	if strings.HasPrefix(topic, "$") {
		return false // $SYS and $share are for admins; shared subscriptions below
	}
	switch u.Role {
	case RoleDevice:
		own := "devices/" + u.Name + "/"
		// A device may also subscribe to its own subtree (commands, its
		// own retained status), never to another's.
		return strings.HasPrefix(topic, own) && !hasWildcardBefore(topic, len(own))
	case RoleGateway:
		return write && strings.HasPrefix(topic, "devices/")
	case RoleReader:
		return !write && (topic == "devices/#" || strings.HasPrefix(topic, "devices/"))
	}
	return false
}

// hasWildcardBefore reports a + or # inside the first n bytes, where a
// filter like devices/+/ would otherwise pass a prefix check.
func hasWildcardBefore(topic string, n int) bool {
	return bytes.ContainsAny([]byte(topic[:n]), "+#")
}
