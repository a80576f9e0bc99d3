package spool

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"

	"github.com/mqflux/mqflux/internal/segment"
)

// ReaderSpec names one reader of the spool and says how much it may hold.
type ReaderSpec struct {
	// Name identifies the reader's saved cursor across restarts: no
	// spaces, unique.
	Name string
	// Required: a record stays until this reader acked it, and a spool
	// full of records it holds pushes back.
	Required bool
	// MaxLag (optional readers only) is how many bytes of spool the reader
	// may fall behind the newest record before it skips ahead; 0 means it
	// skips only when the spool is full.
	MaxLag int64
}

// checkReaders refuses names a cursor file cannot hold and duplicates.
func checkReaders(specs []ReaderSpec) error {
	seen := map[string]bool{}
	for _, sp := range specs {
		if sp.Name == "" || strings.ContainsFunc(sp.Name, func(c rune) bool { return unicode.IsSpace(c) || !unicode.IsPrint(c) }) {
			return fmt.Errorf("reader name %q: want a non-empty name without spaces", sp.Name)
		}
		if seen[sp.Name] {
			return fmt.Errorf("two readers named %q", sp.Name)
		}
		if sp.MaxLag < 0 {
			return fmt.Errorf("reader %q: negative MaxLag %d", sp.Name, sp.MaxLag)
		}
		seen[sp.Name] = true
	}
	return nil
}

// Reader is one consumer of the spool, at its own position. Next and Ack
// are safe for concurrent use; concurrent Next callers get disjoint
// batches.
type Reader struct {
	s        *Spool
	name     string
	idx      int // in s.readers and in every s.done entry
	required bool
	maxLag   int64

	// readTurn serialises Next callers so their batches are disjoint; rd
	// belongs to whoever holds it.
	readTurn chan struct{}
	rd       segment.Reader

	// Guarded by s.mu.
	at  pos        // the oldest record not handed out
	gen uint64     // bumped by a skip, so a Next reading off the lock notices
	out []*handout // batches handed out, oldest first; acked ones leave from the front
	// ackedRecs and ackedBytes are of the acked batches still in out,
	// behind one that is not acked yet.
	ackedRecs, ackedBytes int64
	skipped               int64

	// A Next caller waiting for data parks on notify; Append closes it
	// once the unread records reach what the caller waits for.
	notify              chan struct{}
	waitRecs, waitBytes int64
}

// pos is a record boundary: in segment seg at offset off, recs records
// into it, byte framed bytes into the spool (see Spool.endByte).
type pos struct {
	seg       *segment.Segment
	off, recs int64
	byte      int64
}

// seq is the number of the record at p (records are numbered
// consecutively across segments within one Open).
func (p pos) seq() uint64 { return p.seg.Seq + uint64(p.recs) }

// handout is where a batch began and how much it holds, so Close can save
// the position of the oldest unacked record and a skip can count what it
// drops. It is kept apart from the Batch so a batch that is never acked
// does not pin the records of later ones in memory.
type handout struct {
	start       pos
	recs, bytes int64 // framed bytes
	acked       bool
	dropped     bool // skipped past: a late Ack changes nothing
	// gone is closed when a skip drops the batch, so that a writer still
	// trying to store it can stop (Batch.Dropped).
	gone       chan struct{}
	unreadable bool // stands for damaged records; never acked, so kept on disk
}

// optional says whether a skip may drop the reader's batches.
func (r *Reader) optional() bool { return !r.required }

// Name is the reader's name.
func (r *Reader) Name() string { return r.name }

// ReaderStats describe one reader's backlog.
type ReaderStats struct {
	Name     string
	Required bool
	// LagRecords and LagBytes (framed) are what the spool holds that the
	// reader has not acked; Oldest is when the oldest of those was
	// appended (zero when the reader is up to date).
	LagRecords int64
	LagBytes   int64
	Oldest     time.Time
	// Skipped counts the records the reader skipped since Open.
	Skipped int64
}

// Stats reports the reader's backlog.
func (r *Reader) Stats() ReaderStats {
	s := r.s
	s.mu.Lock()
	defer s.mu.Unlock()
	st := ReaderStats{Name: r.name, Required: r.required, Skipped: r.skipped}
	st.LagRecords, st.LagBytes = r.pending()
	if st.LagRecords > 0 {
		st.Oldest = s.ages.at(r.low().seq())
	}
	return st
}

// low is the oldest record the reader has not acked. mu held.
func (r *Reader) low() pos {
	if len(r.out) > 0 {
		return r.out[0].start
	}
	return r.at
}

// pending is what the reader has not acked: records and framed bytes.
// mu held.
func (r *Reader) pending() (recs, bytes int64) {
	low := r.low()
	recs = int64(r.s.sl.NextSeq()-low.seq()) - r.ackedRecs
	bytes = r.s.endByte - low.byte - r.ackedBytes
	return recs, bytes
}

// unread is what was appended and not handed out to the reader: records
// and payload bytes. mu held.
func (r *Reader) unread() (recs, bytes int64) {
	recs = int64(r.s.sl.NextSeq() - r.at.seq())
	return recs, r.s.endByte - r.at.byte - segment.FrameHeader*recs
}

// step moves the read position over finished sealed segments, so it names
// the segment holding the oldest record not handed out. mu held.
func (r *Reader) step() {
	for r.at.seg.Sealed && r.at.off >= r.at.seg.Size {
		g := r.s.sl.After(r.at.seg.ID)
		if g == nil {
			return
		}
		r.at = pos{seg: g, byte: r.s.baseOf(g)}
	}
}

// wake releases a Next caller parked on notify. mu held.
func (r *Reader) wake() {
	if r.notify != nil {
		close(r.notify)
		r.notify = nil
	}
}

// wakeReaders releases the readers whose waiting Next has enough. mu held.
func (s *Spool) wakeReaders() {
	for _, r := range s.readers {
		if r.notify == nil {
			continue
		}
		if recs, bytes := r.unread(); recs >= r.waitRecs || bytes >= r.waitBytes {
			r.wake()
		}
	}
}

// setDone records that reader r no longer needs the first n records of g,
// and deletes g once no reader needs any of it. mu held.
func (s *Spool) setDone(r *Reader, g *segment.Segment, n int64) error {
	d := s.done[g]
	if d == nil {
		d = make([]int64, len(s.readers))
		s.done[g] = d
	}
	d[r.idx] = n
	return s.settle(g, d)
}

// addDone is setDone of n more records. mu held.
func (s *Spool) addDone(r *Reader, g *segment.Segment, n int64) error {
	var had int64
	if d := s.done[g]; d != nil {
		had = d[r.idx]
	}
	return s.setDone(r, g, had+n)
}

// settle sets g.Acked to what every reader is done with and deletes g once
// that is all of it and nothing more is appended. mu held.
func (s *Spool) settle(g *segment.Segment, d []int64) error {
	least := d[0]
	for _, n := range d[1:] {
		least = min(least, n)
	}
	g.Acked = least
	if !g.Done() {
		return nil
	}
	delete(s.done, g)
	delete(s.bases, g)
	return s.sl.Remove(g)
}

// sweepDone forgets the segments the log deleted on its own (a finished
// segment is deleted when it is sealed). mu held.
func (s *Spool) sweepDone() {
	if len(s.done) <= len(s.sl.Segments()) && len(s.bases) <= len(s.sl.Segments()) {
		return
	}
	live := make(map[*segment.Segment]bool, len(s.sl.Segments()))
	for _, g := range s.sl.Segments() {
		live[g] = true
	}
	for g := range s.done {
		if !live[g] {
			delete(s.done, g)
		}
	}
	for g := range s.bases {
		if !live[g] {
			delete(s.bases, g)
		}
	}
}

// doneUpTo marks everything before p done for r: whole segments before
// p's, and p's records before p. mu held.
func (s *Spool) doneUpTo(r *Reader, p pos) error {
	var errs []error
	for _, g := range append([]*segment.Segment(nil), s.sl.Segments()...) {
		switch {
		case g.ID < p.seg.ID:
			errs = append(errs, s.setDone(r, g, g.Records))
		case g == p.seg:
			errs = append(errs, s.setDone(r, g, p.recs))
		}
	}
	return errors.Join(errs...)
}

// baseOf is the byte position of the start of g, a live segment; one not
// in bases has no record yet, so it starts where the newest record ends.
// mu held.
func (s *Spool) baseOf(g *segment.Segment) int64 {
	if b, ok := s.bases[g]; ok {
		return b
	}
	return s.endByte
}

// endPos is the position just past the newest record. mu held.
func (s *Spool) endPos() pos {
	segs := s.sl.Segments()
	g := segs[len(segs)-1]
	return pos{seg: g, off: g.Size, recs: g.Records, byte: s.endByte}
}
