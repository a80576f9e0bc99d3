package spool

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mqflux/mqflux/flow/ingest"
	"github.com/mqflux/mqflux/internal/testenv"
)

// writeSegments builds a closed spool holding records 0..n-1 and returns the
// directory and the bytes of its segment files, oldest first.
func writeSegments(t *testing.T, n int, segBytes int64) (string, [][]byte) {
	t.Helper()
	dir := t.TempDir()
	s := openSpool(t, Options{Dir: dir, SegmentBytes: segBytes})
	appendN(t, s, 0, n)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	os.Remove(filepath.Join(dir, cursorName))
	var segs [][]byte
	for _, p := range segmentFiles(t, dir) {
		data, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		segs = append(segs, data)
	}
	return dir, segs
}

// The recovery of segment files (torn tails, damage, the fuzz target) is
// tested in internal/segment; these tests cover what the spool adds.

func TestUnreadableCursorIsIgnored(t *testing.T) {
	dir, _ := writeSegments(t, 4, 0)
	for _, c := range []string{"garbage", "segment 1 offset 7\n"} {
		if err := os.WriteFile(filepath.Join(dir, cursorName), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
		var logs testenv.SyncBuffer
		s, err := Open(Options{Dir: dir, Logger: jsonLogger(&logs)})
		if err != nil {
			t.Fatal(err)
		}
		if st := s.Stats(); st.Records != 4 {
			t.Fatalf("cursor %q: %d records pending, want all 4", c, st.Records)
		}
		if !strings.Contains(logs.String(), "WARN") {
			t.Fatalf("cursor %q: nothing logged", c)
		}
		s.Close()
		os.Remove(filepath.Join(dir, cursorName))
	}
}

// TestDamageWhileRunning: bytes that stop reading back whole after they were
// appended (failing storage) are stepped over and logged, later records
// still flow, and the next Open moves the damaged bytes aside.
func TestDamageWhileRunning(t *testing.T) {
	dir := t.TempDir()
	var logs testenv.SyncBuffer
	s := openSpool(t, Options{Dir: dir, Logger: jsonLogger(&logs)})
	appendN(t, s, 0, 10)
	frame := frameHeader + len(record(0))
	seg := filepath.Join(dir, segmentName(1))
	f, err := os.OpenFile(seg, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{'#'}, int64(5*frame+frameHeader+2)); err != nil {
		t.Fatal(err)
	}
	f.Close()

	b := next(t, s, 1000, 1<<20, 0)
	wantRecords(t, b.Records, 0, 5)
	if err := only(s).Ack(b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), fmt.Sprintf(`"offset":%d`, 5*frame)) {
		t.Fatalf("the damage at offset %d was not logged:\n%s", 5*frame, logs.String())
	}
	appendN(t, s, 10, 3)
	b = next(t, s, 1000, 1<<20, 0)
	wantRecords(t, b.Records, 10, 3)
	if err := only(s).Ack(b); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Records != 5 {
		t.Fatalf("Stats = %+v, want the 5 unreadable records still pending on disk", st)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openSpool(t, Options{Dir: dir})
	if st := s.Stats(); st.Records != 0 {
		t.Fatalf("after reopen Stats = %+v, want nothing pending", st)
	}
	corrupt, err := os.ReadFile(seg + ".corrupt")
	if err != nil {
		t.Fatal(err)
	}
	if len(corrupt) != 8*frame {
		t.Fatalf(".corrupt holds %d bytes, want the %d from the damaged record on", len(corrupt), 8*frame)
	}
}

func TestFullIsLoggedOnce(t *testing.T) {
	size := int64(frameHeader + len(record(0)))
	var logs testenv.SyncBuffer
	s := openSpool(t, Options{Dir: t.TempDir(), SegmentBytes: 2 * size, MaxBytes: 4 * size, Logger: jsonLogger(&logs)})
	appendN(t, s, 0, 4)
	for range 3 {
		if err := s.Append(record(4)); !errors.Is(err, ingest.ErrFull) {
			t.Fatalf("Append = %v, want ErrFull", err)
		}
	}
	if st := s.Stats(); st.DiskBytes != 4*size || st.Segments != 2 {
		t.Fatalf("Stats = %+v, want %d bytes on disk in 2 segments", st, 4*size)
	}
	b := next(t, s, 2, 1<<20, 0)
	if err := only(s).Ack(b); err != nil {
		t.Fatal(err)
	}
	appendN(t, s, 4, 1)
	logged := logs.String()
	if strings.Count(logged, "spool full") != 1 || strings.Count(logged, "room again") != 1 {
		t.Fatalf("want one full and one room-again message:\n%s", logged)
	}
}
