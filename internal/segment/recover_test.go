package segment

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTornTailEveryOffset(t *testing.T) {
	const n = 5
	whole := writeSegments(t, n, 0)[0]
	frame := FrameHeader + len(record(0))
	last := len(whole) - frame
	for cut := last + 1; cut < len(whole); cut++ {
		t.Run(fmt.Sprint(cut), func(t *testing.T) {
			dir := logWith(t, whole[:cut])
			var logs logBuffer
			o := openOwner(t, Options{Dir: dir, Logger: jsonLogger(&logs)})
			wantRecords(t, o.drain(t), 0, n-1)
			if !strings.Contains(logs.String(), fmt.Sprintf(`"offset":%d`, last)) || !strings.Contains(logs.String(), "torn tail") {
				t.Fatalf("log does not report the torn tail at offset %d:\n%s", last, logs.String())
			}
			if _, err := os.Stat(filepath.Join(dir, Name(1)+".corrupt")); !os.IsNotExist(err) {
				t.Fatalf("a torn tail was treated as corruption: %v", err)
			}
		})
	}
}

func TestDamagedLastRecord(t *testing.T) {
	const n = 5
	seg := writeSegments(t, n, 0)[0]
	frame := FrameHeader + len(record(0))
	last := len(seg) - frame
	tests := []struct {
		name string
		at   int // byte flipped, relative to the last record
	}{
		{"checksum", 5},
		{"payload", FrameHeader + 3},
		{"length", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := bytes.Clone(seg)
			data[last+tt.at] ^= 0x40
			dir := logWith(t, data)
			var logs logBuffer
			o := openOwner(t, Options{Dir: dir, Logger: jsonLogger(&logs)})
			wantRecords(t, o.drain(t), 0, n-1)
			if !strings.Contains(logs.String(), fmt.Sprintf(`"offset":%d`, last)) {
				t.Fatalf("log does not report offset %d:\n%s", last, logs.String())
			}
		})
	}
}

func TestZeroFilledTail(t *testing.T) {
	seg := writeSegments(t, 3, 0)[0]
	dir := logWith(t, append(bytes.Clone(seg), make([]byte, 4096)...))
	o := openOwner(t, Options{Dir: dir})
	wantRecords(t, o.drain(t), 0, 3)
	if _, err := os.Stat(filepath.Join(dir, Name(1)+".corrupt")); !os.IsNotExist(err) {
		t.Fatalf("a zero-filled tail was treated as corruption: %v", err)
	}
}

func TestCorruptionMidSegment(t *testing.T) {
	frame := FrameHeader + len(record(0))
	segs := writeSegments(t, 20, int64(10*frame))
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
		{"older segment", 0, 3, append(seq(0, 3), seq(10, 10)...), Name(1) + ".corrupt"},
		// In the last segment, damage followed by whole records is no torn tail either.
		{"last segment", 1, 4, seq(0, 14), Name(2) + ".corrupt"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			damaged := [][]byte{bytes.Clone(segs[0]), bytes.Clone(segs[1])}
			off := tt.record * frame
			damaged[tt.seg][off+FrameHeader+1] ^= 0xff
			dir := logWith(t, damaged...)
			var logs logBuffer
			o := openOwner(t, Options{Dir: dir, Logger: jsonLogger(&logs)})
			got := o.drain(t)
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

// The cursor skips what was acknowledged, keeps the record numbers across a
// restart, and is ignored (everything comes back) when unreadable.
func TestCursor(t *testing.T) {
	frame := int64(FrameHeader + len(record(0)))
	tests := []struct {
		name     string
		cursor   string
		pending  int    // records handed out after Open
		firstSeq uint64 // Seq of the first pending record
		nextSeq  uint64
		warned   bool
	}{
		{"none", "", 10, 1, 11, false},
		{"garbage", "garbage", 10, 1, 11, true},
		{"off a record boundary", "segment 1 offset 7\n", 10, 1, 11, true},
		{"without a record number", fmt.Sprintf("segment 1 offset %d\n", 4*frame), 6, 5, 11, false},
		{"with a record number", fmt.Sprintf("segment 1 offset %d record 104\n", 4*frame), 6, 104, 110, false},
		{"at the end", fmt.Sprintf("segment 1 offset %d record 51\n", 10*frame), 0, 0, 51, false},
		{"of a deleted segment", "segment 0 offset 0 record 7\n", 10, 7, 17, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := logWith(t, writeSegments(t, 10, 0)[0])
			if tt.cursor != "" {
				if err := os.WriteFile(filepath.Join(dir, cursorName), []byte(tt.cursor), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			var logs logBuffer
			o := openOwner(t, Options{Dir: dir, Logger: jsonLogger(&logs)})
			if got := o.pending(); got != int64(tt.pending) {
				t.Fatalf("%d records pending, want %d", got, tt.pending)
			}
			o.mu.Lock()
			first := o.l.Segments()[0]
			gotSeq := first.Seq + uint64(first.ReadRecs)
			next := o.l.NextSeq()
			o.mu.Unlock()
			if tt.pending > 0 && gotSeq != tt.firstSeq {
				t.Fatalf("first pending record numbered %d, want %d", gotSeq, tt.firstSeq)
			}
			if next != tt.nextSeq {
				t.Fatalf("next record numbered %d, want %d", next, tt.nextSeq)
			}
			wantRecords(t, o.drain(t), 10-tt.pending, tt.pending)
			if warned := strings.Contains(logs.String(), "WARN"); warned != tt.warned {
				t.Fatalf("warned %v, want %v:\n%s", warned, tt.warned, logs.String())
			}
		})
	}
}

func TestSaveCursorRoundTrip(t *testing.T) {
	dir := t.TempDir()
	o := openOwner(t, Options{Dir: dir, Durability: Fsync})
	o.append(t, records(0, 10)...)
	got := o.drain(t)[:4]
	wantRecords(t, got, 0, 4)
	o.mu.Lock()
	g := o.l.Segments()[0]
	frame := int64(FrameHeader + len(record(0)))
	err := o.l.SaveCursor(Cursor{Seg: g.ID, Off: 4 * frame, Seq: g.Seq + 4})
	o.mu.Unlock()
	if err != nil {
		t.Fatal(err)
	}
	if err := o.close(); err != nil {
		t.Fatal(err)
	}
	o = openOwner(t, Options{Dir: dir})
	wantRecords(t, o.drain(t), 4, 6)
	o.mu.Lock()
	defer o.mu.Unlock()
	if c, ok := o.l.Cursor(); !ok || c.Seq != 5 {
		t.Fatalf("cursor %+v %v, want record 5", c, ok)
	}
	if o.l.NextSeq() != 11 {
		t.Fatalf("next record numbered %d, want 11", o.l.NextSeq())
	}
}

func TestSecondOpenRefused(t *testing.T) {
	dir := t.TempDir()
	openOwner(t, Options{Dir: dir})
	if o, err := tryOpen(t, Options{Dir: dir}); err == nil {
		o.close()
		t.Fatal("a second Open of a directory in use succeeded")
	}
}

func TestIgnoresOtherFiles(t *testing.T) {
	dir := logWith(t, writeSegments(t, 3, 0)[0])
	for _, name := range []string{"1.seg", "00000000000000000001.seg", "x.seg"} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte("not a segment"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var logs logBuffer
	o := openOwner(t, Options{Dir: dir, Logger: jsonLogger(&logs),
		Foreign: func(name string) bool { return name == "x.seg" }})
	wantRecords(t, o.drain(t), 0, 3)
	logged := logs.String()
	if strings.Count(logged, "not a segment") != 2 || strings.Contains(logged, "x.seg") {
		t.Fatalf("want a warning for each of the two unknown files, none for the foreign one:\n%s", logged)
	}
}
