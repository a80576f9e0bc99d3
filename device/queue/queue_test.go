package queue

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func open(t *testing.T, dir string, maxBytes, segBytes int64) *Queue {
	t.Helper()
	q, err := Open(Options{Dir: dir, MaxBytes: maxBytes, SegmentBytes: segBytes})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	return q
}

func payload(i int) []byte {
	return fmt.Appendf(nil, "reading-%d-%s", i, bytes.Repeat([]byte("x"), i%37))
}

// drain reads everything Next returns, acknowledging when ack is set.
func drain(t *testing.T, q *Queue, ack bool) []Record {
	t.Helper()
	var out []Record
	for {
		r, ok, err := q.Next()
		if err != nil {
			t.Fatalf("next: %v", err)
		}
		if !ok {
			return out
		}
		out = append(out, r)
		if ack {
			q.Ack(r.ID)
		}
	}
}

func TestRoundTripOrderAcrossSegments(t *testing.T) {
	dir := t.TempDir()
	q := open(t, dir, 1<<20, 4<<10)
	var ids []uint64
	for i := range 500 {
		id, err := q.Append(payload(i))
		if err != nil {
			t.Fatalf("append %d: %v", i, err)
		}
		ids = append(ids, id)
	}
	if st := q.Stats(); st.Segments < 5 || st.Records != 500 {
		t.Fatalf("stats after 500 appends: %+v; want several segments and 500 records", st)
	}
	got := drain(t, q, true)
	if len(got) != 500 {
		t.Fatalf("read %d records, want 500", len(got))
	}
	for i, r := range got {
		if r.ID != ids[i] || !bytes.Equal(r.Data, payload(i)) {
			t.Fatalf("record %d: id %d data %q; want id %d data %q", i, r.ID, r.Data, ids[i], payload(i))
		}
	}
	if st := q.Stats(); st.Records != 0 || st.Segments != 1 || st.Acked != 500 {
		t.Fatalf("stats after acking all: %+v; want 0 records in 1 segment", st)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	q = open(t, dir, 1<<20, 4<<10)
	defer q.Close()
	if got := drain(t, q, false); len(got) != 0 {
		t.Fatalf("after reopen %d records came back, want none", len(got))
	}
	id, err := q.Append([]byte("after"))
	if err != nil || id != ids[499]+1 {
		t.Fatalf("append after reopen: id %d err %v; want id %d", id, err, ids[499]+1)
	}
}

func TestUnackedSurviveReopenAndRewind(t *testing.T) {
	dir := t.TempDir()
	q := open(t, dir, 1<<20, 1<<10)
	for i := range 40 {
		if _, err := q.Append(payload(i)); err != nil {
			t.Fatal(err)
		}
	}
	recs := drain(t, q, false)
	// Acknowledgements arrive out of order, with gaps: ids 0-9 except 3,
	// and 20.
	acked := map[uint64]bool{}
	for _, i := range []int{9, 1, 0, 2, 4, 5, 8, 7, 6, 20} {
		q.Ack(recs[i].ID)
		acked[recs[i].ID] = true
	}
	q.Ack(recs[0].ID) // twice: ignored
	q.Ack(999999)     // unknown: ignored
	q.Rewind()
	want := 0
	for _, r := range recs {
		if !acked[r.ID] {
			want++
		}
	}
	if got := drain(t, q, false); len(got) != want || got[0].ID != recs[3].ID {
		t.Fatalf("after rewind read %d records starting at %d; want %d starting at %d", len(got), got[0].ID, want, recs[3].ID)
	}
	if st := q.Stats(); st.Records != want {
		t.Fatalf("stats records %d, want %d", st.Records, want)
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	q = open(t, dir, 1<<20, 1<<10)
	defer q.Close()
	got := drain(t, q, false)
	// The out-of-order acks above the watermark (id of recs[3]) are not
	// persisted: 4-9 and 20 come back once more, 0-2 do not.
	if len(got) != 40-3 || got[0].ID != recs[3].ID {
		t.Fatalf("after reopen read %d records from id %d; want 37 from %d", len(got), got[0].ID, recs[3].ID)
	}
	for i, r := range got {
		if !bytes.Equal(r.Data, payload(i+3)) {
			t.Fatalf("record %d: %q, want %q", r.ID, r.Data, payload(i+3))
		}
	}
}

func TestBoundRefusesNewKeepsOld(t *testing.T) {
	q := open(t, t.TempDir(), 8<<10, 2<<10)
	defer q.Close()
	var accepted int
	var full error
	for i := range 1000 {
		if _, err := q.Append(payload(i)); err != nil {
			full = err
			break
		}
		accepted++
	}
	if !errors.Is(full, ErrFull) {
		t.Fatalf("append into a full queue: %v, want ErrFull", full)
	}
	for range 3 {
		if _, err := q.Append(bytes.Repeat([]byte("m"), 200)); !errors.Is(err, ErrFull) {
			t.Fatalf("append: %v, want ErrFull", err)
		}
	}
	st := q.Stats()
	if st.Refused != 4 || st.Bytes > 8<<10 || st.Records != accepted {
		t.Fatalf("stats %+v; want 4 refused, at most 8KiB, %d records", st, accepted)
	}
	got := drain(t, q, true)
	if len(got) != accepted || !bytes.Equal(got[0].Data, payload(0)) {
		t.Fatalf("read %d records, want the %d oldest", len(got), accepted)
	}
	if _, err := q.Append([]byte("room again")); err != nil {
		t.Fatalf("append after draining: %v", err)
	}
}

func TestTornTailIsCut(t *testing.T) {
	cases := []struct {
		name   string
		damage func(t *testing.T, path string, size int64)
		kept   int
	}{
		{"cut in record header", func(t *testing.T, p string, size int64) { truncate(t, p, size-int64(len(payload(9)))-5) }, 9},
		{"cut in record data", func(t *testing.T, p string, size int64) { truncate(t, p, size-3) }, 9},
		{"last record CRC wrong", func(t *testing.T, p string, size int64) { flipByte(t, p, size-1) }, 9},
		{"garbage appended", func(t *testing.T, p string, size int64) { appendBytes(t, p, []byte{0xff, 0xff, 0xff, 0x7f, 1, 2}) }, 10},
		{"zeros appended", func(t *testing.T, p string, size int64) { appendBytes(t, p, make([]byte, 4096)) }, 10},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			q := open(t, dir, 1<<20, 1<<20)
			for i := range 10 {
				if _, err := q.Append(payload(i)); err != nil {
					t.Fatal(err)
				}
			}
			q.Close()
			segs, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
			if len(segs) != 1 {
				t.Fatalf("segment files %v, want one", segs)
			}
			path := segs[0]
			fi, _ := os.Stat(path)
			tc.damage(t, path, fi.Size())
			q = open(t, dir, 1<<20, 1<<20)
			defer q.Close()
			got := drain(t, q, false)
			if len(got) != tc.kept {
				t.Fatalf("kept %d records, want %d", len(got), tc.kept)
			}
			for i, r := range got {
				if !bytes.Equal(r.Data, payload(i)) {
					t.Fatalf("record %d: %q, want %q", i, r.Data, payload(i))
				}
			}
			id, err := q.Append([]byte("next"))
			if err != nil || id != got[len(got)-1].ID+1 {
				t.Fatalf("append after repair: id %d err %v; want %d", id, err, got[len(got)-1].ID+1)
			}
			if r := drain(t, q, false); len(r) != 1 || string(r[0].Data) != "next" {
				t.Fatalf("after repair the new record reads back as %v", r)
			}
		})
	}
}

func TestUnreadableHeaderMovedAside(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, legacyName(1)), []byte("nonsense!"), 0o640); err != nil {
		t.Fatal(err)
	}
	q := open(t, dir, 1<<20, 0)
	defer q.Close()
	if _, err := os.Stat(filepath.Join(dir, legacyName(1)+".corrupt")); err != nil {
		t.Fatalf("corrupt segment not kept aside: %v", err)
	}
	if _, err := q.Append([]byte("ok")); err != nil {
		t.Fatal(err)
	}
}

func TestCorruptCursorResendsFromOldest(t *testing.T) {
	dir := t.TempDir()
	q := open(t, dir, 1<<20, 0)
	for i := range 5 {
		q.Append(payload(i))
	}
	recs := drain(t, q, false)
	q.Ack(recs[0].ID)
	q.Ack(recs[1].ID)
	q.Close()
	if err := os.WriteFile(filepath.Join(dir, cursorName), []byte("bad"), 0o640); err != nil {
		t.Fatal(err)
	}
	q = open(t, dir, 1<<20, 0)
	defer q.Close()
	if got := drain(t, q, false); len(got) != 5 {
		t.Fatalf("read %d records, want all 5 again", len(got))
	}
}

func TestSegmentNamesMustParse(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "abc.seg"), nil, 0o640)
	_, err := Open(Options{Dir: dir, MaxBytes: 1 << 20})
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("abc.seg is not a segment name")) {
		t.Fatalf("open with a stray file: %v; want an error naming abc.seg", err)
	}
}

func TestParseFsync(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Fsync
		ok   bool
	}{{"always", FsyncAlways, true}, {"batch", FsyncBatch, true}, {"never", FsyncNever, true}, {"sometimes", 0, false}} {
		got, err := ParseFsync(tc.in)
		if (err == nil) != tc.ok || got != tc.want {
			t.Errorf("ParseFsync(%q) = %v, %v", tc.in, got, err)
		}
	}
}

// cursorName is the segment log's cursor file.
const cursorName = "cursor"

func truncate(t *testing.T, p string, n int64) {
	t.Helper()
	if err := os.Truncate(p, n); err != nil {
		t.Fatal(err)
	}
}

func flipByte(t *testing.T, p string, off int64) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	b := []byte{0}
	f.ReadAt(b, off)
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, off); err != nil {
		t.Fatal(err)
	}
}

func appendBytes(t *testing.T, p string, b []byte) {
	t.Helper()
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.Write(b); err != nil {
		t.Fatal(err)
	}
}
