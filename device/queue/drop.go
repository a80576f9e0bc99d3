package queue

// DropOldest discards the unacknowledged records of the oldest segment,
// sealing it first when it is the one being written, and returns how many
// it discarded. It is for a queue whose policy under pressure is to keep
// the newest records (the device's log lines), never for readings: the
// readings' queue refuses new records instead. Records of the segment
// already handed out by Next may still be acknowledged; that does nothing.
func (q *Queue) DropOldest() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return 0
	}
	p := q.frontier()
	if p.id >= q.sl.NextSeq() {
		return 0
	}
	g := p.seg
	if g == q.sl.Active() {
		if err := q.sl.Roll(); err != nil {
			q.log.Error("queue: cannot start a new segment to drop the oldest", "err", err)
			return 0
		}
	}
	last := g.Seq + uint64(g.Records) - 1
	n := 0
	for id := p.id; id <= last; id++ {
		if _, done := q.acked[id]; !done {
			q.acked[id] = struct{}{}
			q.unacked--
			n++
		}
	}
	q.stats.Dropped += uint64(n)
	q.advance()
	return n
}
