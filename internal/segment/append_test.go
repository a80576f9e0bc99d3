package segment

import (
	"bytes"
	"path/filepath"
	"sync"
	"testing"
)

func TestFrameRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		buf  func(frame []byte) []byte
		want Status
	}{
		{"whole", func(f []byte) []byte { return f }, OK},
		{"header only", func(f []byte) []byte { return f[:FrameHeader] }, Short},
		{"half a header", func(f []byte) []byte { return f[:3] }, Short},
		{"zero length", func(f []byte) []byte { return make([]byte, len(f)) }, BadLength},
		{"flipped payload", func(f []byte) []byte { f[FrameHeader] ^= 1; return f }, BadChecksum},
		{"flipped length", func(f []byte) []byte { f[0] ^= 1; return f }, BadChecksum},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			frame := AppendFrame(nil, []byte("hello, world\n"))
			rec, _, st := DecodeFrame(tt.buf(frame))
			if st != tt.want {
				t.Fatalf("status %v, want %v", st, tt.want)
			}
			if st == OK && string(rec) != "hello, world\n" {
				t.Fatalf("record %q", rec)
			}
		})
	}
}

func TestRollAndRemove(t *testing.T) {
	dir := t.TempDir()
	frame := int64(FrameHeader + len(record(0)))
	o := openOwner(t, Options{Dir: dir, SegmentBytes: 10 * frame})
	o.append(t, records(0, 35)...) // 10 + 10 + 10 + 5
	files, _ := filepath.Glob(filepath.Join(dir, "*.seg"))
	if len(files) != 4 {
		t.Fatalf("segment files %v, want 4", files)
	}
	o.mu.Lock()
	var seqs []uint64
	for _, g := range o.l.Segments() {
		seqs = append(seqs, g.Seq)
	}
	disk, next := o.l.DiskBytes(), o.l.NextSeq()
	o.mu.Unlock()
	if want := []uint64{1, 11, 21, 31}; !equal(seqs, want) || disk != 35*frame || next != 36 {
		t.Fatalf("seqs %v disk %d next %d; want %v, %d, 36", seqs, disk, next, want, 35*frame)
	}
	wantRecords(t, o.drain(t), 0, 35)
	files, _ = filepath.Glob(filepath.Join(dir, "*.seg"))
	o.mu.Lock()
	disk = o.l.DiskBytes()
	o.mu.Unlock()
	// The active segment stays: it is still appended to.
	if len(files) != 1 || disk != 5*frame {
		t.Fatalf("after acking everything: files %v, %d bytes; want the active one", files, disk)
	}
}

func equal(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// Fits refuses past MaxBytes, and seals the active segment once all of it
// is acknowledged, so a segment as large as the whole log cannot refuse
// forever.
func TestFitsSealsAcknowledgedActive(t *testing.T) {
	frame := int64(FrameHeader + len(record(0)))
	o := openOwner(t, Options{Dir: t.TempDir(), SegmentBytes: 4 * frame, MaxBytes: 4 * frame})
	o.append(t, records(0, 4)...)
	o.mu.Lock()
	fits, err := o.l.Fits(len(record(4)))
	o.mu.Unlock()
	if err != nil || fits {
		t.Fatalf("Fits on a full log = %v, %v; want false", fits, err)
	}
	wantRecords(t, o.drain(t), 0, 4)
	o.mu.Lock()
	fits, err = o.l.Fits(len(record(4)))
	disk := o.l.DiskBytes()
	o.mu.Unlock()
	if err != nil || !fits || disk != 0 {
		t.Fatalf("Fits after acking everything = %v, %v with %d bytes on disk; want true and 0", fits, err, disk)
	}
	o.append(t, record(4))
	wantRecords(t, o.drain(t), 4, 1)
}

// TestGroupCommit: concurrent appends under Fsync share fsyncs, and each
// returns only after one covering its record (the kill test checks that the
// records survive; here that the sharing happens at all).
func TestGroupCommit(t *testing.T) {
	o := openOwner(t, Options{Dir: t.TempDir(), Durability: Fsync})
	const writers, each = 64, 20
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				o.append(t, record(w*each+i))
			}
		}()
	}
	wg.Wait()
	o.mu.Lock()
	fsyncs, synced := o.l.Fsyncs(), o.l.Synced()
	o.mu.Unlock()
	if !synced {
		t.Fatal("written bytes not covered by an fsync after every append returned")
	}
	if fsyncs == 0 || fsyncs >= writers*each/2 {
		t.Fatalf("%d fsyncs for %d concurrent appends: not grouped", fsyncs, writers*each)
	}
	if got := len(o.drain(t)); got != writers*each {
		t.Fatalf("%d records, want %d", got, writers*each)
	}
}

// Interval leaves syncing to the owner's timer: Sync covers what was
// written; under Write it does nothing and reports no error.
func TestSyncPerDurability(t *testing.T) {
	for _, d := range []Durability{Write, Interval, Fsync} {
		t.Run(d.String(), func(t *testing.T) {
			o := openOwner(t, Options{Dir: t.TempDir(), Durability: d})
			o.append(t, records(0, 3)...)
			o.mu.Lock()
			defer o.mu.Unlock()
			if d == Write && o.l.Synced() {
				t.Fatal("Write fsynced on its own")
			}
			if err := o.l.Sync(); err != nil {
				t.Fatal(err)
			}
			if got := o.l.Synced(); got != (d != Write) {
				t.Fatalf("after Sync synced = %v", got)
			}
		})
	}
}

func TestWriteRefusesBadRecords(t *testing.T) {
	o := openOwner(t, Options{Dir: t.TempDir()})
	o.mu.Lock()
	defer o.mu.Unlock()
	for _, rec := range [][]byte{nil, bytes.Repeat([]byte("x"), MaxRecordBytes+1)} {
		if _, _, err := o.l.Write(rec); err == nil {
			t.Fatalf("Write of %d bytes succeeded", len(rec))
		}
	}
}

// TestWriteBatch: a batch's records are read back in order, numbered
// consecutively, across segments when a batch does not fit in the rest of
// one or is larger than a whole segment, and survive a reopen.
func TestWriteBatch(t *testing.T) {
	frame := int64(FrameHeader + len(record(0)))
	tests := []struct {
		name     string
		batches  []int // records per WriteBatch
		segments int   // segment files afterwards
	}{
		{"one batch in one segment", []int{7}, 1},
		{"second batch starts a new segment", []int{6, 6}, 2},
		{"batch larger than a segment", []int{25}, 3},
		{"single records", []int{1, 1, 1}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			o := openOwner(t, Options{Dir: dir, SegmentBytes: 10 * frame})
			n := 0
			for _, k := range tt.batches {
				o.mu.Lock()
				g, pos, err := o.l.WriteBatch(records(n, k))
				next := o.l.NextSeq()
				o.mu.Unlock()
				if err != nil {
					t.Fatalf("WriteBatch: %v", err)
				}
				n += k
				if last := g.Seq + uint64(g.Records) - 1; last != uint64(n) || next != uint64(n+1) {
					t.Fatalf("last record %d, next %d; want %d, %d", last, next, n, n+1)
				}
				if pos != int64(n)*frame {
					t.Fatalf("position %d, want %d", pos, int64(n)*frame)
				}
			}
			if files, _ := filepath.Glob(filepath.Join(dir, "*.seg")); len(files) != tt.segments {
				t.Fatalf("segment files %v, want %d", files, tt.segments)
			}
			if err := o.close(); err != nil {
				t.Fatal(err)
			}
			o = openOwner(t, Options{Dir: dir, SegmentBytes: 10 * frame})
			wantRecords(t, o.drain(t), 0, n)
		})
	}
}

// TestWriteBatchRefusesBadRecords: nothing of a batch with an empty record
// is written.
func TestWriteBatchRefusesBadRecords(t *testing.T) {
	o := openOwner(t, Options{Dir: t.TempDir()})
	o.mu.Lock()
	_, _, err := o.l.WriteBatch([][]byte{record(0), nil})
	next := o.l.NextSeq()
	o.mu.Unlock()
	if err == nil || next != 1 {
		t.Fatalf("WriteBatch with an empty record: err %v, next seq %d; want an error and 1", err, next)
	}
}
