package queue

import (
	"fmt"

	"github.com/mqflux/mqflux/internal/segment"
)

// one reads a single record, whatever its size.
var one = segment.Limits{Records: 1, Bytes: MaxRecordSize, First: true}

// Next returns the oldest record not yet returned since the last Rewind
// and not acknowledged; ok is false when there is none for now.
func (q *Queue) Next() (rec Record, ok bool, err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return Record{}, false, ErrClosed
	}
	for {
		id := max(q.next, q.watermark+1)
		if id >= q.sl.NextSeq() {
			return Record{}, false, nil
		}
		if q.rpos.seg == nil || q.rpos.id != id {
			q.rpos = q.frontier() // after a Rewind, id is the watermark's successor
		}
		p := q.settle(q.rpos)
		c, err := q.rd.Read(p.seg, p.off, p.seg.Size, one)
		if err == nil && (c.Damage != segment.OK || len(c.Records) != 1) {
			err = fmt.Errorf("queue read %s at byte %d: %v", p.seg.Path, p.off, c.Damage)
		}
		if err != nil {
			q.skipRest(p)
			return Record{}, false, err
		}
		q.rpos = position{seg: p.seg, off: p.off + c.Consumed, id: id + 1}
		q.next = id + 1
		if _, done := q.acked[id]; done {
			continue
		}
		return Record{ID: id, Data: c.Records[0]}, true, nil
	}
}

// settle moves p off the end of a sealed segment onto the next one.
func (q *Queue) settle(p position) position {
	for p.seg.Sealed && p.off >= p.seg.Size {
		next := q.sl.After(p.seg.ID)
		if next == nil {
			break
		}
		p = position{seg: next, off: 0, id: next.Seq}
	}
	return p
}

// Rewind makes Next start again at the oldest unacknowledged record: after
// a lost connection, whatever was in flight is sent again.
func (q *Queue) Rewind() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.next = q.watermark + 1
}

// frontier is the position of the oldest unacknowledged record (of the end
// when there is none): each segment's ReadOff and Acked are the queue's
// acknowledgement point in it.
func (q *Queue) frontier() position {
	for _, g := range q.sl.Segments() {
		if g.Acked < g.Records {
			return position{seg: g, off: g.ReadOff, id: g.Seq + uint64(g.Acked)}
		}
	}
	g := q.sl.Active()
	if g == nil {
		segs := q.sl.Segments()
		g = segs[len(segs)-1]
	}
	return position{seg: g, off: g.Size, id: q.sl.NextSeq()}
}

func (q *Queue) cursor() segment.Cursor {
	p := q.frontier()
	return segment.Cursor{Seg: p.seg.ID, Off: p.off, Seq: p.id}
}

// skipRest gives up on the unreadable remainder of a segment (storage that
// changed under us); those records are counted and treated as acknowledged
// so the queue keeps moving. The segment is sealed first, so nothing is
// appended behind the damage.
func (q *Queue) skipRest(p position) {
	g := p.seg
	if g == q.sl.Active() {
		if err := q.sl.Roll(); err != nil {
			q.log.Error("queue: cannot start a new segment", "err", err)
		}
	}
	last := g.Seq + uint64(g.Records) - 1
	for id := p.id; id <= last; id++ {
		if id > q.watermark {
			if _, done := q.acked[id]; !done {
				q.acked[id] = struct{}{}
				q.unacked--
				q.stats.Skipped++
			}
		}
	}
	q.rd.Drop(g.ID)
	q.rpos = position{seg: g, off: g.Size, id: last + 1}
	q.next = max(q.next, last+1)
	q.advance()
	q.log.Error("queue records unreadable; skipped", "segment", g.Path, "from_id", p.id, "to_id", last)
}

// Ack removes the record from the queue. Acknowledging an id twice, or an id
// that is not in the queue, does nothing.
func (q *Queue) Ack(id uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed || id <= q.watermark || id >= q.sl.NextSeq() {
		return
	}
	if _, done := q.acked[id]; done {
		return
	}
	q.acked[id] = struct{}{}
	q.unacked--
	q.stats.Acked++
	q.advance()
}

// advance moves the watermark over acknowledged ids and deletes segments
// that hold nothing unacknowledged.
func (q *Queue) advance() {
	for {
		p := q.frontier()
		if _, done := q.acked[p.id]; !done || p.id >= q.sl.NextSeq() {
			return
		}
		g := p.seg
		c, err := q.rd.Read(g, p.off, g.Size, one)
		if err == nil && c.Damage == segment.OK && len(c.Records) == 1 {
			g.ReadOff += c.Consumed
			g.ReadRecs++
			g.Acked++
			delete(q.acked, p.id)
			q.watermark = p.id
		} else if !q.jumpDamage(g, p.id) {
			return
		}
		q.moved = true
		if g.Done() {
			q.drop(g)
		}
	}
}

// jumpDamage steps the watermark over the rest of a segment that no longer
// reads back, if every record there was skipped or acknowledged.
func (q *Queue) jumpDamage(g *segment.Segment, from uint64) bool {
	last := g.Seq + uint64(g.Records) - 1
	for id := from; id <= last; id++ {
		if _, done := q.acked[id]; !done {
			return false
		}
	}
	for id := from; id <= last; id++ {
		delete(q.acked, id)
	}
	g.ReadOff, g.ReadRecs, g.Acked = g.Size, g.Records, g.Records
	q.watermark = last
	return true
}

// drop deletes a finished segment, saving the cursor first so the ids of
// the records after it survive a crash.
func (q *Queue) drop(g *segment.Segment) {
	if err := q.sl.SaveCursor(q.cursor()); err != nil {
		q.log.Warn("queue cursor", "err", err)
	} else {
		q.moved = false
	}
	q.rd.Drop(g.ID)
	if err := q.sl.Remove(g); err != nil {
		q.log.Warn("remove acknowledged queue segment", "err", err)
	}
}
