package spool

import (
	"errors"
	"fmt"

	"github.com/mqflux/mqflux/bridge/ingest"
	"github.com/mqflux/mqflux/internal/segment"
)

// Append stores one record (one or more '\n'-terminated lines of line
// protocol). It returns nil only once the record is written to the
// operating system (Write) or fsynced (Fsync); ingest.ErrFull when the spool
// is at its size bound with records a required reader has not acked.
// Safe for many concurrent callers.
func (s *Spool) Append(rec []byte) error {
	if len(rec) == 0 {
		return errors.New("spool append: empty record")
	}
	if len(rec) > MaxRecordBytes {
		return fmt.Errorf("spool append: record of %d bytes exceeds the limit of %d bytes", len(rec), MaxRecordBytes)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	fits, err := s.makeRoom(len(rec))
	if err != nil {
		return err
	}
	if !fits {
		if !s.full {
			s.full = true
			s.log.Warn("spool full: pushing back until acked segments are deleted",
				"dir", s.dir, "disk_bytes", s.sl.DiskBytes(), "max_bytes", s.sl.MaxBytes(), "pending_records", s.pendingRequired())
		}
		return ingest.ErrFull
	}
	g, at, err := s.sl.Write(rec)
	if err != nil {
		return err
	}
	if g != s.tail {
		s.tail = g
		s.bases[g] = s.endByte
		s.sweepDone()
	}
	s.ages.note(g.Seq+uint64(g.Records)-1, s.now())
	if s.full {
		s.full = false
		s.log.Info("spool has room again", "dir", s.dir, "disk_bytes", s.sl.DiskBytes(), "max_bytes", s.sl.MaxBytes())
	}
	s.endByte += int64(segment.FrameHeader + len(rec))
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
