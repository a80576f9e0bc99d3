package broker

import (
	"log/slog"
	"sync"

	pebbledb "github.com/cockroachdb/pebble"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/storage"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/mqflux/mqflux/topic"
)

// retainedLimits bounds the retained messages: at most maxPerUser topics
// retained by one user and maxBytes (topic and payload) retained in all.
// Every retained message is held in memory and in the session store and
// loaded at each start; without a bound, one device that retained 2,000
// messages of 100 KB under its own subtree made the server start at
// 464 MB.
//
// What is always let through, whatever the bounds: an empty retained
// payload (it deletes), the replacement of a topic the same user already
// retains (it is not a new topic; only a payload grown past maxBytes is
// refused), a device's own presence on a status template (one topic per
// device: its online/offline always fits), and what the server itself
// publishes. Past the bounds, an MQTT 5 QoS 1/2 publish is answered with
// reason 0x97 (quota exceeded) and goes nowhere; any other is delivered to
// the subscribers but not retained. Both are counted in
// mqflux_mqtt_retained_refused_total{reason}.
//
// Who retained what is kept beside each message in the session store
// (retainedOwnerKey), so the accounting after a restart counts what the
// store brings back.
type retainedLimits struct {
	maxPerUser int
	maxBytes   int64
	status     []topic.Template // presence templates: a device's own is exempt
	log        *slog.Logger
	refused    *tally // {reason}: Stats.RetainedRefused

	mu      sync.Mutex
	topics  map[string]retainedEntry
	perUser map[string]int
	bytes   int64
	warned  map[string]int // refusals per user, to log 1, 2, 4, 8, ...
}

type retainedEntry struct {
	owner string
	size  int64
}

func newRetainedLimits(c Config, status []topic.Template, log *slog.Logger) *retainedLimits {
	return &retainedLimits{
		maxPerUser: c.MaxRetainedPerUser,
		maxBytes:   int64(c.MaxRetainedBytes),
		status:     status,
		log:        log,
		refused:    new(tally),
		topics:     map[string]retainedEntry{},
		perUser:    map[string]int{},
		warned:     map[string]int{},
	}
}

func retainedSize(name string, payload []byte) int64 { return int64(len(name) + len(payload)) }

// ownStatus reports whether name is user's own presence topic.
func (l *retainedLimits) ownStatus(user, name string) bool {
	for i := range l.status {
		if built, err := l.status[i].Build(user, ""); err == nil && built == name {
			return true
		}
	}
	return false
}

// admit decides whether user may retain payload on name; reason says which
// bound it would pass otherwise.
func (l *retainedLimits) admit(user, name string, payload []byte) (reason string, ok bool) {
	if len(payload) == 0 || user == "" || l.ownStatus(user, name) {
		return "", true
	}
	size := retainedSize(name, payload)
	l.mu.Lock()
	defer l.mu.Unlock()
	e, exists := l.topics[name]
	if exists && e.owner == user {
		if size > e.size && l.bytes+size-e.size > l.maxBytes {
			return "bytes", false
		}
		return "", true
	}
	if l.perUser[user] >= l.maxPerUser {
		return "count", false
	}
	if l.bytes+size-e.size > l.maxBytes {
		return "bytes", false
	}
	return "", true
}

// refuse counts a refusal and logs the first of a user's and then at each
// doubling, so a device retrying in a loop does not fill the log.
func (l *retainedLimits) refuse(cl *mqtt.Client, name, reason, outcome string) {
	l.refused.add(1, reason)
	user := string(cl.Properties.Username)
	l.mu.Lock()
	l.warned[user]++
	n := l.warned[user]
	if len(l.warned) > 10_000 {
		clear(l.warned)
	}
	l.mu.Unlock()
	if n&(n-1) == 0 {
		l.log.Warn("retained message refused: "+outcome, "reason", reason, "user", user, "client_id", cl.ID,
			"remote", cl.Net.Remote, "topic", name, "refusals", n,
			"max_retained_per_user", l.maxPerUser, "max_retained_bytes", l.maxBytes)
	}
}

// set records that owner retains name (an empty payload: that name is no
// longer retained). A device's own presence counts toward the total only,
// not toward the device's own topics.
func (l *retainedLimits) set(owner, name string, payload []byte) {
	if l.ownStatus(owner, name) {
		owner = ""
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if e, ok := l.topics[name]; ok {
		l.bytes -= e.size
		if l.perUser[e.owner]--; l.perUser[e.owner] <= 0 {
			delete(l.perUser, e.owner)
		}
		delete(l.topics, name)
	}
	if len(payload) == 0 {
		return
	}
	e := retainedEntry{owner: owner, size: retainedSize(name, payload)}
	l.topics[name] = e
	l.perUser[owner]++
	l.bytes += e.size
}

// retainHook applies the limits before anything else sees a publish: it is
// added before the ingest hook, so a publish answered 0x97 is not spooled.
type retainHook struct {
	mqtt.HookBase
	limits *retainedLimits
}

func (h *retainHook) ID() string { return "mqflux-retained" }

func (h *retainHook) Provides(b byte) bool { return b == mqtt.OnPublish || b == mqtt.OnWill }

func (h *retainHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if !pk.FixedHeader.Retain || cl.Net.Inline {
		return pk, nil
	}
	reason, ok := h.limits.admit(string(cl.Properties.Username), pk.TopicName, pk.Payload)
	if ok {
		return pk, nil
	}
	if cl.Properties.ProtocolVersion >= 5 && pk.FixedHeader.Qos > 0 {
		h.limits.refuse(cl, pk.TopicName, reason, "answered quota exceeded")
		return pk, packets.ErrQuotaExceeded
	}
	// MQTT 3.1.1 has no way to say "not retained": the message is
	// delivered as a plain publish.
	h.limits.refuse(cl, pk.TopicName, reason, "delivered, not retained")
	pk.FixedHeader.Retain = false
	return pk, nil
}

// OnWill retains a Last Will only within the limits; past them it is sent
// as a plain message.
func (h *retainHook) OnWill(cl *mqtt.Client, will mqtt.Will) (mqtt.Will, error) {
	if !will.Retain {
		return will, nil
	}
	if reason, ok := h.limits.admit(string(cl.Properties.Username), will.TopicName, will.Payload); !ok {
		h.limits.refuse(cl, will.TopicName, reason, "last will delivered, not retained")
		will.Retain = false
	}
	return will, nil
}

// retainedOwnerKey is where the session store keeps who retained a topic,
// beside mochi's own record of the message.
const retainedOwnerPrefix = "mqflux_retained_owner_"

func retainedOwnerKey(name string) []byte { return []byte(retainedOwnerPrefix + name) }

// OnRetainMessage records who retains the message, then stores it as
// mochi's pebble hook does. The owner record is written without a sync
// just before the message's synced write, which makes both durable. A
// store that failed (a full disk) keeps the count in memory only.
func (s *sessionStore) OnRetainMessage(cl *mqtt.Client, pk packets.Packet, r int64) {
	owner := string(cl.Properties.Username)
	if s.retained != nil {
		s.retained.set(owner, pk.TopicName, pk.Payload)
	}
	s.write(func() {
		if db := s.Hook.DB(); db != nil {
			var err error
			if len(pk.Payload) == 0 {
				err = db.Delete(retainedOwnerKey(pk.TopicName), pebbledb.NoSync)
			} else {
				err = db.Set(retainedOwnerKey(pk.TopicName), []byte(owner), pebbledb.NoSync)
			}
			if err != nil {
				s.Log.Error("retained message owner not stored", "topic", pk.TopicName, "err", err)
			}
		}
		s.Hook.OnRetainMessage(cl, pk, r)
	})
}

// OnRetainedExpired forgets an expired retained message and its owner.
func (s *sessionStore) OnRetainedExpired(filter string) {
	if s.retained != nil {
		s.retained.set("", filter, nil)
	}
	s.write(func() {
		if db := s.Hook.DB(); db != nil {
			_ = db.Delete(retainedOwnerKey(filter), pebbledb.NoSync)
		}
		s.Hook.OnRetainedExpired(filter)
	})
}

// StoredRetainedMessages counts what the store brings back against its
// owners' limits. A message stored without an owner (before owners were
// kept) counts toward the total only.
func (s *sessionStore) StoredRetainedMessages() ([]storage.Message, error) {
	msgs, err := read(s, s.Hook.StoredRetainedMessages)
	if s.retained == nil || err != nil {
		return msgs, err
	}
	owners, _ := read(s, s.retainedOwners)
	for _, m := range msgs {
		s.retained.set(owners[m.TopicName], m.TopicName, m.Payload)
	}
	return msgs, nil
}

// retainedOwners reads who retained each topic.
func (s *sessionStore) retainedOwners() (map[string]string, error) {
	owners := map[string]string{}
	db := s.Hook.DB()
	if db == nil {
		return owners, nil
	}
	prefix := []byte(retainedOwnerPrefix)
	upper := append([]byte(retainedOwnerPrefix[:len(retainedOwnerPrefix)-1]), retainedOwnerPrefix[len(retainedOwnerPrefix)-1]+1)
	iter, err := db.NewIter(&pebbledb.IterOptions{LowerBound: prefix, UpperBound: upper})
	if err != nil {
		return owners, err
	}
	for iter.First(); iter.Valid(); iter.Next() {
		owners[string(iter.Key()[len(prefix):])] = string(iter.Value())
	}
	return owners, iter.Close()
}
