package pipeline

import (
	"errors"
	"fmt"
	"time"

	"github.com/mqflux/mqflux/flow/ingest"
	"github.com/mqflux/mqflux/flow/point"
	"github.com/mqflux/mqflux/internal/segment"
)

// batch is what one network read brought in, mapped and waiting for one
// spool write: a syscall per reading was the largest single cost of the
// ingest path (BENCHMARKS.md, "Profile of the hot path"). Pooled; the
// buffers stay with it.
type batch struct {
	s       Sink
	buf     []byte   // the records, one after another
	entries []entry  // one per record, in order
	recs    [][]byte // Commit's view of buf
}

// entry is what the observers get of one record once it is stored.
type entry struct {
	end      int // where the record ends in buf
	topic    string
	received time.Time
	pts      point.Set
}

// Batch starts an empty batch of this input's readings.
func (s Sink) Batch() ingest.Batch {
	b := s.p.batches.Get().(*batch)
	b.s = s
	return b
}

func (b *batch) Len() int { return len(b.entries) }

// Add maps a message into the batch, or dead-letters it as Ingest does.
func (b *batch) Add(topic string, payload []byte, received time.Time) error {
	s := b.s
	p := s.p
	s.counters.received.Add(1)
	start := len(b.buf)
	if len(b.entries) < cap(b.entries) {
		b.entries = b.entries[:len(b.entries)+1]
	} else {
		b.entries = append(b.entries, entry{})
	}
	e := &b.entries[len(b.entries)-1]
	e.pts.Reset()
	rec, err := p.mapper.AppendPoints(b.buf, &e.pts, topic, payload, received)
	if err == nil {
		err = p.checkTypes(&e.pts)
	}
	if err == nil && len(rec) > start && !p.spool.HasRoom(len(rec)+len(b.entries)*segment.FrameHeader) {
		p.m.counts.pushedBack.with(s.source, "").Add(1)
		err = ingest.ErrFull
	}
	if err != nil || len(rec) == start {
		b.entries = b.entries[:len(b.entries)-1]
		b.buf = rec[:start]
		if err == nil || errors.Is(err, ingest.ErrFull) {
			return err // nil: a topic the mapping ignores, neither stored nor dead-lettered
		}
		return p.rejectReading(s.source, topic, payload, asReject(err), received)
	}
	b.buf = rec
	e.end, e.topic, e.received = len(rec), topic, received
	return nil
}

// Commit appends the batch's records with one spool write, then hands
// them to the observers, and returns the batch to the pool.
func (b *batch) Commit() error {
	s := b.s
	p := s.p
	defer b.release()
	if len(b.entries) == 0 {
		return nil
	}
	start := 0
	for i := range b.entries {
		b.recs = append(b.recs, b.buf[start:b.entries[i].end])
		start = b.entries[i].end
	}
	if err := p.spool.AppendBatch(b.recs); err != nil {
		if errors.Is(err, ingest.ErrFull) {
			p.m.counts.pushedBack.with(s.source, "").Add(int64(len(b.entries)))
			return ingest.ErrFull
		}
		return fmt.Errorf("spool append of %d records: %w", len(b.entries), err)
	}
	s.counters.spooled.Add(int64(len(b.entries)))
	for i := range b.entries {
		e := &b.entries[i]
		p.hub.Publish(s.source, e.topic, e.received, &e.pts)
	}
	return nil
}

// release empties the batch into the pool; a rare huge one is dropped so
// that the pool does not pin its buffers.
func (b *batch) release() {
	p := b.s.p
	for i := range b.entries {
		b.entries[i].topic = ""
	}
	clear(b.recs)
	b.buf, b.entries, b.recs, b.s = b.buf[:0], b.entries[:0], b.recs[:0], Sink{}
	if cap(b.buf) > 1<<20 {
		return
	}
	p.batches.Put(b)
}
