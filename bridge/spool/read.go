package spool

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"
)

// Batch is a run of consecutive records handed out by Next. Records point
// into memory owned by the batch and stay valid after Ack.
type Batch struct {
	Records [][]byte

	owner *Spool
	spans []span // per segment, in order
	mark  *handout
}

// handout remembers where a batch began, so Close can save the position of
// the oldest unacked record. It is kept apart from the Batch so a batch
// that is never acked does not pin the records of later ones in memory.
type handout struct {
	seg   uint64
	off   int64
	acked bool
}

type span struct {
	seg     *segment
	records int64
	bytes   int64 // framed
}

// Next hands out the oldest records not yet handed out. It blocks until at
// least one is available (or ctx is done), then waits at most linger for up
// to maxRecords records or maxBytes payload bytes to gather. A batch never
// passes either limit, except that a single record larger than maxBytes
// travels alone. Concurrent callers get disjoint batches.
func (s *Spool) Next(ctx context.Context, maxRecords, maxBytes int, linger time.Duration) (*Batch, error) {
	if maxRecords < 1 || maxBytes < 1 {
		return nil, fmt.Errorf("spool next: maxRecords (%d) and maxBytes (%d) must be positive", maxRecords, maxBytes)
	}
	select {
	case s.readTurn <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-s.readTurn }()
	for {
		if err := s.waitUnread(ctx, 1, 1, nil); err != nil {
			return nil, err
		}
		if linger > 0 {
			t := time.NewTimer(linger)
			err := s.waitUnread(ctx, int64(maxRecords), int64(maxBytes), t.C)
			t.Stop()
			if err != nil {
				return nil, err
			}
		}
		b, err := s.take(maxRecords, maxBytes)
		if err != nil || b != nil {
			return b, err
		}
		// What looked unread was skipped as unreadable; wait for more.
	}
}

// waitUnread returns once at least recs records or bytes payload bytes are
// unread, or timeout fires. Only the holder of readTurn calls it.
func (s *Spool) waitUnread(ctx context.Context, recs, bytes int64, timeout <-chan time.Time) error {
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return ErrClosed
		}
		if s.unreadRecs >= recs || s.unreadBytes >= bytes {
			s.mu.Unlock()
			return nil
		}
		if s.notify == nil {
			s.notify = make(chan struct{})
		}
		ch := s.notify
		s.waitRecs, s.waitBytes = recs, bytes
		s.mu.Unlock()
		select {
		case <-ch:
		case <-timeout:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// take reads the next records from disk into a new batch; nil when none
// are readable. Only the holder of readTurn calls it.
func (s *Spool) take(maxRecords, maxBytes int) (*Batch, error) {
	b := &Batch{owner: s}
	payload := 0
	for len(b.Records) < maxRecords && payload < maxBytes {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			if len(b.Records) == 0 {
				return nil, ErrClosed
			}
			break
		}
		g := s.readCursor()
		if g == nil || g.readOff >= g.size {
			s.mu.Unlock()
			break
		}
		off, end := g.readOff, g.size
		avg := s.unreadBytes / max(s.unreadRecs, 1)
		s.mu.Unlock()

		c, err := s.readChunk(g.id, g.path, off, end, avg, maxRecords-len(b.Records), maxBytes-payload, len(b.Records) == 0)
		if err != nil {
			if len(b.Records) > 0 {
				break // hand out what we have; the error recurs on the next call
			}
			return nil, err
		}
		s.mu.Lock()
		s.commit(b, g, off, c)
		if c.damage != frameOK {
			s.skipDamage(g, off+c.consumed, c.damage)
		}
		s.mu.Unlock()
		b.Records = append(b.Records, c.recs...)
		payload += c.payload
		if len(c.recs) == 0 && c.damage == frameOK {
			break // the next record does not fit this batch
		}
	}
	if len(b.Records) == 0 {
		return nil, nil
	}
	s.mu.Lock()
	s.outstanding = append(s.outstanding, b.mark)
	s.mu.Unlock()
	return b, nil
}

type chunk struct {
	recs     [][]byte
	consumed int64 // framed bytes of recs
	payload  int
	damage   frameStatus // frameOK, or why reading stopped at consumed
}

// readChunk reads whole records of segment id from off (below end, the
// segment's visible size) with one pread, within the limits left. avg is
// the mean payload size of unread records, to size the read.
func (s *Spool) readChunk(id uint64, path string, off, end, avg int64, recsLeft, bytesLeft int, first bool) (chunk, error) {
	f, err := s.readerFile(id, path)
	if err != nil {
		return chunk{}, err
	}
	avail := end - off
	// Enough for the limits with records of the usual size, and a little
	// slack; a shortfall only costs another pread.
	byBytes := int64(bytesLeft) + int64(bytesLeft)/4 + frameHeader
	byRecs := int64(recsLeft) * (avg + frameHeader)
	want := min(avail, byBytes, byRecs+byRecs/8+frameHeader)
	for {
		buf := make([]byte, want)
		if _, err := f.ReadAt(buf, off); err != nil {
			return chunk{}, fmt.Errorf("spool read %s at offset %d: %w", path, off, err)
		}
		c := parseChunk(buf, avail, recsLeft, bytesLeft, first)
		if c.needed > 0 && want < c.needed {
			want = c.needed // a lone record larger than the first read
			continue
		}
		return c.chunk, nil
	}
}

type parsed struct {
	chunk
	needed int64 // bytes to read to get the first record whole
}

func parseChunk(buf []byte, avail int64, recsLeft, bytesLeft int, first bool) parsed {
	var p parsed
	pos := 0
	for pos < len(buf) && len(p.recs) < recsLeft {
		rec, size, st := decodeFrame(buf[pos:])
		if st == frameShort && int64(pos+size) <= avail {
			if len(p.recs) == 0 && first {
				p.needed = int64(size)
			}
			break // whole on disk, only cut by our read
		}
		if st != frameOK {
			p.damage = st
			if st == frameShort {
				p.damage = frameBadLength // runs past the end of what was written
			}
			break
		}
		if p.payload+len(rec) > bytesLeft && (len(p.recs) > 0 || !first) {
			break
		}
		p.recs = append(p.recs, rec)
		p.payload += len(rec)
		pos += size
	}
	p.consumed = int64(pos)
	return p
}

// readerFile returns a read handle on segment id, reusing the last one.
func (s *Spool) readerFile(id uint64, path string) (*os.File, error) {
	if s.rf != nil && s.rfID == id {
		return s.rf, nil
	}
	if s.rf != nil {
		s.rf.Close() // read-only: nothing to lose
		s.rf = nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("spool read: %w", err)
	}
	s.rf, s.rfID = f, id
	return f, nil
}

// commit records that c, read from g at off, now belongs to b. mu held.
func (s *Spool) commit(b *Batch, g *segment, off int64, c chunk) {
	n := int64(len(c.recs))
	if n == 0 {
		return
	}
	g.readOff += c.consumed
	g.readRecs += n
	s.unreadRecs -= n
	s.unreadBytes -= int64(c.payload)
	if b.mark == nil {
		b.mark = &handout{seg: g.id, off: off}
	}
	if k := len(b.spans) - 1; k >= 0 && b.spans[k].seg == g {
		b.spans[k].records += n
		b.spans[k].bytes += c.consumed
		return
	}
	b.spans = append(b.spans, span{seg: g, records: n, bytes: c.consumed})
}

// skipDamage steps over bytes written by this process that no longer read
// back whole (failing storage). They stay on disk, unacked, so the segment
// is kept and the next Open moves them to a .corrupt file. mu held.
func (s *Spool) skipDamage(g *segment, at int64, why frameStatus) {
	n := g.records - g.readRecs
	s.log.Error("spool: unreadable record; skipping the rest of the segment until the next start moves it aside",
		"file", g.path, "offset", at, "bytes", g.size-at, "records", n, "cause", why.String())
	s.unreadRecs -= n
	s.unreadBytes -= g.size - at - frameHeader*n
	g.readOff = g.size
	g.readRecs = g.records
}

// readCursor returns the segment holding the oldest record not handed out,
// stepping over finished segments; nil when every segment is finished.
// s.readSeg stays on the last segment read, so its position is where reading
// resumes. mu held.
func (s *Spool) readCursor() *segment {
	g := s.readSeg
	for g != nil && g.sealed && g.readOff >= g.size {
		g = s.segmentAfter(g.id)
		if g != nil {
			s.readSeg = g
		}
	}
	return g
}

func (s *Spool) segmentAfter(id uint64) *segment {
	for _, g := range s.segs {
		if g.id > id {
			return g
		}
	}
	return nil
}

// Ack marks every record of b stored. Batches may be acked in any order; a
// segment file is deleted once all its records are acked and it is no
// longer appended to.
func (s *Spool) Ack(b *Batch) error {
	if b == nil || b.owner != s {
		return errors.New("spool ack: batch was not handed out by this spool")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("spool ack: %w (the batch will be handed out again after the next open)", ErrClosed)
	}
	if b.mark == nil || b.mark.acked {
		return errors.New("spool ack: batch already acked")
	}
	b.mark.acked = true
	var errs []error
	for _, sp := range b.spans {
		sp.seg.ackedRecs += sp.records
		s.pendingRecs -= sp.records
		s.pendingBytes -= sp.bytes
		if sp.seg.done() {
			errs = append(errs, s.removeSegment(sp.seg))
		}
	}
	for len(s.outstanding) > 0 && s.outstanding[0].acked {
		s.outstanding[0] = nil
		s.outstanding = s.outstanding[1:]
	}
	return errors.Join(errs...)
}
