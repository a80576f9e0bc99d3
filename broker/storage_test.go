package broker

import (
	"bytes"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"

	pebbledb "github.com/cockroachdb/pebble"
	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/storage/pebble"
	"github.com/mochi-mqtt/server/v2/packets"
)

func openStore(t *testing.T, dir string) *sessionStore {
	t.Helper()
	s := newSessionStore(nil)
	s.SetOpts(slog.New(slog.DiscardHandler), nil)
	if err := s.Init(&pebble.Options{Path: dir, Mode: pebble.Sync}); err != nil {
		t.Fatal(err)
	}
	return s
}

func storedIDs(t *testing.T, s *sessionStore) []string {
	t.Helper()
	clients, err := s.StoredClients()
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, c := range clients {
		ids = append(ids, c.ID)
	}
	slices.Sort(ids)
	return ids
}

func client(id string, clean bool) *mqtt.Client {
	return &mqtt.Client{ID: id, Properties: mqtt.ClientProperties{Clean: clean, ProtocolVersion: 4}}
}

var sub = packets.Packet{
	FixedHeader: packets.FixedHeader{Type: packets.Subscribe},
	Filters:     packets.Subscriptions{{Filter: "devices/#", Qos: 1}},
}

// A clean session is never written; a persistent one is, and survives a
// reopen; a clean start under a persistent session's id deletes it.
func TestSessionStoreKeepsOnlyPersistentSessions(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)

	clean := client("dev-clean", true)
	s.OnSessionEstablished(clean, packets.Packet{})
	s.OnSubscribed(clean, sub, []byte{1})
	s.OnQosPublish(clean, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, PacketID: 1}, 0, 0)
	if got := storedIDs(t, s); len(got) != 0 {
		t.Fatalf("clean session stored: %v", got)
	}
	s.OnDisconnect(clean, nil, true)

	persistent := client("reader", false)
	s.OnSessionEstablished(persistent, packets.Packet{})
	s.OnSubscribed(persistent, sub, []byte{1})
	s.OnQosPublish(persistent, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, PacketID: 7}, 0, 0)
	s.OnDisconnect(persistent, nil, false)
	if got := storedIDs(t, s); !slices.Equal(got, []string{"reader"}) {
		t.Fatalf("stored clients %v, want [reader]", got)
	}
	if subs, _ := s.StoredSubscriptions(); len(subs) != 1 || subs[0].Client != "reader" {
		t.Fatalf("stored subscriptions %+v, want reader's only", subs)
	}
	if msgs, _ := s.StoredInflightMessages(); len(msgs) != 1 || msgs[0].Client != "reader" {
		t.Fatalf("stored inflight %+v, want reader's only", msgs)
	}
	// mochi's Stored* leave their pebble iterators open, so closing reports
	// "leaked iterators"; the data is written all the same.
	_ = s.Stop()

	// After a restart the persistent session is there; a clean start under
	// its id ends it.
	s = openStore(t, dir)
	defer s.Stop()
	if got := storedIDs(t, s); !slices.Equal(got, []string{"reader"}) {
		t.Fatalf("after reopen: stored clients %v, want [reader]", got)
	}
	again := client("reader", true)
	s.OnSessionEstablished(again, packets.Packet{})
	if got := storedIDs(t, s); len(got) != 0 {
		t.Fatalf("after a clean start: stored clients %v, want none", got)
	}
	s.OnDisconnect(again, nil, true)
	if got := storedIDs(t, s); len(got) != 0 {
		t.Fatalf("after the clean session ended: stored clients %v, want none", got)
	}
}

// A clean session taken over by a persistent one must not delete the
// newcomer's record when it finally disconnects.
func TestSessionStoreTakeover(t *testing.T) {
	s := openStore(t, t.TempDir())
	defer s.Stop()
	old := client("dev", true)
	s.OnSessionEstablished(old, packets.Packet{})
	newer := client("dev", false)
	s.OnSessionEstablished(newer, packets.Packet{})
	old.Stop(packets.ErrSessionTakenOver)
	s.OnDisconnect(old, packets.ErrSessionTakenOver, true)
	if got := storedIDs(t, s); !slices.Equal(got, []string{"dev"}) {
		t.Fatalf("stored clients %v, want [dev]", got)
	}
}

// Queued messages come back after a restart in the order they were queued,
// whatever their packet ids; a completed one is gone, and a resend does not
// write the message again.
func TestSessionStoreKeepsQueueOrder(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	reader := client("reader", false)
	s.OnSessionEstablished(reader, packets.Packet{})
	queue := []uint16{65534, 65535, 1, 2, 10, 3}
	for _, id := range queue {
		s.OnQosPublish(reader, packets.Packet{
			FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1},
			PacketID:    id, TopicName: "devices/d1/sensors/t", Payload: []byte("first"), Created: 1700000000,
		}, 0, 0)
	}
	s.OnQosComplete(reader, packets.Packet{PacketID: 1})
	s.OnQosPublish(reader, packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1, Dup: true},
		PacketID:    2, TopicName: "devices/d1/sensors/t", Payload: []byte("resent"), Created: 1700000000,
	}, 0, 1)
	s.OnDisconnect(reader, nil, false)
	_ = s.Stop()

	s = openStore(t, dir)
	defer s.Stop()
	msgs, err := s.StoredInflightMessages()
	if err != nil {
		t.Fatal(err)
	}
	var ids []uint16
	for _, m := range msgs {
		ids = append(ids, m.PacketID)
		if string(m.Payload) != "first" {
			t.Errorf("message %d: payload %q, want the first write's", m.PacketID, m.Payload)
		}
	}
	if want := []uint16{65534, 65535, 2, 10, 3}; !slices.Equal(ids, want) {
		t.Fatalf("stored queue %v, want %v", ids, want)
	}
}

// A store written by an earlier version holds JSON records; this one
// writes binary ones. After a restart both come back, in the order they
// were queued, and a record that decodes to nothing is reported with its
// key instead of vanishing.
func TestStoredQueueReadsBothRecordFormats(t *testing.T) {
	dir := t.TempDir()
	s := openStore(t, dir)
	reader := client("reader", false)
	s.OnSessionEstablished(reader, packets.Packet{})
	older := &queued{seq: 1, pk: packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1},
		PacketID: 1, TopicName: "devices/d1/sensors/t", Payload: []byte("older"), Created: 1700000000}}
	key := queueID{"reader", 1}.key()
	js, err := message(key, "reader", older).MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Hook.DB().Set([]byte(key), js, pebbledb.Sync); err != nil {
		t.Fatal(err)
	}
	broken := queueID{"reader", 3}.key()
	if err := s.Hook.DB().Set([]byte(broken), []byte{recordV1, 0}, pebbledb.Sync); err != nil {
		t.Fatal(err)
	}
	s.OnQosPublish(reader, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1},
		PacketID: 2, TopicName: "devices/d1/sensors/t", Payload: []byte("newer"), Created: 1700000001}, 0, 0)
	_ = s.Stop()

	var log bytes.Buffer
	s = newSessionStore(nil)
	s.SetOpts(slog.New(slog.NewTextHandler(&log, nil)), nil)
	if err := s.Init(&pebble.Options{Path: dir, Mode: pebble.Sync}); err != nil {
		t.Fatal(err)
	}
	defer s.Stop()
	msgs, err := s.StoredInflightMessages()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, m := range msgs {
		got = append(got, fmt.Sprintf("%s %d %s", m.Client, m.PacketID, m.Payload))
	}
	if want := []string{"reader 1 older", "reader 2 newer"}; !slices.Equal(got, want) {
		t.Fatalf("stored queue %q, want %q", got, want)
	}
	if !strings.Contains(log.String(), broken) || !strings.Contains(log.String(), "does not decode") {
		t.Fatalf("the broken record was not reported: %s", log.String())
	}
}
