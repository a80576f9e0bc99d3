package spool

import "time"

// How the spool knows the age of its oldest pending record without
// storing a time per record: Append leaves a stamp (record number, time)
// at most every stampEvery, and the oldest pending record is as old as the
// newest stamp at or before it. Past maxStamps every other stamp is
// dropped, so a long backlog keeps its whole span at a coarser grain.
const (
	stampEvery = 100 * time.Millisecond
	maxStamps  = 4096
)

type stamp struct {
	seq uint64 // record number (segment.Segment.Seq counts them)
	at  time.Time
}

// ages holds the stamps, oldest first. The spool's mu guards it.
type ages struct {
	stamps []stamp
	opened time.Time // records recovered at Open are at least this old
}

// note records that record seq was appended at now.
func (a *ages) note(seq uint64, now time.Time) {
	if n := len(a.stamps); n > 0 && now.Sub(a.stamps[n-1].at) < stampEvery {
		return
	}
	if len(a.stamps) >= maxStamps {
		kept := a.stamps[:0]
		for i := 0; i < len(a.stamps); i += 2 {
			kept = append(kept, a.stamps[i])
		}
		a.stamps = kept
	}
	a.stamps = append(a.stamps, stamp{seq: seq, at: now})
}

// since returns when record first was appended, at the stamps' grain, and
// forgets the stamps of records before it (they are all acknowledged). A
// record older than every stamp was recovered at Open.
func (a *ages) since(first uint64) time.Time {
	drop := 0
	for drop+1 < len(a.stamps) && a.stamps[drop+1].seq <= first {
		drop++
	}
	if drop > 0 {
		a.stamps = append(a.stamps[:0], a.stamps[drop:]...)
	}
	if len(a.stamps) == 0 || a.stamps[0].seq > first {
		return a.opened
	}
	return a.stamps[0].at
}

// oldestPending is the record number of the oldest record not yet acked:
// the first of the oldest batch handed out and not acked, or else the
// first not handed out; false when none is pending. mu held.
func (s *Spool) oldestPending() (uint64, bool) {
	if len(s.outstanding) > 0 {
		return s.outstanding[0].seq, true
	}
	if s.unreadRecs == 0 {
		return 0, false
	}
	g := s.readCursor()
	if g == nil {
		return 0, false
	}
	return g.Seq + uint64(g.ReadRecs), true
}
