package queue

import (
	"encoding/binary"
	"fmt"
	"os"
)

// reader keeps the segment being read open, with the offset of its next
// record, so a drain reads each file once front to back.
type reader struct {
	f    *os.File
	base uint64 // segment of f
	id   uint64 // id of the record at off
	off  int64
}

func (r *reader) close() {
	if r.f != nil {
		r.f.Close()
	}
	*r = reader{}
}

// Next returns the oldest record not yet returned since the last Rewind
// and not acknowledged; ok is false when there is none for now.
func (q *Queue) Next() (rec Record, ok bool, err error) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return Record{}, false, ErrClosed
	}
	for {
		s, id := q.locate(max(q.next, q.watermark+1))
		if s == nil {
			return Record{}, false, nil
		}
		q.next = id + 1
		if _, done := q.acked[id]; done {
			continue
		}
		data, err := q.readAt(s, id)
		if err != nil {
			q.skipRest(s, id)
			return Record{}, false, err
		}
		return Record{ID: id, Data: data}, true, nil
	}
}

// Rewind makes Next start again at the oldest unacknowledged record: after
// a lost connection, whatever was in flight is sent again.
func (q *Queue) Rewind() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.next = q.watermark + 1
}

// locate finds the first record with an id of at least id.
func (q *Queue) locate(id uint64) (*segment, uint64) {
	for _, s := range q.segs {
		if s.count == 0 || s.last() < id {
			continue
		}
		return s, max(id, s.base)
	}
	return nil, 0
}

func (q *Queue) readAt(s *segment, id uint64) ([]byte, error) {
	r := &q.reader
	if r.f == nil || r.base != s.base || r.id > id {
		r.close()
		f, err := os.Open(s.path)
		if err != nil {
			return nil, fmt.Errorf("queue read: %w", err)
		}
		*r = reader{f: f, base: s.base, id: s.base, off: headerSize}
	}
	for {
		var h [recordHeader]byte
		if _, err := r.f.ReadAt(h[:], r.off); err != nil {
			return nil, fmt.Errorf("queue read %s at byte %d: %w", s.path, r.off, err)
		}
		size := binary.LittleEndian.Uint32(h[:4])
		if size > MaxRecordSize {
			return nil, fmt.Errorf("queue read %s at byte %d: record length %d is over the limit", s.path, r.off, size)
		}
		if r.id < id { // skip acknowledged records without reading them
			r.off += recordHeader + int64(size)
			r.id++
			continue
		}
		data := make([]byte, size)
		if _, err := r.f.ReadAt(data, r.off+recordHeader); err != nil {
			return nil, fmt.Errorf("queue read %s at byte %d: %w", s.path, r.off, err)
		}
		if recordCRC(h[:4], data) != binary.LittleEndian.Uint32(h[4:]) {
			return nil, fmt.Errorf("queue read %s at byte %d: record CRC-32C mismatch", s.path, r.off)
		}
		r.off += recordHeader + int64(size)
		r.id++
		return data, nil
	}
}

// skipRest gives up on the unreadable remainder of a segment (storage that
// changed under us); those records are counted and treated as acknowledged
// so the queue keeps moving.
func (q *Queue) skipRest(s *segment, from uint64) {
	q.reader.close()
	for id := from; id <= s.last(); id++ {
		if id > q.watermark {
			if _, done := q.acked[id]; !done {
				q.acked[id] = struct{}{}
				q.unacked--
				q.stats.Skipped++
			}
		}
	}
	q.advance()
	q.log.Error("queue records unreadable; skipped", "segment", s.path, "from_id", from, "to_id", s.last())
}

// Ack removes the record from the queue. Acknowledging an id twice, or an id
// that is not in the queue, does nothing.
func (q *Queue) Ack(id uint64) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if id <= q.watermark {
		return
	}
	if _, done := q.acked[id]; done {
		return
	}
	if s, found := q.locate(id); s == nil || found != id {
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
		s, id := q.locate(q.watermark + 1)
		if s == nil {
			break
		}
		if _, done := q.acked[id]; !done {
			break
		}
		delete(q.acked, id)
		q.watermark = id
		q.moved = true
	}
	q.dropAcked(true)
}

// dropAcked deletes every segment but the active one whose records are all
// acknowledged.
func (q *Queue) dropAcked(counted bool) {
	for len(q.segs) > 1 && (q.segs[0].count == 0 || q.segs[0].last() <= q.watermark) {
		s := q.segs[0]
		if q.reader.base == s.base {
			q.reader.close()
		}
		if err := os.Remove(s.path); err != nil {
			q.log.Warn("remove acknowledged queue segment", "err", err)
			return
		}
		if counted {
			q.bytes -= s.size
		}
		q.segs = q.segs[1:]
		q.dirDirty = true
	}
}
