package spool

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqflux/mqflux/flow/ingest"
)

func TestRoundTripAcrossReopen(t *testing.T) {
	for _, d := range []Durability{Write, Fsync} {
		t.Run(d.String(), func(t *testing.T) {
			dir := t.TempDir()
			s := openSpool(t, Options{Dir: dir, Durability: d})
			appendN(t, s, 0, 100)
			if st := s.Stats(); st.Records != 100 || st.Segments != 1 {
				t.Fatalf("Stats = %+v, want 100 records in 1 segment", st)
			}
			b := next(t, s, 30, 1<<20, 0)
			wantRecords(t, b.Records, 0, 30)
			if err := only(s).Ack(b); err != nil {
				t.Fatal(err)
			}
			b = next(t, s, 30, 1<<20, 0) // handed out, never acked: comes back after reopen
			wantRecords(t, b.Records, 30, 30)
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}

			s = openSpool(t, Options{Dir: dir, Durability: d})
			if st := s.Stats(); st.Records != 70 {
				t.Fatalf("after reopen Stats = %+v, want 70 records", st)
			}
			wantRecords(t, drainAll(t, s), 30, 70)
			if st := s.Stats(); st.Records != 0 || st.Bytes != 0 {
				t.Fatalf("drained Stats = %+v", st)
			}
		})
	}
}

func TestNextLimits(t *testing.T) {
	s := openSpool(t, Options{Dir: t.TempDir()})
	appendN(t, s, 0, 50)
	size := len(record(0))
	tests := []struct {
		name       string
		maxRecords int
		maxBytes   int
		want       int
	}{
		{"records", 7, 1 << 20, 7},
		{"bytes", 1000, 3*size + size/2, 3},
		{"one record larger than maxBytes travels alone", 1000, 1, 1},
		{"the rest", 1000, 1 << 20, 50 - 7 - 3 - 1},
	}
	from := 0
	for _, tt := range tests {
		b := next(t, s, tt.maxRecords, tt.maxBytes, 0)
		wantRecords(t, b.Records, from, tt.want)
		from += tt.want
		if err := only(s).Ack(b); err != nil {
			t.Fatal(err)
		}
	}
}

func TestNextBlocksAndLingers(t *testing.T) {
	s := openSpool(t, Options{Dir: t.TempDir()})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := only(s).Next(ctx, 10, 1<<20, 0); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Next on an empty spool = %v, want deadline exceeded", err)
	}

	got := make(chan *Batch)
	go func() {
		b, err := only(s).Next(context.Background(), 5, 1<<20, time.Minute)
		if err != nil {
			t.Error(err)
		}
		got <- b
	}()
	// The lingering Next must return as soon as its 5 records are there,
	// long before its minute is up.
	for i := range 5 {
		if err := s.Append(record(i)); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case b := <-got:
		wantRecords(t, b.Records, 0, 5)
	case <-time.After(30 * time.Second):
		t.Fatal("Next did not return once maxRecords were available")
	}
}

func TestConcurrentNextDisjoint(t *testing.T) {
	s := openSpool(t, Options{Dir: t.TempDir(), SegmentBytes: 4096})
	const n = 5000
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	seen := make(chan []byte, n)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				b, err := only(s).Next(ctx, 17, 1<<20, time.Millisecond)
				if err != nil {
					return
				}
				for _, r := range b.Records {
					seen <- r
				}
				if err := only(s).Ack(b); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	var appenders sync.WaitGroup
	for w := range 4 {
		appenders.Add(1)
		go func() {
			defer appenders.Done()
			for i := w; i < n; i += 4 {
				if err := s.Append(record(i)); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	appenders.Wait()
	count := map[string]int{}
	deadline := time.After(30 * time.Second)
	for len(count) < n {
		select {
		case r := <-seen:
			count[string(r)]++
		case <-deadline:
			t.Fatalf("got %d distinct records, want %d", len(count), n)
		}
	}
	cancel()
	wg.Wait()
	close(seen)
	for r := range seen {
		count[string(r)]++
	}
	for i := range n {
		if c := count[string(record(i))]; c != 1 {
			t.Fatalf("record %d handed out %d times", i, c)
		}
	}
	if st := s.Stats(); st.Records != 0 || st.Segments != 1 {
		t.Fatalf("Stats = %+v, want nothing pending and only the active segment", st)
	}
}

func segmentFiles(t testing.TB, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "*.seg"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestSegmentRollAndOutOfOrderAck(t *testing.T) {
	dir := t.TempDir()
	size := int64(frameHeader + len(record(0)))
	s := openSpool(t, Options{Dir: dir, SegmentBytes: 10 * size})
	appendN(t, s, 0, 35) // 10 + 10 + 10 + 5
	if got := len(segmentFiles(t, dir)); got != 4 {
		t.Fatalf("%d segment files, want 4", got)
	}
	var batches []*Batch
	for range 7 {
		batches = append(batches, next(t, s, 5, 1<<20, 0))
	}
	// Ack the second half of every full segment first: nothing can go yet.
	for _, i := range []int{1, 3, 5} {
		if err := only(s).Ack(batches[i]); err != nil {
			t.Fatal(err)
		}
	}
	if got := len(segmentFiles(t, dir)); got != 4 {
		t.Fatalf("%d segment files after partial acks, want 4", got)
	}
	if err := only(s).Ack(batches[2]); err != nil {
		t.Fatal(err)
	}
	files := segmentFiles(t, dir)
	if len(files) != 3 || filepath.Base(files[0]) != segmentName(1) {
		t.Fatalf("segment files %v: want the second one deleted", files)
	}
	if err := only(s).Ack(batches[2]); err == nil {
		t.Fatal("second Ack of one batch succeeded")
	}
	for _, i := range []int{0, 4, 6} {
		if err := only(s).Ack(batches[i]); err != nil {
			t.Fatal(err)
		}
	}
	// The active segment stays: it is still appended to.
	if got := len(segmentFiles(t, dir)); got != 1 {
		t.Fatalf("%d segment files after all acks, want 1", got)
	}
	if st := s.Stats(); st.Records != 0 || st.Bytes != 0 || st.Segments != 1 {
		t.Fatalf("Stats = %+v", st)
	}
}

func TestFullAndSpaceComesBack(t *testing.T) {
	size := int64(frameHeader + len(record(0)))
	s := openSpool(t, Options{Dir: t.TempDir(), SegmentBytes: 4 * size, MaxBytes: 10 * size})
	appendN(t, s, 0, 10)
	err := s.Append(record(10))
	if !errors.Is(err, ingest.ErrFull) {
		t.Fatalf("Append past MaxBytes = %v, want ErrFull", err)
	}
	b := next(t, s, 3, 1<<20, 0)
	if err := only(s).Ack(b); err != nil {
		t.Fatal(err)
	}
	// Three acked records are not enough: the segment holding them has a fourth.
	if err := s.Append(record(10)); !errors.Is(err, ingest.ErrFull) {
		t.Fatalf("Append before a segment was freed = %v, want ErrFull", err)
	}
	b = next(t, s, 1, 1<<20, 0)
	if err := only(s).Ack(b); err != nil {
		t.Fatal(err)
	}
	appendN(t, s, 10, 4)
	if err := s.Append(record(14)); !errors.Is(err, ingest.ErrFull) {
		t.Fatalf("Append past MaxBytes again = %v, want ErrFull", err)
	}
	wantRecords(t, drainAll(t, s), 4, 10)
}

func TestCloseSemantics(t *testing.T) {
	dir := t.TempDir()
	s, err := Open(Options{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Open(Options{Dir: dir}); err == nil {
		t.Fatal("a second Open of a directory in use succeeded")
	}
	appendN(t, s, 0, 10)
	b := next(t, s, 4, 1<<20, 0)

	blocked := make(chan error)
	appendN(t, s, 10, 0)
	go func() {
		_, err := only(s).Next(context.Background(), 100, 1<<20, time.Hour) // lingers on 6 records
		blocked <- err
	}()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-blocked:
		if !errors.Is(err, ErrClosed) {
			t.Fatalf("lingering Next after Close = %v, want ErrClosed", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Close did not release a waiting Next")
	}
	if err := s.Append(record(99)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close = %v, want ErrClosed", err)
	}
	if _, err := only(s).Next(context.Background(), 1, 1, 0); !errors.Is(err, ErrClosed) {
		t.Fatalf("Next after Close = %v, want ErrClosed", err)
	}
	if err := only(s).Ack(b); !errors.Is(err, ErrClosed) {
		t.Fatalf("Ack after Close = %v, want ErrClosed", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}

	s = openSpool(t, Options{Dir: dir})
	wantRecords(t, drainAll(t, s), 0, 10)
}

func TestResumePointSkipsAckedRecords(t *testing.T) {
	dir := t.TempDir()
	s := openSpool(t, Options{Dir: dir})
	appendN(t, s, 0, 20)
	b1 := next(t, s, 5, 1<<20, 0)
	b2 := next(t, s, 5, 1<<20, 0)
	b3 := next(t, s, 5, 1<<20, 0)
	if err := only(s).Ack(b1); err != nil {
		t.Fatal(err)
	}
	if err := only(s).Ack(b3); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openSpool(t, Options{Dir: dir})
	// b2 was not acked: everything from it on comes back, b3 included.
	wantRecords(t, drainAll(t, s), 5, 15)
	_ = b2
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// All acked: nothing comes back, and no segment file is left over.
	s = openSpool(t, Options{Dir: dir})
	if st := s.Stats(); st.Records != 0 || st.Segments != 1 || len(segmentFiles(t, dir)) != 1 {
		t.Fatalf("after a drained Close: Stats = %+v, files %v", st, segmentFiles(t, dir))
	}
}

func TestBadArguments(t *testing.T) {
	if _, err := ParseDurability("sometimes"); err == nil || !containsAll(err.Error(), "write", "fsync", "sometimes") {
		t.Fatalf("ParseDurability error = %v, want it to name the allowed values", err)
	}
	for _, in := range []string{"write", "fsync"} {
		d, err := ParseDurability(in)
		if err != nil || d.String() != in {
			t.Fatalf("ParseDurability(%q) = %v, %v", in, d, err)
		}
	}
	if _, err := Open(Options{}); err == nil {
		t.Fatal("Open without Dir succeeded")
	}
	s := openSpool(t, Options{Dir: t.TempDir()})
	if err := s.Append(nil); err == nil {
		t.Fatal("Append of an empty record succeeded")
	}
	if err := s.Append(make([]byte, MaxRecordBytes+1)); err == nil || errors.Is(err, ingest.ErrFull) {
		t.Fatalf("Append of an oversized record = %v", err)
	}
	if _, err := only(s).Next(context.Background(), 0, 1, 0); err == nil {
		t.Fatal("Next with maxRecords 0 succeeded")
	}
	if err := only(s).Ack(&Batch{}); err == nil {
		t.Fatal("Ack of a foreign batch succeeded")
	}
	if _, err := os.Stat(filepath.Join(s.dir, segmentName(1))); err != nil {
		t.Fatal(err)
	}
}

func containsAll(s string, subs ...string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// TestGroupCommit: concurrent Appends in Fsync mode share fsyncs, and each
// returns only after one covering its record (checked by the crash test; here
// that the sharing happens at all).
func TestGroupCommit(t *testing.T) {
	s := openSpool(t, Options{Dir: t.TempDir(), Durability: Fsync})
	const writers, each = 64, 20
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				if err := s.Append(record(w*each + i)); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	s.mu.Lock()
	fsyncs, synced := s.sl.Fsyncs(), s.sl.Synced()
	s.mu.Unlock()
	if !synced {
		t.Fatal("written bytes not covered by an fsync after every Append returned")
	}
	if fsyncs == 0 || fsyncs >= writers*each/2 {
		t.Fatalf("%d fsyncs for %d concurrent appends: not grouped", fsyncs, writers*each)
	}
	t.Logf("%d appends, %d fsyncs", writers*each, fsyncs)
	if got := len(drainAll(t, s)); got != writers*each {
		t.Fatalf("%d records, want %d", got, writers*each)
	}
}
