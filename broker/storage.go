package broker

import (
	"cmp"
	"errors"
	"fmt"
	"slices"
	"sync"

	pebbledb "github.com/cockroachdb/pebble"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/storage"
	"github.com/mochi-mqtt/server/v2/hooks/storage/pebble"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/mochi-mqtt/server/v2/system"
)

// sessionStore is mochi's pebble storage in Sync mode — the only storage
// hook that redelivers inflight messages after a restart — minus two kinds
// of writes that protect nothing:
//
//   - Inbound acknowledgements. mochi records the PUBACK of every inbound
//     QoS 1 publish as an inflight message and deletes it a moment later: two
//     synced writes per reading, for a state that never needs to survive a
//     crash (the reading is in the spool before the PUBACK, and an
//     unacknowledged publisher resends). Only outbound messages queued for
//     subscribers are kept, and only what was kept is deleted.
//   - Sessions that end with their connection: MQTT 3.1.1 clean sessions and
//     MQTT 5 sessions with no expiry interval. mochi writes such a client at
//     connect, again at disconnect, then deletes it — three synced writes per
//     connection, plus its subscriptions and queued messages, all for a
//     session that a restart discards anyway. With ten thousand devices
//     reconnecting after a restart or a network outage that was a write
//     storm on the connect path. Persistent sessions are stored as before.
//
// The messages queued for persistent sessions are written by a queueWriter,
// in batches off the publish path, rather than one synced write per message
// per subscriber inside it.
type sessionStore struct {
	*pebble.Hook
	queue *queueWriter // nil until Init, and when pebble could not be opened for writing
	fault storeFault   // see storefault.go
	dir   string       // the store's directory, for its file system's free space
	mu    sync.Mutex
	kept  map[queueID]struct{} // outbound QoS messages in the store
	// stored holds the ids of clients with a session record in the store:
	// loaded at start, added when a persistent session is written.
	stored map[string]struct{}
	// retained counts the retained messages per owner (retained.go).
	retained *retainedLimits
}

func newSessionStore(retained *retainedLimits) *sessionStore {
	return &sessionStore{Hook: new(pebble.Hook), kept: map[queueID]struct{}{}, stored: map[string]struct{}{}, retained: retained}
}

// Init opens the store and starts writing queued messages. It fails only
// for a configuration error: a store that cannot be opened degrades (see
// storefault.go) and the broker runs without it.
func (s *sessionStore) Init(config any) error {
	if _, ok := config.(*pebble.Options); !ok && config != nil {
		return s.Hook.Init(config)
	}
	if o, ok := config.(*pebble.Options); ok && o != nil {
		s.dir = o.Path
	}
	logger := pebbleLogger{log: s.Log, fault: &s.fault}
	err := protect(func() error { return s.Hook.Init(withLogger(config, logger, false)) })
	if err == nil {
		s.queue = newQueueWriter(s.Hook.DB(), s.Log, s.guard)
		return nil
	}
	// A failed Open leaves no database to avoid, and its reason is the
	// one below.
	s.fault.broken.Store(false)
	s.fault.reason.Store(nil)
	if rerr := protect(func() error { return s.Hook.Init(withLogger(config, logger, true)) }); rerr == nil {
		s.fault.degrade(s.Log, "opened read-only (stored sessions restored, nothing new kept)", err)
		return nil
	}
	s.fault.degrade(s.Log, "not opened (sessions in memory only)", err)
	return nil
}

// guard runs a write to pebble unless the store is degraded or its file
// system is (nearly) full.
func (s *sessionStore) guard(fn func() error) error {
	if s.fault.reason.Load() != nil {
		return errNotPersisted
	}
	if s.dir != "" {
		free, ok := roomFor(s.dir)
		s.fault.setFull(s.Log, !ok, free)
		if !ok {
			return errNotPersisted
		}
	}
	return protect(fn)
}

// write runs one of the embedded hook's writes through guard.
func (s *sessionStore) write(fn func()) {
	_ = s.guard(func() error { fn(); return nil })
}

// read runs one of the embedded hook's loads, none when there is no
// database to read.
func read[T any](s *sessionStore, fn func() (T, error)) (v T, err error) {
	if s.Hook.DB() == nil || s.fault.broken.Load() {
		return v, nil
	}
	err = protect(func() error { v, err = fn(); return err })
	return v, err
}

// Stop writes the queued messages still pending, then closes the store
// (a pebble that failed is left as it is: closing it could wait for
// locks its failed call still holds).
func (s *sessionStore) Stop() error {
	if s.queue != nil {
		s.queue.close()
	}
	if s.Hook.DB() == nil || s.fault.broken.Load() {
		return nil
	}
	return s.Hook.Stop()
}

// Fault says why sessions are not persisted; "" while they are.
func (s *sessionStore) Fault() string { return s.fault.String() }

func (s *sessionStore) OnSysInfoTick(sys *system.Info) {
	s.write(func() { s.Hook.OnSysInfoTick(sys) })
}

func (s *sessionStore) StoredSubscriptions() ([]storage.Subscription, error) {
	return read(s, s.Hook.StoredSubscriptions)
}

func (s *sessionStore) StoredSysInfo() (storage.SystemInfo, error) {
	return read(s, s.Hook.StoredSysInfo)
}

// ephemeral reports whether cl's session ends when it disconnects (mochi's
// own rule for expiring a session at disconnect).
func ephemeral(cl *mqtt.Client) bool {
	if cl.Properties.ProtocolVersion == 5 {
		return cl.Properties.Props.SessionExpiryInterval == 0
	}
	return cl.Properties.Clean
}

func (s *sessionStore) has(client string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.stored[client]
	return ok
}

func (s *sessionStore) setStored(client string, stored bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if stored {
		s.stored[client] = struct{}{}
	} else {
		delete(s.stored, client)
	}
}

// OnSessionEstablished stores a persistent session. A clean start ends any
// session stored under the same id, so its record goes.
func (s *sessionStore) OnSessionEstablished(cl *mqtt.Client, pk packets.Packet) {
	if !ephemeral(cl) {
		s.setStored(cl.ID, true)
		s.write(func() { s.Hook.OnSessionEstablished(cl, pk) })
		return
	}
	if s.has(cl.ID) {
		s.write(func() { s.Hook.OnClientExpired(cl) }) // deletes the client record
		s.setStored(cl.ID, false)
	}
}

func (s *sessionStore) OnDisconnect(cl *mqtt.Client, err error, expire bool) {
	if !expire {
		s.setStored(cl.ID, true)
		s.write(func() { s.Hook.OnDisconnect(cl, err, expire) })
		return
	}
	// A session that ends here: delete its record if there is one, unless a
	// newer connection took the id over — the record is the newcomer's then.
	if !s.has(cl.ID) || errors.Is(cl.StopCause(), packets.ErrSessionTakenOver) {
		return
	}
	s.write(func() { s.Hook.OnDisconnect(cl, err, expire) })
	s.setStored(cl.ID, false)
}

func (s *sessionStore) OnWillSent(cl *mqtt.Client, pk packets.Packet) {
	if ephemeral(cl) && !s.has(cl.ID) {
		return
	}
	s.write(func() { s.Hook.OnWillSent(cl, pk) })
}

func (s *sessionStore) OnClientExpired(cl *mqtt.Client) {
	s.write(func() { s.Hook.OnClientExpired(cl) })
	s.setStored(cl.ID, false)
}

func (s *sessionStore) OnSubscribed(cl *mqtt.Client, pk packets.Packet, reasonCodes []byte) {
	if ephemeral(cl) {
		return
	}
	s.write(func() { s.Hook.OnSubscribed(cl, pk, reasonCodes) })
}

func (s *sessionStore) OnUnsubscribed(cl *mqtt.Client, pk packets.Packet) {
	if ephemeral(cl) && !s.has(cl.ID) {
		return
	}
	s.write(func() { s.Hook.OnUnsubscribed(cl, pk) })
}

// StoredClients remembers which sessions the store holds.
func (s *sessionStore) StoredClients() ([]storage.Client, error) {
	clients, err := read(s, s.Hook.StoredClients)
	s.mu.Lock()
	for _, c := range clients {
		s.stored[c.ID] = struct{}{}
	}
	s.mu.Unlock()
	return clients, err
}

func (s *sessionStore) OnQosPublish(cl *mqtt.Client, pk packets.Packet, sent int64, resends int) {
	if pk.FixedHeader.Type != packets.Publish {
		return // an inbound PUBACK/PUBREC: see the type comment
	}
	if ephemeral(cl) {
		return // lost with the session anyway: see the type comment
	}
	k := queueID{cl.ID, pk.PacketID}
	s.mu.Lock()
	_, resend := s.kept[k]
	s.kept[k] = struct{}{}
	s.mu.Unlock()
	if resend {
		return // a resend after a reconnect: the message is stored already
	}
	if s.queue != nil {
		s.queue.put(cl, pk)
	}
}

func (s *sessionStore) OnQosComplete(cl *mqtt.Client, pk packets.Packet) {
	// Every inbound QoS 1 reading completes here; a clean session never has
	// a message in the store, so it costs no lookup.
	if ephemeral(cl) {
		return
	}
	if s.forget(cl.ID, pk.PacketID) && s.queue != nil {
		s.queue.remove(cl.ID, pk.PacketID)
	}
}

func (s *sessionStore) OnQosDropped(cl *mqtt.Client, pk packets.Packet) {
	s.OnQosComplete(cl, pk)
}

func (s *sessionStore) forget(client string, id uint16) bool {
	k := queueID{client, id}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.kept[k]; !ok {
		return false
	}
	delete(s.kept, k)
	return true
}

// storedInflight reads every queued message's record, binary or JSON
// (queuerecord.go). The pebble hook's own reader skips what it cannot
// decode without a word; a record that does not decode is logged here,
// with its key, and skipped.
func (s *sessionStore) storedInflight() ([]storage.Message, error) {
	prefix := []byte(storage.InflightKey)
	upper := append([]byte{}, prefix...)
	upper[len(upper)-1]++ // the keys after every one with the prefix
	iter, err := s.Hook.DB().NewIter(&pebbledb.IterOptions{LowerBound: prefix, UpperBound: upper})
	if err != nil {
		return nil, fmt.Errorf("read queued messages: %w", err)
	}
	var msgs []storage.Message
	for iter.First(); iter.Valid(); iter.Next() {
		m, err := decodeRecord(string(iter.Key()), iter.Value())
		if err != nil {
			s.Log.Error("session store: a queued message's record does not decode; skipped", "error", err)
			continue
		}
		msgs = append(msgs, m)
	}
	if err := iter.Close(); err != nil {
		return msgs, fmt.Errorf("read queued messages: %w", err)
	}
	return msgs, nil
}

// StoredInflightMessages remembers what a restart brings back, so that its
// completion deletes it from the store, and returns it in the order it was
// queued (Sent, see queueWriter): mochi queues it again in that order.
func (s *sessionStore) StoredInflightMessages() ([]storage.Message, error) {
	if s.queue != nil {
		s.queue.flush()
	}
	msgs, err := read(s, s.storedInflight)
	slices.SortStableFunc(msgs, func(a, b storage.Message) int { return cmp.Compare(a.Sent, b.Sent) })
	s.mu.Lock()
	for _, m := range msgs {
		s.kept[queueID{m.Client, m.PacketID}] = struct{}{}
	}
	s.mu.Unlock()
	return msgs, err
}
