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

	owner *Reader
	spans []span // per segment, in order
	mark  *handout
}

type span struct {
	seg     *segment.Segment
	records int64
}

// Next hands out the oldest records not yet handed out to this reader. It
// blocks until at least one is available (or ctx is done), then waits at
// most linger for up to maxRecords records or maxBytes payload bytes to
// gather. A batch never passes either limit, except that a single record
// larger than maxBytes travels alone. Concurrent callers get disjoint
// batches. Other readers are neither looked at nor held up.
func (r *Reader) Next(ctx context.Context, maxRecords, maxBytes int, linger time.Duration) (*Batch, error) {
	if maxRecords < 1 || maxBytes < 1 {
		return nil, fmt.Errorf("spool next %s: maxRecords (%d) and maxBytes (%d) must be positive", r.name, maxRecords, maxBytes)
	}
	select {
	case r.readTurn <- struct{}{}:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { <-r.readTurn }()
	for {
		if err := r.waitUnread(ctx, 1, 1, nil); err != nil {
			return nil, err
		}
		if linger > 0 {
			t := time.NewTimer(linger)
			err := r.waitUnread(ctx, int64(maxRecords), int64(maxBytes), t.C)
			t.Stop()
			if err != nil {
				return nil, err
			}
		}
		b, err := r.take(maxRecords, maxBytes)
		if err != nil || b != nil {
			return b, err
		}
		// What looked unread was unreadable or skipped; wait for more.
	}
}

// waitUnread returns once at least recs records or bytes payload bytes are
// unread, or timeout fires. Only the holder of readTurn calls it.
func (r *Reader) waitUnread(ctx context.Context, recs, bytes int64, timeout <-chan time.Time) error {
	s := r.s
	for {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return ErrClosed
		}
		if n, b := r.unread(); n >= recs || b >= bytes {
			s.mu.Unlock()
			return nil
		}
		if r.notify == nil {
			r.notify = make(chan struct{})
		}
		ch := r.notify
		r.waitRecs, r.waitBytes = recs, bytes
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
func (r *Reader) take(maxRecords, maxBytes int) (*Batch, error) {
	s := r.s
	b := &Batch{owner: r}
	payload := 0
	s.mu.Lock()
	gen := r.gen
	s.mu.Unlock()
	for len(b.Records) < maxRecords && payload < maxBytes {
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			if len(b.Records) == 0 {
				return nil, ErrClosed
			}
			break
		}
		if r.gen != gen {
			// Skipped ahead between two reads: this batch was dropped.
			r.abandon(b)
			s.mu.Unlock()
			return nil, nil
		}
		r.step()
		g, off, end := r.at.seg, r.at.off, r.at.seg.Size
		if off >= end {
			s.mu.Unlock()
			break
		}
		recs, bytes := r.unread()
		lim := segment.Limits{Records: maxRecords - len(b.Records), Bytes: maxBytes - payload,
			First: len(b.Records) == 0, Avg: max(bytes/max(recs, 1), 1)}
		s.mu.Unlock()

		c, err := r.rd.Read(g, off, end, lim)
		s.mu.Lock()
		if r.gen != gen {
			// Skipped ahead while reading: what was read, and what this
			// batch holds, are no longer this reader's to store.
			r.abandon(b)
			s.mu.Unlock()
			return nil, nil
		}
		if err != nil {
			s.mu.Unlock()
			err = fmt.Errorf("spool %s: %w", r.name, err)
			if len(b.Records) > 0 {
				break // hand out what we have; the error recurs on the next call
			}
			return nil, err
		}
		r.commit(b, c)
		if c.Damage != segment.OK {
			r.skipDamage(off+c.Consumed, c.Damage)
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
	return b, nil
}

// commit records that c, read at the reader's position, now belongs to b;
// the batch joins the outstanding ones with its first records, so a skip
// meanwhile drops it. mu held.
func (r *Reader) commit(b *Batch, c segment.Chunk) {
	n := int64(len(c.Records))
	if n == 0 {
		return
	}
	g := r.at.seg
	if b.mark == nil {
		b.mark = &handout{start: r.at, gone: make(chan struct{})}
		r.out = append(r.out, b.mark)
	}
	b.mark.recs += n
	b.mark.bytes += c.Consumed
	r.at.off += c.Consumed
	r.at.recs += n
	r.at.byte += c.Consumed
	if k := len(b.spans) - 1; k >= 0 && b.spans[k].seg == g {
		b.spans[k].records += n
		return
	}
	b.spans = append(b.spans, span{seg: g, records: n})
}

// skipDamage steps over bytes written by this process that no longer read
// back whole (failing storage). They stay on disk: the reader holds them
// as a batch that is never acked, so the segment is kept and the next Open
// moves them to a .corrupt file. mu held.
func (r *Reader) skipDamage(at int64, why segment.Status) {
	g := r.at.seg
	n := g.Records - r.at.recs
	r.s.log.Error("spool: unreadable record; skipping the rest of the segment until the next start moves it aside",
		"reader", r.name, "file", g.Path, "offset", at, "bytes", g.Size-at, "records", n, "cause", why.String())
	r.out = append(r.out, &handout{start: r.at, recs: n, bytes: g.Size - at, unreadable: true})
	r.at.byte += g.Size - r.at.off
	r.at.off, r.at.recs = g.Size, g.Records
}

// Skipped says whether the reader skipped past b since it was handed out:
// the spool no longer keeps its records for the reader. Its writer may
// still store it and Ack it (its records count as stored), or give it up
// with GiveUp (they count as skipped).
func (b *Batch) Skipped() bool {
	s := b.owner.s
	s.mu.Lock()
	defer s.mu.Unlock()
	return b.mark != nil && b.mark.dropped
}

// Dropped is closed when the reader skips past b; nil for a batch that can
// never be skipped (a required reader's never is).
func (b *Batch) Dropped() <-chan struct{} {
	if b.mark == nil || !b.owner.optional() {
		return nil
	}
	return b.mark.gone
}

// GiveUp settles a batch the reader skipped past without storing it: its
// records count as skipped. A batch not skipped cannot be given up (only
// Ack settles it), nor one acked already.
func (r *Reader) GiveUp(b *Batch) error {
	if b == nil || b.owner != r {
		return fmt.Errorf("spool give up %s: batch was not handed out by this reader", r.name)
	}
	s := r.s
	s.mu.Lock()
	defer s.mu.Unlock()
	m := b.mark
	switch {
	case m == nil || m.acked:
		return fmt.Errorf("spool give up %s: batch already settled", r.name)
	case !m.dropped:
		return fmt.Errorf("spool give up %s: the batch was not skipped past; only Ack settles it", r.name)
	}
	r.giveUp(m)
	return nil
}

// abandon gives up a batch a skip dropped while Next was still building
// it: no writer ever sees it. mu held.
func (r *Reader) abandon(b *Batch) {
	if m := b.mark; m != nil && m.dropped && !m.acked {
		r.giveUp(m)
	}
}

// giveUp counts a dropped batch's records as skipped. mu held.
func (r *Reader) giveUp(m *handout) {
	m.acked = true
	r.skipped += m.recs
	r.s.log.Warn("spool reader gave up a batch it had skipped past; these records will not reach it",
		"reader", r.name, "records", m.recs, "skipped_total", r.skipped)
}

// Ack marks every record of b stored by this reader. Batches may be acked
// in any order; a segment file is deleted once no reader needs any of its
// records and it is no longer appended to. Acking a batch the reader has
// since skipped past changes nothing.
func (r *Reader) Ack(b *Batch) error {
	if b == nil || b.owner != r {
		return fmt.Errorf("spool ack %s: batch was not handed out by this reader", r.name)
	}
	s := r.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("spool ack %s: %w (the batch will be handed out again after the next open)", r.name, ErrClosed)
	}
	m := b.mark
	if m == nil || m.acked {
		return fmt.Errorf("spool ack %s: batch already acked", r.name)
	}
	m.acked = true
	if m.dropped {
		return nil
	}
	r.ackedRecs += m.recs
	r.ackedBytes += m.bytes
	var errs []error
	for _, sp := range b.spans {
		errs = append(errs, s.addDone(r, sp.seg, sp.records))
	}
	for len(r.out) > 0 && r.out[0].acked {
		r.ackedRecs -= r.out[0].recs
		r.ackedBytes -= r.out[0].bytes
		r.out[0] = nil
		r.out = r.out[1:]
	}
	s.shed()
	return errors.Join(errs...)
}
