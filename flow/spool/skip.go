package spool

// How an optional reader falls behind without holding anyone up: past its
// MaxLag, or when the spool is full and optional readers alone hold a
// segment, its position jumps forward and the records it jumped over are
// counted (Reader.Stats().Skipped) and logged, once per jump. Jumps land
// on a record boundary the spool knows without reading: the start of a
// segment, or the end of the newest record.
//
// The batches it has out are dropped: the spool no longer keeps their
// records for it, and Batch.Dropped tells their writers. A writer may
// still store one (a late Ack: its records count as stored) or give it up
// (Reader.GiveUp: they count as skipped then), so that what the output
// holds plus what was skipped is exactly what was appended.

// skipTarget is where a reader skipping for lag lands: the start of the
// oldest segment that leaves it at most lag bytes behind, or the end of
// the newest record when even the newest segment holds more. mu held.
func (s *Spool) skipTarget(lag int64) pos {
	best := s.endPos()
	segs := s.sl.Segments()
	for i := len(segs) - 1; i >= 0; i-- {
		base := s.baseOf(segs[i])
		if s.endByte-base > lag {
			break
		}
		best = pos{seg: segs[i], byte: base}
	}
	return best
}

// skip moves r forward to p (or to its read position, if that is further)
// and drops what it has out. The count is exact: everything r had not
// acked before p. mu held.
func (s *Spool) skip(r *Reader, p pos, why string) {
	r.step()
	if p.seq() < r.at.seq() {
		p = r.at
	}
	before, _ := r.pending()
	lagBytes := s.endByte - r.low().byte
	var out int64 // records of the batches its writers still hold
	for _, h := range r.out {
		if h.acked || h.dropped {
			continue // an acked one stays acked: it was counted as stored
		}
		h.dropped = true
		if h.gone != nil {
			close(h.gone)
			out += h.recs
		}
	}
	r.out, r.ackedRecs, r.ackedBytes = nil, 0, 0
	r.at = p
	r.gen++
	after, _ := r.pending()
	n := before - after - out
	r.skipped += n
	err := s.doneUpTo(r, p)
	s.log.Warn("spool reader fell behind: skipping ahead, these records will not reach it",
		"reader", r.name, "cause", why, "records", n, "handed_out", out, "lag_bytes", lagBytes, "max_lag", r.maxLag, "skipped_total", r.skipped)
	if err != nil {
		s.log.Error("spool: deleting segments after a skip", "reader", r.name, "err", err)
	}
}

// makeRoom says whether a record of n bytes fits, first skipping optional
// readers past the oldest segment that only they still hold: an optional
// reader never pushes publishers back, only what required readers hold
// does. mu held.
func (s *Spool) makeRoom(n int) (bool, error) {
	for {
		fits, err := s.sl.Fits(n)
		if err != nil || fits || len(s.optional) == 0 {
			return fits, err
		}
		i := s.heldByOptionalOnly()
		if i < 0 {
			return false, nil
		}
		segs := s.sl.Segments()
		g, d := segs[i], s.done[segs[i]]
		// Past g: the start of the next segment, or the newest record's end.
		past := s.endPos()
		if i+1 < len(segs) {
			past = pos{seg: segs[i+1], byte: s.baseOf(segs[i+1])}
		}
		for _, r := range s.optional {
			if d != nil && d[r.idx] >= g.Records {
				continue
			}
			p := past
			if r.maxLag > 0 {
				if t := s.skipTarget(r.maxLag / 2); t.seq() > p.seq() {
					p = t
				}
			}
			s.skip(r, p, "spool_full")
		}
	}
}

// heldByOptionalOnly is the index of the oldest segment every required
// reader is done with and some optional reader is not; -1 if none. mu held.
func (s *Spool) heldByOptionalOnly() int {
	for i, g := range s.sl.Segments() {
		d := s.done[g]
		required, optional := true, false
		for _, r := range s.readers {
			if d != nil && d[r.idx] >= g.Records {
				continue
			}
			if r.required {
				required = false
				break
			}
			optional = true
		}
		if required && optional {
			return i
		}
	}
	return -1
}
