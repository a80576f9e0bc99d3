package broker

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mqflux/mqflux/config"
	"github.com/mqflux/mqflux/passwd"
)

// authHook lets in the configured users and allows each role only what
// DESIGN.md grants it; whatever no rule allows is denied. It replaces
// mochi's Ledger, which allows what no rule matches and keeps passwords in
// plain text.
type authHook struct {
	mqtt.HookBase
	users   map[string]config.User
	checker *passwd.Checker
	log     *slog.Logger
	denied  *prometheus.CounterVec // {what="connect"|"publish"|"subscribe", reason}
}

func newAuthHook(users []config.User, checker *passwd.Checker, log *slog.Logger, denied *prometheus.CounterVec) *authHook {
	m := make(map[string]config.User, len(users))
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

// OnConnectAuthenticate checks the user's password. An unknown user name
// costs the same bcrypt as a wrong password, so the time of the refusal
// does not tell which names exist; an address that keeps failing is
// refused for a while without any bcrypt (see passwd.Checker).
func (h *authHook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	name := string(pk.Connect.Username)
	if name == "" {
		h.deny("connect", "no_username", cl, "connection without a user name refused")
		return false
	}
	if err := h.checker.Admit(cl.Net.Remote); err != nil {
		h.deny("connect", "backoff", cl, "login refused: too many failures from this address", "user", name)
		return false
	}
	u, known := h.users[name]
	var err error
	if known {
		err = h.checker.Verify(u.PasswordHash, pk.Connect.Password)
	} else {
		err = h.checker.Refuse(pk.Connect.Password)
	}
	switch {
	case errors.Is(err, passwd.ErrBusy):
		h.deny("connect", "busy", cl, "login refused: too many password checks waiting", "user", name)
		return false
	case !known:
		h.checker.Record(cl.Net.Remote, false)
		h.deny("connect", "unknown_user", cl, "unknown user refused", "user", name)
		return false
	case err != nil:
		h.checker.Record(cl.Net.Remote, false)
		h.deny("connect", "bad_password", cl, "wrong password", "user", name)
		return false
	}
	h.checker.Record(cl.Net.Remote, true)
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
func allowed(u config.User, topic string, write bool) bool {
	if u.Role == config.RoleAdmin {
		return true
	}
	if strings.HasPrefix(topic, "$") {
		return false // $SYS and $share are for admins; shared subscriptions below
	}
	switch u.Role {
	case config.RoleDevice:
		own := "devices/" + u.Name + "/"
		// A device may also subscribe to its own subtree (commands, its
		// own retained status), never to another's.
		return strings.HasPrefix(topic, own) && !hasWildcardBefore(topic, len(own))
	case config.RoleGateway:
		return write && strings.HasPrefix(topic, "devices/")
	case config.RoleReader:
		return !write && (topic == "devices/#" || strings.HasPrefix(topic, "devices/"))
	}
	return false
}

// hasWildcardBefore reports a + or # inside the first n bytes, where a
// filter like devices/+/ would otherwise pass a prefix check.
func hasWildcardBefore(topic string, n int) bool {
	return bytes.ContainsAny([]byte(topic[:n]), "+#")
}
