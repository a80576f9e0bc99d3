package broker

import (
	"log/slog"
	"net"
	"strings"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/mqflux/mqflux/internal/loglimit"
	"github.com/mqflux/mqflux/passwd"
	"github.com/mqflux/mqflux/topic"
)

// authHook lets in the configured users and allows each role only what
// the role table (roles.allowed) grants it; whatever no rule allows is
// denied, a Last Will included, and a client id is its session owner's
// only (see clientOwners). It replaces
// mochi's Ledger, which allows what no rule matches and keeps passwords in
// plain text.
type authHook struct {
	mqtt.HookBase
	users   map[string]User
	checker *passwd.Checker
	roles   roles
	log     *slog.Logger
	// logs writes a refusal's first line per client (or address) and
	// reason per minute: a client repeating a refused packet cannot fill
	// the log, and the metric still counts every refusal.
	logs   *loglimit.Limiter
	denied *tally // {what="connect"|"publish"|"subscribe", reason}
	owners *clientOwners
	// offline bounds the queues of sessions whose client is gone: mochi
	// asks OnACLCheck before it queues each delivery, and it is the only
	// hook that can refuse one. Nil queues without a bound.
	offline *offlineLimit
}

// newAuthHook builds the hook; sessions looks a client id up in mochi's
// client list (mqtt.Server.Clients.Get).
func newAuthHook(users []User, r roles, checker *passwd.Checker, log *slog.Logger, logs *loglimit.Limiter, denied *tally,
	sessions func(id string) (*mqtt.Client, bool)) *authHook {
	m := make(map[string]User, len(users))
	for _, u := range users {
		m[u.Name] = u
	}
	return &authHook{users: m, roles: r, checker: checker, log: log, logs: logs, denied: denied,
		owners: newClientOwners(sessions)}
}

func (h *authHook) ID() string { return "mqflux-auth" }

func (h *authHook) Provides(b byte) bool {
	switch b {
	case mqtt.OnConnectAuthenticate, mqtt.OnACLCheck, mqtt.OnSubscribed, mqtt.OnPacketRead,
		mqtt.OnSessionEstablished, mqtt.OnDisconnect, mqtt.OnClientExpired, mqtt.OnPublished:
		return true
	}
	return false
}

// OnSessionEstablished and OnDisconnect end a connection's claim on its
// client id: mochi lists its session now, or it is gone.
func (h *authHook) OnSessionEstablished(cl *mqtt.Client, _ packets.Packet) {
	h.owners.settle(cl)
	h.offline.ended(cl.ID)
}

func (h *authHook) OnDisconnect(cl *mqtt.Client, _ error, _ bool) {
	h.owners.settle(cl)
	h.offline.disconnected(cl.ID)
}

// OnClientExpired and OnPublished keep the offline queues' accounts: an
// expired session is no longer paused, and a publish counts as dropped for
// the paused sessions it would have been queued for.
func (h *authHook) OnClientExpired(cl *mqtt.Client) { h.offline.ended(cl.ID) }

func (h *authHook) OnPublished(_ *mqtt.Client, pk packets.Packet) { h.offline.published(pk) }

// OnSubscribed logs each granted subscription at debug level: with it an
// operator (and a test) can see that a subscriber is in place.
func (h *authHook) OnSubscribed(cl *mqtt.Client, pk packets.Packet, reasonCodes []byte) {
	for i, f := range pk.Filters {
		if i < len(reasonCodes) && reasonCodes[i] < 0x80 {
			h.log.Debug("subscribed", "user", string(cl.Properties.Username), "client_id", cl.ID, "filter", f.Filter, "qos", reasonCodes[i])
		}
	}
}

// OnConnectAuthenticate logs the user in through the server's one login
// path (passwd.Checker.Login), then checks the CONNECT's will and client id
// (admit). An unknown user name costs the same bcrypt as a wrong password,
// so the time of the refusal does not tell which names exist; an address
// that keeps failing is refused for a while without any bcrypt.
func (h *authHook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	name := string(pk.Connect.Username)
	u, known := h.users[name]
	out := h.checker.Login(cl.Net.Remote, name != "", h.checker.Hashed(cl.Net.Remote, u.PasswordHash, known, pk.Connect.Password), pk.Connect.Password)
	if out.Refused() {
		reason, msg := connectRefusal(out.Result)
		h.refuseLogin(reason, cl, msg, "user", name)
		return false
	}
	return h.admit(cl, pk, u)
}

// connectRefusal maps a refused login to the reason label of
// mqflux_mqtt_denied_total and the log line. mochi answers every refused
// login with the CONNACK "bad user name or password" (v5 0x86, v3 0x04):
// a device cannot act on more, and a finer code would tell a guesser
// which names exist.
func connectRefusal(r passwd.Result) (reason, msg string) {
	switch r {
	case passwd.NoUser:
		return "no_username", "connection without a user name refused"
	case passwd.Backoff:
		return "backoff", "login refused: too many failures from this address"
	case passwd.Busy:
		return "busy", "login refused: too many password checks waiting"
	case passwd.Unknown:
		return "unknown_user", "unknown user refused"
	}
	return "bad_password", "wrong password"
}

func (h *authHook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	u, ok := h.users[string(cl.Properties.Username)]
	if ok && h.roles.allowed(u, topic, write) {
		// A read check with the client gone is a delivery to its session.
		return write || h.offline.admit(cl)
	}
	what := "subscribe"
	if write {
		what = "publish"
	}
	h.deny(what, "acl", cl, what+" denied by role", "user", string(cl.Properties.Username), "role", u.Role, "topic", topic)
	return false
}

// deny counts a refusal and logs it, at most once a minute per client id
// and reason (loglimit); refuseLogin does so per address.
func (h *authHook) deny(what, reason string, cl *mqtt.Client, msg string, args ...any) {
	h.denyAs("client "+cl.ID, what, reason, cl, msg, args...)
}

// refuseLogin is deny for a connection refused before its login
// succeeded: its client id is whatever it claims, so its log lines are
// limited by address.
func (h *authHook) refuseLogin(reason string, cl *mqtt.Client, msg string, args ...any) {
	h.denyAs("address "+remoteHost(cl.Net.Remote), "connect", reason, cl, msg, args...)
}

// refuseRemote is refuseLogin for a connection refused before mochi saw
// it (the tarpit): all there is of it is its address.
func (h *authHook) refuseRemote(remote, reason string) {
	msg := "login refused: too many failures from this address"
	if reason == reasonTarpitFull {
		msg = "connection closed: too many connections held from this address, or in all"
	}
	h.denied.add(1, "connect", reason)
	h.logs.Warn("connect "+reason+" address "+remoteHost(remote), msg, "remote", remote, "reason", reason)
}

func (h *authHook) denyAs(source, what, reason string, cl *mqtt.Client, msg string, args ...any) {
	h.denied.add(1, what, reason)
	h.logs.Warn(what+" "+reason+" "+source, msg, append([]any{"remote", cl.Net.Remote, "client_id", cl.ID, "reason", reason}, args...)...)
}

// remoteHost is the address of a remote host:port without the port.
func remoteHost(remote string) string {
	if host, _, err := net.SplitHostPort(remote); err == nil {
		return host
	}
	return remote
}

// roles decides what each role may do, from the topic layout: the
// templates the mapping reads, its status template included. A topic is a
// topic name for a publish and a topic filter for a subscribe.
type roles struct {
	layout   []topic.Template
	readable []string // prefixes readers may also subscribe to (Options.Readable)
}

// allowed is the role table. $ topics ($SYS, $share) are for admins only.
func (r roles) allowed(u User, name string, write bool) bool {
	if u.Role == RoleAdmin {
		return true
	}
	if strings.HasPrefix(name, "$") {
		return false
	}
	switch u.Role {
	case RoleDevice:
		pin := topic.Pin{Name: topic.Device, Value: u.Name}
		if r.literalBeats(name, u.Name) {
			return false
		}
		if write {
			return r.any(func(t *topic.Template) bool { return t.MatchAs(name, pin) }) || r.underDevice(name, pin)
		}
		return r.deviceSubscribes(pin, name)
	case RoleGateway:
		return write && (r.any(func(t *topic.Template) bool { return t.Matches(name) }) || r.underDevice(name, topic.Pin{}))
	case RoleReader:
		return !write && r.readerSubscribes(name)
	}
	return false
}

// literalBeats reports whether the device named device would take a level
// of name (a topic or a filter) that a template of the layout spells as a
// literal there: the literal template is the more specific one, and the
// topic is its, never the device's. A device named devices would otherwise
// reach devices/pi-2/... through a {device}/... template (esphome's,
// shelly's) and write as pi-2. check-config refuses such device names; this
// holds when a configuration was not checked.
func (r roles) literalBeats(name, device string) bool {
	for i := 0; name != ""; i++ {
		lv, rest, _ := strings.Cut(name, "/")
		if lv == device && r.literalAt(i, lv) {
			return true
		}
		name = rest
	}
	return false
}

// literalAt reports whether some template's level i (0-based) is the
// literal text.
func (r roles) literalAt(i int, text string) bool {
	return r.any(func(t *topic.Template) bool {
		levels := t.Levels()
		return i < len(levels) && levels[i].Kind == topic.Literal && levels[i].Text == text
	})
}

func (r roles) any(f func(t *topic.Template) bool) bool {
	for i := range r.layout {
		if f(&r.layout[i]) {
			return true
		}
	}
	return false
}

// deviceSubscribes: a device may subscribe to its own template topics, and
// to anything under its own level of the layout (devices/pi-1/... for
// commands and its own retained status), never to another device's.
func (r roles) deviceSubscribes(pin topic.Pin, filter string) bool {
	return r.any(func(t *topic.Template) bool { return t.Covers(filter, pin) }) || r.underDevice(filter, pin)
}

// underDevice reports whether a topic (or filter) lies below a device's
// level of the layout — devices/pi-1/config/interval — with that level
// equal to the pin's value when pinned. Such topics are a device's own:
// its commands, its settings, what the mapping does not store; a device
// may use its own subtree and a gateway any device's, as they could
// before the layout was configurable.
func (r roles) underDevice(name string, pin topic.Pin) bool {
	return r.any(func(t *topic.Template) bool {
		// The levels up to {device} must be spelt out, or devices/+/
		// would reach every device's subtree.
		own, rest, ok := cutLevels(name, t.Index(topic.Device)+1)
		return ok && rest != "" && !strings.ContainsAny(own, "+#") && t.CoversPrefix(own, pin)
	})
}

// readerSubscribes: a reader may subscribe to a filter a template covers,
// to everything under a level of the layout (devices/#,
// devices/+/sensors/#), or to anything under one device's level; nothing
// outside the layout. mochi asks the same question of every topic it
// delivers, so a topic a reader may not subscribe to is never delivered.
func (r roles) readerSubscribes(filter string) bool {
	return r.any(func(t *topic.Template) bool {
		if t.Covers(filter, topic.Pin{}) {
			return true
		}
		under, ok := strings.CutSuffix(filter, "/#")
		return ok && t.CoversPrefix(under, topic.Pin{})
	}) || r.underDevice(filter, topic.Pin{}) || r.isReadable(filter)
}

// isReadable reports whether filter lies at or below one of the readable
// prefixes: alerts, alerts/#, alerts/pi-1/+.
func (r roles) isReadable(filter string) bool {
	for _, p := range r.readable {
		if filter == p || strings.HasPrefix(filter, p+"/") {
			return true
		}
	}
	return false
}

// cutLevels splits filter after its first n levels; ok is false when it
// has fewer than n levels or n is not positive.
func cutLevels(filter string, n int) (head, rest string, ok bool) {
	if n <= 0 {
		return "", "", false
	}
	parts := strings.SplitN(filter, "/", n+1)
	if len(parts) < n {
		return "", "", false
	}
	if len(parts) == n+1 {
		rest = parts[n]
	}
	return strings.Join(parts[:n], "/"), rest, true
}
