package broker

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/mochi-mqtt/server/v2/system"
)

// A session store that cannot be opened degrades: Init succeeds, every
// write is skipped, nothing panics, and Fault says why.
func TestSessionStoreThatCannotOpenDegrades(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "broker")
	if err := os.WriteFile(path, []byte("not a directory"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := openStore(t, path)
	if !strings.Contains(s.Fault(), "not opened") {
		t.Fatalf("Fault() = %q, want the reason the store was not opened", s.Fault())
	}
	cl := client("dev", false)
	s.OnSessionEstablished(cl, packets.Packet{})
	s.OnSysInfoTick(&system.Info{})
	s.OnQosPublish(cl, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, PacketID: 1}, 0, 0)
	if got := storedIDs(t, s); len(got) != 0 {
		t.Fatalf("stored clients %v, want none", got)
	}
	if err := s.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
}

// A fatal pebble error (what a full disk makes of a failed log write)
// degrades the store instead of exiting the process, and later writes are
// skipped.
func TestPebbleFatalDegradesTheStore(t *testing.T) {
	s := openStore(t, t.TempDir())
	if s.Fault() != "" {
		t.Fatalf("fresh store degraded: %s", s.Fault())
	}
	l := pebbleLogger{log: s.Log, fault: &s.fault}
	err := s.guard(func() error {
		l.Fatalf("pebble: fatal commit error: %v", errors.New("no space left on device"))
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "no space left on device") {
		t.Fatalf("guarded call after Fatalf: %v", err)
	}
	if !strings.Contains(s.Fault(), "no space left on device") {
		t.Fatalf("Fault() = %q", s.Fault())
	}
	ran := false
	if err := s.guard(func() error { ran = true; return nil }); !errors.Is(err, errNotPersisted) || ran {
		t.Fatalf("write after the failure: ran %v, err %v; want it skipped", ran, err)
	}
	// A Fatalf on one of pebble's own goroutines ends that goroutine only.
	done := make(chan struct{})
	go func() {
		defer close(done)
		l.Fatalf("MANIFEST sync failed: %v", errors.New("no space left on device"))
		t.Error("Fatalf returned")
	}()
	<-done
	s.OnSysInfoTick(&system.Info{})
	if err := s.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
}
