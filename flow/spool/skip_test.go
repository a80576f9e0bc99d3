package spool

import (
	"bufio"
	"context"
	"encoding/json"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/mqflux/mqflux/internal/testenv"
)

// skippedInLog sums the counts of the skip lines of reader name.
func skippedInLog(t *testing.T, logs string, name string) (total int64, lines int) {
	t.Helper()
	sc := bufio.NewScanner(strings.NewReader(logs))
	for sc.Scan() {
		var l struct {
			Msg     string
			Reader  string
			Records int64
		}
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		if l.Reader == name && (strings.Contains(l.Msg, "skipping ahead") || strings.Contains(l.Msg, "gave up a batch")) {
			total += l.Records
			lines++
		}
	}
	return total, lines
}

// An optional reader that stops reading falls behind at most its MaxLag
// (or the spool's size), never pushes back, and counts exactly what it
// skipped: what it acked, what it skipped and what it gets afterwards add
// up to every record, once. A batch it had out when it skipped is its
// writer's to settle: a late Ack counts it stored, nothing else changes.
func TestOptionalReaderSkipsAhead(t *testing.T) {
	size := int64(frameHeader + len(record(0)))
	tests := []struct {
		name     string
		maxLag   int64
		maxBytes int64
	}{
		{"past max_lag", 25 * size, 1 << 30},
		{"spool full, no max_lag", 0, 12 * size},
		{"spool full before max_lag", 1000 * size, 12 * size},
	}
	const n = 200
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var logs testenv.SyncBuffer
			s := openSpool(t, Options{Dir: t.TempDir(), SegmentBytes: 4 * size, MaxBytes: tt.maxBytes, Logger: jsonLogger(&logs),
				Readers: []ReaderSpec{req("req"), {Name: "opt", MaxLag: tt.maxLag}}})
			rq, opt := s.Reader("req"), s.Reader("opt")
			appendN(t, s, 0, 6)
			x, y := nextOf(t, opt, 3), nextOf(t, opt, 2) // x stays out, y is acked
			ack(t, opt, y)
			for i := 6; i < n; i++ {
				appendN(t, s, i, 1) // fails the test on ErrFull
				drainReader(t, rq)
				if st := opt.Stats(); tt.maxLag > 0 && st.LagBytes > tt.maxLag {
					t.Fatalf("after record %d opt is %d bytes behind, over its max_lag %d", i, st.LagBytes, tt.maxLag)
				}
			}
			before := opt.Stats()
			if before.Skipped == 0 {
				t.Fatalf("opt skipped nothing: %+v", before)
			}
			if !x.Skipped() {
				t.Fatal("the batch opt had out is not marked skipped")
			}
			if err := opt.Ack(x); err != nil {
				t.Fatalf("late Ack of a skipped batch: %v", err)
			}
			if after := opt.Stats(); after != before {
				t.Fatalf("a late Ack of a skipped batch changed the stats: %+v, then %+v", before, after)
			}
			if err := opt.GiveUp(x); err == nil {
				t.Fatal("GiveUp of a batch acked already succeeded")
			}
			got := drainReader(t, opt)
			if int64(len(got)) != before.LagRecords {
				t.Fatalf("opt got %d records, its stats said %d", len(got), before.LagRecords)
			}
			wantRecords(t, got, n-len(got), len(got))
			if sum := before.Skipped + 2 + 3 + int64(len(got)); sum != n {
				t.Fatalf("skipped %d + acked 2 + acked late 3 + got %d = %d, want %d", before.Skipped, len(got), sum, n)
			}
			logged, lines := skippedInLog(t, logs.String(), "opt")
			if logged != before.Skipped || lines == 0 {
				t.Fatalf("the log counts %d skipped records in %d lines, the stats %d", logged, lines, before.Skipped)
			}
			if st := s.Stats(); st.Records != 0 || st.Segments != 1 {
				t.Fatalf("Stats = %+v, want every segment but the active one deleted", st)
			}
		})
	}
}

// A skip lands on a record boundary the spool knows: the start of a
// segment, or the end of the newest record. The count stays exact when the
// reader was part way through a segment with batches acked out of order.
func TestSkipCountsPartlyReadSegment(t *testing.T) {
	size := int64(frameHeader + len(record(0)))
	s := openSpool(t, Options{Dir: t.TempDir(), SegmentBytes: 10 * size, MaxBytes: 30 * size,
		Readers: []ReaderSpec{req("req"), {Name: "opt"}}})
	rq, opt := s.Reader("req"), s.Reader("opt")
	appendN(t, s, 0, 30) // three full segments: the spool is full
	b1, b2, b3 := nextOf(t, opt, 3), nextOf(t, opt, 3), nextOf(t, opt, 3)
	ack(t, opt, b2) // 3 of the 9 records handed out are acked
	drainReader(t, rq)
	appendN(t, s, 30, 1) // opt holds the first segment: it skips to the second
	st := opt.Stats()
	if st.Skipped != 10-9 {
		t.Fatalf("opt skipped %d records, want 1 (10 in the first segment, 9 of them handed out)", st.Skipped)
	}
	select {
	case <-b1.Dropped():
	default:
		t.Fatal("b1.Dropped() is not closed after the skip")
	}
	if err := opt.GiveUp(b2); err == nil {
		t.Fatal("GiveUp of an acked batch succeeded")
	}
	if err := opt.GiveUp(b1); err != nil {
		t.Fatalf("GiveUp(b1): %v", err)
	}
	if got := opt.Stats().Skipped; got != 4 {
		t.Fatalf("after giving b1 up opt skipped %d, want 4", got)
	}
	if !b1.Skipped() || b2.Skipped() || !b3.Skipped() {
		t.Fatalf("Skipped() = %v, %v, %v; want the two unacked batches skipped, the acked one not",
			b1.Skipped(), b2.Skipped(), b3.Skipped())
	}
	wantRecords(t, drainReader(t, opt), 10, 21)
	if err := opt.Ack(b3); err != nil {
		t.Fatalf("late Ack: %v", err)
	}
	if got := opt.Stats(); got.LagRecords != 0 || got.Skipped != 4 {
		t.Fatalf("after a late Ack: %+v", got)
	}
}

// Skips that land while an optional reader's writers are reading or
// holding batches keep the count exact: every record is acked (stored, in
// time or late), skipped (jumped over, or in a batch given up), or still
// pending, exactly once.
func TestSkipWhileReading(t *testing.T) {
	size := int64(frameHeader + len(record(0)))
	s := openSpool(t, Options{Dir: t.TempDir(), SegmentBytes: 8 * size, MaxBytes: 1 << 30,
		Readers: []ReaderSpec{req("req"), {Name: "opt", MaxLag: 40 * size}}})
	rq, opt := s.Reader("req"), s.Reader("opt")
	const n = 20000
	ctx, cancel := context.WithCancel(context.Background())
	var counted atomic.Int64
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				b, err := opt.Next(ctx, 7, 1<<20, 0)
				if err != nil {
					return
				}
				runtime.Gosched() // let appends, and skips, land while the batch is out
				// Every other batch a skip dropped is given up, the rest
				// stored late: both keep the count exact.
				if b.Skipped() && len(b.Records)%2 == 0 {
					if err := opt.GiveUp(b); err != nil {
						t.Errorf("GiveUp: %v", err)
						return
					}
					continue
				}
				if err := opt.Ack(b); err != nil {
					t.Errorf("Ack: %v", err)
					return
				}
				counted.Add(int64(len(b.Records)))
			}
		}()
	}
	for i := 0; i < n; i++ {
		appendN(t, s, i, 1)
		if i%100 == 0 {
			drainReader(t, rq)
		}
	}
	cancel()
	wg.Wait()
	st := opt.Stats()
	if st.Skipped == 0 {
		t.Fatal("nothing was skipped; the test did not exercise a skip")
	}
	if sum := counted.Load() + st.Skipped + st.LagRecords; sum != n {
		t.Fatalf("acked %d + skipped %d + pending %d = %d, want %d", counted.Load(), st.Skipped, st.LagRecords, sum, n)
	}
}

// A full spool pushes back only for what required readers hold: a newer
// segment only an optional reader still needs is freed by skipping it,
// even while a required reader holds an older one.
func TestFullSkipsOptionalPastNewerSegment(t *testing.T) {
	dir := t.TempDir()
	size := int64(frameHeader + len(record(0)))
	s := openSpool(t, Options{Dir: dir, SegmentBytes: 10 * size, MaxBytes: 30 * size,
		Readers: []ReaderSpec{req("req"), {Name: "opt"}}})
	rq, opt := s.Reader("req"), s.Reader("opt")
	appendN(t, s, 0, 30)
	first, second := nextOf(t, rq, 10), nextOf(t, rq, 10)
	ack(t, rq, second) // req holds the first segment only
	appendN(t, s, 30, 1)
	if st := opt.Stats(); st.Skipped != 20 || st.LagRecords != 11 {
		t.Fatalf("opt %+v, want the 20 records of the first two segments skipped and 11 pending", st)
	}
	if files := segmentFiles(t, dir); len(files) != 3 || filepath.Base(files[0]) != segmentName(1) {
		t.Fatalf("segment files %v, want the second one deleted and the first kept for req", files)
	}
	// Byte positions stay true across the gap the second segment left.
	s.mu.Lock()
	base1 := s.baseOf(s.sl.Segments()[0])
	s.mu.Unlock()
	if st := rq.Stats(); base1 != 0 || st.LagBytes != 21*size {
		t.Fatalf("the first segment starts at byte %d, want 0; req is %d bytes behind, want %d", base1, st.LagBytes, 21*size)
	}
	ack(t, rq, first)
	wantRecords(t, drainReader(t, rq), 20, 11)
	wantRecords(t, drainReader(t, opt), 20, 11)
}
