package spool

import (
	"errors"
	"testing"

	"github.com/mqflux/mqflux/flow/ingest"
	"github.com/mqflux/mqflux/internal/segment"
)

// TestAppendBatch: a batch's records come out in order after single
// appends, under both durabilities; a batch the spool has no room for is
// refused whole, with HasRoom saying so beforehand.
func TestAppendBatch(t *testing.T) {
	for _, dur := range []Durability{Write, Fsync} {
		t.Run(dur.String(), func(t *testing.T) {
			s := openSpool(t, Options{Dir: t.TempDir(), Durability: dur})
			appendN(t, s, 0, 3)
			var batch [][]byte
			for i := 3; i < 10; i++ {
				batch = append(batch, record(i))
			}
			if err := s.AppendBatch(batch); err != nil {
				t.Fatalf("AppendBatch: %v", err)
			}
			wantRecords(t, drainAll(t, s), 0, 10)
		})
	}
}

func TestAppendBatchFull(t *testing.T) {
	const size = 64 << 10
	s := openSpool(t, Options{Dir: t.TempDir(), MaxBytes: size, SegmentBytes: size})
	frame := segment.FrameHeader + len(record(0))
	room := size / frame
	appendN(t, s, 0, room-5)
	if !s.HasRoom(5 * frame) {
		t.Fatal("HasRoom: no room for the last five records")
	}
	if s.HasRoom(6 * frame) {
		t.Fatal("HasRoom: room for six records where five fit")
	}
	var batch [][]byte
	for i := room - 5; i < room+1; i++ {
		batch = append(batch, record(i))
	}
	if err := s.AppendBatch(batch); !errors.Is(err, ingest.ErrFull) {
		t.Fatalf("AppendBatch of six records with room for five: %v, want ErrFull", err)
	}
	if err := s.AppendBatch(batch[:5]); err != nil {
		t.Fatalf("AppendBatch of the five that fit: %v", err)
	}
	wantRecords(t, drainAll(t, s), 0, room)
}
