package spool

import (
	"sort"
	"time"
)

// How the spool knows the age of a reader's oldest pending record without
// storing a time per record: Append leaves a stamp (record number, time)
// at most every stampEvery, and a record is as old as the newest stamp at
// or before it. Past maxStamps every other stamp is dropped, so a long
// backlog keeps its whole span at a coarser grain.
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

// at returns when record seq was appended, at the stamps' grain. A record
// older than every stamp was recovered at Open.
func (a *ages) at(seq uint64) time.Time {
	i := sort.Search(len(a.stamps), func(i int) bool { return a.stamps[i].seq > seq })
	if i == 0 {
		return a.opened
	}
	return a.stamps[i-1].at
}

// forget drops the stamps no record from first on needs (every reader
// acked what is before first).
func (a *ages) forget(first uint64) {
	drop := 0
	for drop+1 < len(a.stamps) && a.stamps[drop+1].seq <= first {
		drop++
	}
	if drop > 0 {
		a.stamps = append(a.stamps[:0], a.stamps[drop:]...)
	}
}
