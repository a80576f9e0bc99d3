package spool

import (
	"errors"
	"fmt"

	"github.com/mqflux/mqflux/flow/ingest"
	"github.com/mqflux/mqflux/internal/segment"
)

// Append stores one record (one or more '\n'-terminated lines of line
// protocol). It returns nil only once the record is written to the
// operating system (Write) or fsynced (Fsync); ingest.ErrFull when the spool
// is at its size bound with records a required reader has not acked, or
// when the file system has no room for it (the error then wraps both
// ingest.ErrFull and the file system's error, and Fault says so).
// Safe for many concurrent callers.
func (s *Spool) Append(rec []byte) error {
	one := [1][]byte{rec}
	return s.AppendBatch(one[:])
}

// AppendBatch stores several records, one after another, with one write
// when they fit in one segment: what one network read brought in costs one
// syscall. It returns nil only once every record is written to the
// operating system (Write) or fsynced (Fsync); ingest.ErrFull, storing
// none, when the spool has no room for all of them. After any other error
// some of the records may be stored: the caller acknowledges none of them,
// and a resent one is stored twice (InfluxDB keeps one point for the
// same series and time).
func (s *Spool) AppendBatch(recs [][]byte) error {
	var size int
	for _, rec := range recs {
		if len(rec) == 0 {
			return errors.New("spool append: empty record")
		}
		if len(rec) > MaxRecordBytes {
			return fmt.Errorf("spool append: record of %d bytes exceeds the limit of %d bytes", len(rec), MaxRecordBytes)
		}
		size += len(rec)
	}
	if len(recs) == 0 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	// Fits counts one frame header; the others are added to the payload.
	fits, err := s.makeRoom(size + (len(recs)-1)*segment.FrameHeader)
	if err != nil {
		return s.failed(err)
	}
	if !fits {
		if !s.full {
			s.full = true
			s.log.Warn("spool full: pushing back until acked segments are deleted",
				"dir", s.dir, "disk_bytes", s.sl.DiskBytes(), "max_bytes", s.sl.MaxBytes(), "pending_records", s.pendingRequired())
		}
		return ingest.ErrFull
	}
	var at int64
	if total := int64(size + len(recs)*segment.FrameHeader); len(recs) > 1 && total > s.segBytes {
		// Larger than a segment: one record at a time, so that every
		// segment it crosses gets its start position.
		for _, rec := range recs {
			if at, err = s.write([][]byte{rec}); err != nil {
				return s.failed(err)
			}
		}
	} else if at, err = s.write(recs); err != nil {
		return s.failed(err)
	}
	if s.noSpace != nil && segment.HasRoom(s.dir, roomAgain) {
		s.log.Info("spool: the file system has room again", "dir", s.dir)
		s.noSpace = nil
	}
	if s.full {
		s.full = false
		s.log.Info("spool has room again", "dir", s.dir, "disk_bytes", s.sl.DiskBytes(), "max_bytes", s.sl.MaxBytes())
	}
	s.wakeReaders()
	for _, r := range s.optional {
		if r.maxLag > 0 && s.endByte-r.low().byte > r.maxLag {
			s.skip(r, s.skipTarget(r.maxLag/2), "max_lag")
		}
	}
	if s.dur != Fsync {
		return nil
	}
	if err := s.sl.WaitSynced(at); errors.Is(err, segment.ErrClosed) {
		return fmt.Errorf("spool append: %w before the record was fsynced", ErrClosed)
	} else if err != nil {
		return err
	}
	return nil
}

// roomAgain is how much free room ends a no-space episode: a small record
// may fit in the last page of a full file system and the next not, so one
// append that succeeds does not end it.
const roomAgain = 1 << 20

// failed turns an append's error into what the caller answers: a file
// system out of room is a full spool (push back, the publisher resends
// later), noted for Fault and logged once per episode. mu held.
func (s *Spool) failed(err error) error {
	if !segment.IsNoSpace(err) {
		return err
	}
	if s.noSpace == nil {
		s.log.Error("spool: no space left on device; pushing back until acked segments are deleted or the operator frees room",
			"dir", s.dir, "disk_bytes", s.sl.DiskBytes(), "pending_records", s.pendingRequired(), "err", err)
	}
	s.noSpace = err
	s.shed()
	return fmt.Errorf("spool append: %w: %w", ingest.ErrFull, err)
}

// shed gives the room of a wholly acked active segment back while the file
// system is full: without it that segment would stay until the next append
// that fits, which the full file system refuses. mu held.
func (s *Spool) shed() {
	if s.noSpace == nil {
		return
	}
	if rolled, err := s.sl.Shed(); err != nil {
		s.log.Error("spool: cannot start a new segment after deleting a drained one", "err", err)
	} else if rolled {
		s.sweepDone()
	}
}

// write appends records that fit in one segment and keeps the byte
// positions readers measure their lag with. mu held.
func (s *Spool) write(recs [][]byte) (int64, error) {
	g, at, err := s.sl.WriteBatch(recs)
	if err != nil {
		return 0, err
	}
	if g != s.tail {
		s.tail = g
		s.bases[g] = s.endByte
		s.sweepDone()
	}
	s.ages.note(g.Seq+uint64(g.Records)-1, s.now())
	for _, rec := range recs {
		s.endByte += int64(segment.FrameHeader + len(rec))
	}
	return at, nil
}

// HasRoom says whether a record of n bytes, added to what is already
// there, fits under the spool's size bound now (optional readers skipped
// past what only they hold, as AppendBatch would). An input that gathers
// records before one AppendBatch asks it for each, so that it can push
// back on the one that does not fit rather than on the whole batch. While
// the file system is full (Fault), it says no until there is room again.
func (s *Spool) HasRoom(n int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return true // AppendBatch reports ErrClosed
	}
	if s.noSpace != nil && !segment.HasRoom(s.dir, roomAgain) {
		return false // the file system is still (nearly) full: push back now
	}
	fits, err := s.makeRoom(n)
	return fits || err != nil // an error is AppendBatch's to report
}

// pendingRequired is Stats().Records with mu held.
func (s *Spool) pendingRequired() int64 {
	var n int64
	for _, r := range s.readers {
		if recs, _ := r.pending(); r.required && recs > n {
			n = recs
		}
	}
	return n
}
