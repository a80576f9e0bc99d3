package spool

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mqflux/mqflux/flow/ingest"
	"github.com/mqflux/mqflux/internal/testenv"
)

// nextOf calls r.Next with a generous deadline, failing the test on error.
func nextOf(t testing.TB, r *Reader, maxRecords int) *Batch {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	b, err := r.Next(ctx, maxRecords, 1<<20, 0)
	if err != nil {
		t.Fatalf("Next %s: %v", r.Name(), err)
	}
	return b
}

// drainReader takes and acks everything r has pending, in order.
func drainReader(t testing.TB, r *Reader) [][]byte {
	t.Helper()
	var out [][]byte
	for r.Stats().LagRecords > 0 {
		b := nextOf(t, r, 1000)
		out = append(out, b.Records...)
		if err := r.Ack(b); err != nil {
			t.Fatalf("Ack %s: %v", r.Name(), err)
		}
	}
	return out
}

func ack(t testing.TB, r *Reader, b *Batch) {
	t.Helper()
	if err := r.Ack(b); err != nil {
		t.Fatalf("Ack %s: %v", r.Name(), err)
	}
}

func req(name string) ReaderSpec { return ReaderSpec{Name: name, Required: true} }

// Two required readers each get every record once, at their own pace, and
// a segment goes only once both acked all of it.
func TestRequiredReadersEachGetEverything(t *testing.T) {
	dir := t.TempDir()
	size := int64(frameHeader + len(record(0)))
	s := openSpool(t, Options{Dir: dir, SegmentBytes: 10 * size, Readers: []ReaderSpec{req("a"), req("b")}})
	a, b := s.Reader("a"), s.Reader("b")
	appendN(t, s, 0, 35) // segments of 10, 10, 10, 5
	wantRecords(t, drainReader(t, a), 0, 35)
	if got := len(segmentFiles(t, dir)); got != 4 {
		t.Fatalf("%d segment files after only a acked, want all 4 (b holds them)", got)
	}
	if st := s.Stats(); st.Records != 35 || st.Bytes != 35*size {
		t.Fatalf("Stats = %+v, want b's 35 records pending", st)
	}
	if st := a.Stats(); st.LagRecords != 0 || st.LagBytes != 0 || !st.Oldest.IsZero() {
		t.Fatalf("a.Stats = %+v, want nothing", st)
	}
	first := nextOf(t, b, 15)
	wantRecords(t, first.Records, 0, 15)
	ack(t, b, first)
	if got := len(segmentFiles(t, dir)); got != 3 {
		t.Fatalf("%d segment files after b acked the first segment, want 3", got)
	}
	if st := b.Stats(); st.LagRecords != 20 || st.LagBytes != 20*size || st.Oldest.IsZero() {
		t.Fatalf("b.Stats = %+v, want 20 records behind", st)
	}
	wantRecords(t, drainReader(t, b), 15, 20)
	if got := len(segmentFiles(t, dir)); got != 1 {
		t.Fatalf("%d segment files after both acked everything, want the active one", got)
	}
	if st := s.Stats(); st.Records != 0 || st.Bytes != 0 || !st.Oldest.IsZero() {
		t.Fatalf("Stats = %+v, want nothing pending", st)
	}
	if err := b.Ack(first); err == nil {
		t.Fatal("a second Ack of a batch succeeded")
	}
	if err := a.Ack(first); err == nil {
		t.Fatal("a reader acked a batch another reader was handed")
	}
}

// A required reader that holds the spool full pushes back even when
// another reader is up to date.
func TestRequiredReaderPushesBack(t *testing.T) {
	size := int64(frameHeader + len(record(0)))
	s := openSpool(t, Options{Dir: t.TempDir(), SegmentBytes: 4 * size, MaxBytes: 10 * size,
		Readers: []ReaderSpec{req("fast"), req("slow"), {Name: "opt"}}})
	appendN(t, s, 0, 10)
	drainReader(t, s.Reader("fast"))
	drainReader(t, s.Reader("opt"))
	if err := s.Append(record(10)); !errors.Is(err, ingest.ErrFull) {
		t.Fatalf("Append with slow holding the spool = %v, want ErrFull", err)
	}
	wantRecords(t, drainReader(t, s.Reader("slow")), 0, 10)
	appendN(t, s, 10, 5)
}

// Cursors are kept per reader across a Close; a reader added later starts
// at the oldest record still in the spool, and the cursor of a reader no
// longer configured is dropped with a log line.
func TestReaderCursorsAcrossReopen(t *testing.T) {
	dir := t.TempDir()
	size := int64(frameHeader + len(record(0)))
	opts := Options{Dir: dir, SegmentBytes: 10 * size, Readers: []ReaderSpec{req("a"), req("b")}}
	s := openSpool(t, opts)
	appendN(t, s, 0, 30)
	a, b := s.Reader("a"), s.Reader("b")
	ack(t, a, nextOf(t, a, 12))
	nextOf(t, a, 5) // handed out, never acked: a gets it again
	b1, b2, b3 := nextOf(t, b, 4), nextOf(t, b, 4), nextOf(t, b, 4)
	ack(t, b, b1)
	ack(t, b, b3) // out of order: b2 comes back, and b3 with it
	_ = b2
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s = openSpool(t, opts)
	wantRecords(t, drainReader(t, s.Reader("a")), 12, 18)
	wantRecords(t, drainReader(t, s.Reader("b")), 4, 26)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Everything acked: nothing comes back to either.
	s = openSpool(t, opts)
	appendN(t, s, 30, 5)
	ack(t, s.Reader("a"), nextOf(t, s.Reader("a"), 2))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	var logs testenv.SyncBuffer
	opts.Readers = []ReaderSpec{req("a"), req("c")}
	opts.Logger = jsonLogger(&logs)
	s = openSpool(t, opts)
	wantRecords(t, drainReader(t, s.Reader("a")), 32, 3)
	wantRecords(t, drainReader(t, s.Reader("c")), 30, 5) // what b had not acked is still there
	if !strings.Contains(logs.String(), `"reader":"b"`) || !strings.Contains(logs.String(), "no longer configured") {
		t.Fatalf("the dropped cursor of b was not logged:\n%s", logs.String())
	}
	data, err := os.ReadFile(filepath.Join(dir, cursorsName))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(data, []byte("b segment")) {
		t.Fatalf("the cursors file still holds b:\n%s", data)
	}
}

// testdata/v1-single-cursor was written by the spool before it had named
// readers: records 0..24 in segments of 10 records, 0..12 acked (the
// first segment deleted) and 13..16 handed out, never acked; its one
// cursor file says segment 2, offset 165. Every reader starts there.
func TestSingleCursorIsEveryReadersCursor(t *testing.T) {
	dir := testenv.CopyDir(t, "testdata/v1-single-cursor")
	size := int64(frameHeader + len(record(0)))
	opts := Options{Dir: dir, SegmentBytes: 10 * size, Readers: []ReaderSpec{req("influx"), {Name: "vm", MaxLag: 1 << 20}}}
	s := openSpool(t, opts)
	if st := s.Stats(); st.Records != 12 {
		t.Fatalf("Stats = %+v, want the 12 records after the cursor", st)
	}
	wantRecords(t, drainReader(t, s.Reader("influx")), 13, 12)
	vm := s.Reader("vm")
	first := nextOf(t, vm, 3)
	wantRecords(t, first.Records, 13, 3)
	ack(t, vm, first)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openSpool(t, opts)
	if st := s.Reader("influx").Stats(); st.LagRecords != 0 {
		t.Fatalf("influx after reopen: %+v, want nothing", st)
	}
	wantRecords(t, drainReader(t, s.Reader("vm")), 16, 9)
}

func TestBadReaders(t *testing.T) {
	for _, rs := range [][]ReaderSpec{
		{req("a"), req("a")},
		{req("")},
		{req("two words")},
		{{Name: "x", MaxLag: -1}},
	} {
		if s, err := Open(Options{Dir: t.TempDir(), Readers: rs}); err == nil {
			s.Close()
			t.Errorf("Open with readers %+v succeeded", rs)
		}
	}
}
