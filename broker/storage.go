package broker

import (
	"strconv"
	"sync"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/storage"
	"github.com/mochi-mqtt/server/v2/hooks/storage/pebble"
	"github.com/mochi-mqtt/server/v2/packets"
)

// sessionStore is mochi's pebble storage in Sync mode — the only storage
// hook that redelivers inflight messages after a restart — minus the
// inbound acknowledgements. mochi records the PUBACK of every inbound QoS 1
// publish as an inflight message and deletes it a moment later: two synced
// writes per reading, for a state that never needs to survive a crash (the
// reading is in the spool before the PUBACK, and an unacknowledged publisher
// resends). Only outbound messages queued for subscribers are kept, and only
// what was kept is deleted.
type sessionStore struct {
	*pebble.Hook
	mu   sync.Mutex
	kept map[string]struct{}
}

func newSessionStore() *sessionStore {
	return &sessionStore{Hook: new(pebble.Hook), kept: map[string]struct{}{}}
}

func keptKey(client string, id uint16) string { return client + "\x00" + strconv.Itoa(int(id)) }

func (s *sessionStore) OnQosPublish(cl *mqtt.Client, pk packets.Packet, sent int64, resends int) {
	if pk.FixedHeader.Type != packets.Publish {
		return // an inbound PUBACK/PUBREC: see the type comment
	}
	s.mu.Lock()
	s.kept[keptKey(cl.ID, pk.PacketID)] = struct{}{}
	s.mu.Unlock()
	s.Hook.OnQosPublish(cl, pk, sent, resends)
}

func (s *sessionStore) OnQosComplete(cl *mqtt.Client, pk packets.Packet) {
	if s.forget(cl.ID, pk.PacketID) {
		s.Hook.OnQosComplete(cl, pk)
	}
}

func (s *sessionStore) OnQosDropped(cl *mqtt.Client, pk packets.Packet) {
	if s.forget(cl.ID, pk.PacketID) {
		s.Hook.OnQosComplete(cl, pk)
	}
}

func (s *sessionStore) forget(client string, id uint16) bool {
	k := keptKey(client, id)
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.kept[k]; !ok {
		return false
	}
	delete(s.kept, k)
	return true
}

// StoredInflightMessages remembers what a restart brings back, so that its
// completion deletes it from the store.
func (s *sessionStore) StoredInflightMessages() ([]storage.Message, error) {
	msgs, err := s.Hook.StoredInflightMessages()
	s.mu.Lock()
	for _, m := range msgs {
		s.kept[keptKey(m.Client, m.PacketID)] = struct{}{}
	}
	s.mu.Unlock()
	return msgs, err
}
