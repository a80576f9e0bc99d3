package alert

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mqflux/mqflux/alert/notify"
)

// memStore keeps the parts in memory, for the Service's side of Store.
type memStore struct{ parts [][]byte }

func (m *memStore) Shards() int             { return 8 }
func (m *memStore) Load() ([][]byte, error) { return m.parts, nil }
func (m *memStore) Where() string           { return "memory" }
func (m *memStore) Save(p [][]byte) error {
	m.parts = make([][]byte, len(p))
	copy(m.parts, p)
	return nil
}

// Cut into parts, a state keeps each device with its outbox entries in
// one part, the recent transitions in the first, the sequence in all;
// joined again it is the same state, each notifier's queue in the order
// of its entries.
func TestStateParts(t *testing.T) {
	st := &saved{Version: stateVersion, Seq: 40, Recent: []notify.Notification{{ID: "r"}}}
	for d := range 20 {
		name := fmt.Sprintf("pi-%02d", d)
		st.Devices = append(st.Devices, &Device{Name: name})
		st.Outbox = append(st.Outbox, &entry{Seq: uint64(2*d + 1), Notifier: "webhook", N: notify.Notification{Device: name}},
			&entry{Seq: uint64(2*d + 2), Notifier: "influx", N: notify.Notification{Device: name}})
	}
	parts := split(st, 8)
	var bs [][]byte
	for i, p := range parts {
		for _, e := range p.Outbox {
			if shardOf(e.N.Device, 8) != i {
				t.Errorf("entry of %s in part %d, its device in part %d", e.N.Device, i, shardOf(e.N.Device, 8))
			}
		}
		for _, d := range p.Devices {
			if shardOf(d.Name, 8) != i {
				t.Errorf("device %s in part %d", d.Name, i)
			}
		}
		if p.Seq != 40 || (i == 0) != (len(p.Recent) == 1) {
			t.Errorf("part %d: seq %d, recent %d", i, p.Seq, len(p.Recent))
		}
		b, _ := json.Marshal(p)
		bs = append(bs, b)
	}
	got, err := decodeParts(bs, "test")
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Devices) != 20 || len(got.Outbox) != 40 || got.Seq != 40 || len(got.Recent) != 1 {
		t.Fatalf("joined: %d devices, %d entries, seq %d, %d recent", len(got.Devices), len(got.Outbox), got.Seq, len(got.Recent))
	}
	for i, e := range got.Outbox {
		if e.Seq != uint64(i+1) {
			t.Fatalf("entry %d has seq %d: out of order", i, e.Seq)
		}
	}
	// A damaged part costs its own devices only.
	bs[3] = []byte("{")
	got, err = decodeParts(bs, "test")
	if err == nil || !strings.Contains(err.Error(), "part 3") {
		t.Errorf("damaged part 3: %v", err)
	}
	if want := 20 - len(parts[3].Devices); len(got.Devices) != want {
		t.Errorf("damaged part 3: %d devices, want %d", len(got.Devices), want)
	}
}

// A Service on a store of parts saves and loads the same registry and
// outbox.
func TestServiceOnStoreOfParts(t *testing.T) {
	store := &memStore{}
	cfg := DefaultConfig()
	s, err := Open(Options{Config: cfg, Store: store, Now: func() time.Time { return t0 }})
	if err != nil {
		t.Fatal(err)
	}
	for d := range 12 {
		observeReading(s, fmt.Sprintf("pi-%02d", d), t0)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	if len(store.parts) != 8 {
		t.Fatalf("saved %d parts, want 8", len(store.parts))
	}
	s2, err := Open(Options{Config: cfg, Store: store})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(s2.Devices(DeviceFilter{})); n != 12 {
		t.Errorf("loaded %d devices, want 12", n)
	}
}
