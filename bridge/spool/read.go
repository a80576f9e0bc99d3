package spool

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/mqflux/mqflux/internal/segment"
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
	seq   uint64 // the record number of the batch's first record
	acked bool
}

type span struct {
	seg     *segment.Segment
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
		if g == nil || g.ReadOff >= g.Size {
			s.mu.Unlock()
			break
		}
		off, end := g.ReadOff, g.Size
		lim := segment.Limits{Records: maxRecords - len(b.Records), Bytes: maxBytes - payload,
			First: len(b.Records) == 0, Avg: max(s.unreadBytes/max(s.unreadRecs, 1), 1)}
		s.mu.Unlock()

		c, err := s.rd.Read(g, off, end, lim)
		if err != nil {
			err = fmt.Errorf("spool %w", err)
			if len(b.Records) > 0 {
				break // hand out what we have; the error recurs on the next call
			}
			return nil, err
		}
		s.mu.Lock()
		s.commit(b, g, off, c)
		if c.Damage != segment.OK {
			s.skipDamage(g, off+c.Consumed, c.Damage)
		}
		s.mu.Unlock()
		b.Records = append(b.Records, c.Records...)
		payload += c.Payload
		if len(c.Records) == 0 && c.Damage == segment.OK {
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

// commit records that c, read from g at off, now belongs to b. mu held.
func (s *Spool) commit(b *Batch, g *segment.Segment, off int64, c segment.Chunk) {
	n := int64(len(c.Records))
	if n == 0 {
		return
	}
	g.ReadOff += c.Consumed
	g.ReadRecs += n
	s.unreadRecs -= n
	s.unreadBytes -= int64(c.Payload)
	if b.mark == nil {
		b.mark = &handout{seg: g.ID, off: off, seq: g.Seq + uint64(g.ReadRecs-n)}
	}
	if k := len(b.spans) - 1; k >= 0 && b.spans[k].seg == g {
		b.spans[k].records += n
		b.spans[k].bytes += c.Consumed
		return
	}
	b.spans = append(b.spans, span{seg: g, records: n, bytes: c.Consumed})
}

// skipDamage steps over bytes written by this process that no longer read
// back whole (failing storage). They stay on disk, unacked, so the segment
// is kept and the next Open moves them to a .corrupt file. mu held.
func (s *Spool) skipDamage(g *segment.Segment, at int64, why segment.Status) {
	n := g.Records - g.ReadRecs
	s.log.Error("spool: unreadable record; skipping the rest of the segment until the next start moves it aside",
		"file", g.Path, "offset", at, "bytes", g.Size-at, "records", n, "cause", why.String())
	s.unreadRecs -= n
	s.unreadBytes -= g.Size - at - segment.FrameHeader*n
	g.ReadOff = g.Size
	g.ReadRecs = g.Records
}

// readCursor returns the segment holding the oldest record not handed out,
// stepping over finished segments; nil when every segment is finished.
// s.readSeg stays on the last segment read, so its position is where reading
// resumes. mu held.
func (s *Spool) readCursor() *segment.Segment {
	g := s.readSeg
	for g != nil && g.Sealed && g.ReadOff >= g.Size {
		g = s.sl.After(g.ID)
		if g != nil {
			s.readSeg = g
		}
	}
	return g
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
		sp.seg.Acked += sp.records
		s.pendingRecs -= sp.records
		s.pendingBytes -= sp.bytes
		if sp.seg.Done() {
			errs = append(errs, s.sl.Remove(sp.seg))
		}
	}
	for len(s.outstanding) > 0 && s.outstanding[0].acked {
		s.outstanding[0] = nil
		s.outstanding = s.outstanding[1:]
	}
	return errors.Join(errs...)
}
