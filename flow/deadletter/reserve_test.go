package deadletter

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/mqflux/mqflux/internal/testenv"
)

// On a full file system a dead letter is still written, from the room the
// reserve kept; the reserve comes back once there is room again.
func TestReserveTakesDeadLettersOnAFullDisk(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=8m"); err != nil {
		testenv.Missing(t, "a tmpfs mount (root)", err.Error())
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	path := filepath.Join(dir, "dead.jsonl")
	d, err := Open(path, 1<<20, nil, WithoutSync())
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if fi, err := os.Stat(d.reservePath()); err != nil || fi.Size() != ReserveBytes {
		t.Fatalf("reserve after Open: %v, %v", fi, err)
	}
	filler := filepath.Join(dir, "filler")
	f, err := os.Create(filler)
	if err != nil {
		t.Fatal(err)
	}
	for block := make([]byte, 64<<10); len(block) > 0; {
		if _, err := f.Write(block); errors.Is(err, syscall.ENOSPC) {
			block = block[:len(block)/2]
		} else if err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	if err := d.Add(Entry{Source: "influx", Reason: "influx_rejected", Payload: []byte("m v=1 1")}); err != nil {
		t.Fatalf("Add on a full disk with a reserve: %v", err)
	}
	if _, err := os.Stat(d.reservePath()); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("reserve still there after it was needed: %v", err)
	}
	if got := readAll(t, path); len(got) != 1 {
		t.Fatalf("%d entries, want 1", len(got))
	}
	os.Remove(filler)
	d.reserveTried = d.reserveTried.Add(-reserveRetry)
	if err := d.Add(Entry{Source: "influx", Reason: "influx_rejected", Payload: []byte("m v=2 2")}); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(d.reservePath()); err != nil || fi.Size() != ReserveBytes {
		t.Fatalf("reserve once there is room again: %v, %v", fi, err)
	}
}
