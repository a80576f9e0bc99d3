package spool

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mqflux/mqflux/bridge/ingest"
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

// spoolWith writes segs as segment files 1, 2, ... of a new directory.
func spoolWith(t *testing.T, segs ...[]byte) string {
	t.Helper()
	dir := t.TempDir()
	for i, data := range segs {
		if err := os.WriteFile(filepath.Join(dir, segmentName(uint64(i+1))), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestTornTailEveryOffset(t *testing.T) {
	const n = 5
	_, segs := writeSegments(t, n, 0)
	whole := segs[0]
	frame := frameHeader + len(record(0))
	last := len(whole) - frame
	for cut := last + 1; cut < len(whole); cut++ {
		t.Run(fmt.Sprint(cut), func(t *testing.T) {
			dir := spoolWith(t, whole[:cut])
			var logs testenv.SyncBuffer
			s := openSpool(t, Options{Dir: dir, Logger: jsonLogger(&logs)})
			wantRecords(t, drainAll(t, s), 0, n-1)
			if !strings.Contains(logs.String(), fmt.Sprintf(`"offset":%d`, last)) || !strings.Contains(logs.String(), "torn tail") {
				t.Fatalf("log does not report the torn tail at offset %d:\n%s", last, logs.String())
			}
		})
	}
}

func TestDamagedLastRecord(t *testing.T) {
	const n = 5
	_, segs := writeSegments(t, n, 0)
	frame := frameHeader + len(record(0))
	last := len(segs[0]) - frame
	tests := []struct {
		name string
		at   int // byte flipped, relative to the last record
	}{
		{"checksum", 5},
		{"payload", frameHeader + 3},
		{"length", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := bytes.Clone(segs[0])
			data[last+tt.at] ^= 0x40
			dir := spoolWith(t, data)
			var logs testenv.SyncBuffer
			s := openSpool(t, Options{Dir: dir, Logger: jsonLogger(&logs)})
			wantRecords(t, drainAll(t, s), 0, n-1)
			if !strings.Contains(logs.String(), fmt.Sprintf(`"offset":%d`, last)) {
				t.Fatalf("log does not report offset %d:\n%s", last, logs.String())
			}
		})
	}
}

func TestZeroFilledTail(t *testing.T) {
	_, segs := writeSegments(t, 3, 0)
	dir := spoolWith(t, append(bytes.Clone(segs[0]), make([]byte, 4096)...))
	s := openSpool(t, Options{Dir: dir})
	wantRecords(t, drainAll(t, s), 0, 3)
	if _, err := os.Stat(filepath.Join(dir, segmentName(1)+".corrupt")); !os.IsNotExist(err) {
		t.Fatalf("a zero-filled tail was treated as corruption: %v", err)
	}
}

func TestCorruptionMidSegment(t *testing.T) {
	frame := frameHeader + len(record(0))
	_, segs := writeSegments(t, 20, int64(10*frame))
	if len(segs) != 2 {
		t.Fatalf("%d segments, want 2", len(segs))
	}
	tests := []struct {
		name    string
		seg     int // which segment is damaged
		record  int // which record in it
		want    []int
		corrupt string
	}{
		// Records 3..9 are behind the damage in segment 1: they go to the .corrupt file.
		{"older segment", 0, 3, append(seq(0, 3), seq(10, 10)...), segmentName(1) + ".corrupt"},
		// In the last segment, damage followed by whole records is no torn tail either.
		{"last segment", 1, 4, seq(0, 14), segmentName(2) + ".corrupt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			damaged := [][]byte{bytes.Clone(segs[0]), bytes.Clone(segs[1])}
			off := tt.record * frame
			damaged[tt.seg][off+frameHeader+1] ^= 0xff
			dir := spoolWith(t, damaged...)
			var logs testenv.SyncBuffer
			s := openSpool(t, Options{Dir: dir, Logger: jsonLogger(&logs)})
			got := drainAll(t, s)
			if len(got) != len(tt.want) {
				t.Fatalf("got %d records, want %d", len(got), len(tt.want))
			}
			for i, r := range got {
				if !bytes.Equal(r, record(tt.want[i])) {
					t.Fatalf("record %d = %q, want %q", i, r, record(tt.want[i]))
				}
			}
			corrupt, err := os.ReadFile(filepath.Join(dir, tt.corrupt))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(corrupt, damaged[tt.seg][off:]) {
				t.Fatalf(".corrupt holds %d bytes, want the %d bytes from offset %d", len(corrupt), len(damaged[tt.seg])-off, off)
			}
			logged := logs.String()
			if !strings.Contains(logged, fmt.Sprintf(`"offset":%d`, off)) || !strings.Contains(logged, fmt.Sprintf(`"bytes":%d`, len(corrupt))) {
				t.Fatalf("log does not report offset %d and size %d:\n%s", off, len(corrupt), logged)
			}
		})
	}
}

func seq(from, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = from + i
	}
	return out
}

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
	if err := s.Ack(b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logs.String(), fmt.Sprintf(`"offset":%d`, 5*frame)) {
		t.Fatalf("the damage at offset %d was not logged:\n%s", 5*frame, logs.String())
	}
	appendN(t, s, 10, 3)
	b = next(t, s, 1000, 1<<20, 0)
	wantRecords(t, b.Records, 10, 3)
	if err := s.Ack(b); err != nil {
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
	if err := s.Ack(b); err != nil {
		t.Fatal(err)
	}
	appendN(t, s, 4, 1)
	logged := logs.String()
	if strings.Count(logged, "spool full") != 1 || strings.Count(logged, "room again") != 1 {
		t.Fatalf("want one full and one room-again message:\n%s", logged)
	}
}
