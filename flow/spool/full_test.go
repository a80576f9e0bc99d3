package spool

import (
	"errors"
	"testing"

	"github.com/mqflux/mqflux/flow/ingest"
)

// A spool whose one segment is as large as the whole spool fills, pushes
// back, and must take records again once everything was acked: the active
// segment's acked bytes used to count against MaxBytes forever, because
// only an Append that fits seals (and so deletes) a segment.
func TestFullSpoolRecoversWhenSegmentIsAsLargeAsSpool(t *testing.T) {
	const size = 64 << 10 // config.yaml's smallest segment_bytes, and max_bytes may equal it
	for _, dur := range []Durability{Write, Fsync} {
		t.Run(dur.String(), func(t *testing.T) {
			s := openSpool(t, Options{Dir: t.TempDir(), MaxBytes: size, SegmentBytes: size, Durability: dur})
			fill := func(from int) int {
				n := from
				for ; ; n++ {
					err := s.Append(record(n))
					if errors.Is(err, ingest.ErrFull) {
						return n - from
					}
					if err != nil {
						t.Fatalf("Append %d: %v", n, err)
					}
				}
			}
			first := fill(0)
			if first == 0 {
				t.Fatal("the spool took no record")
			}
			wantRecords(t, drainAll(t, s), 0, first)
			// Everything is acked: the spool must take about as much again.
			second := fill(first)
			if second < first/2 {
				t.Fatalf("after draining the spool took %d records, the first time %d", second, first)
			}
			wantRecords(t, drainAll(t, s), first, second)
			if st := s.Stats(); st.Records != 0 || st.DiskBytes > size {
				t.Fatalf("after draining: %+v", st)
			}
		})
	}
}
