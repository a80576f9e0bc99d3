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
// is at its size bound. Safe for many concurrent callers.
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
	fits, err := s.sl.Fits(len(rec))
	if err != nil {
		return err
	}
	if !fits {
		if !s.full {
			s.full = true
			s.log.Warn("spool full: pushing back until acked segments are deleted",
				"dir", s.dir, "disk_bytes", s.sl.DiskBytes(), "max_bytes", s.sl.MaxBytes(), "pending_records", s.pendingRecs)
		}
		return ingest.ErrFull
	}
	g, pos, err := s.sl.Write(rec)
	if err != nil {
		return err
	}
	s.ages.note(g.Seq+uint64(g.Records)-1, s.now())
	if s.full {
		s.full = false
		s.log.Info("spool has room again", "dir", s.dir, "disk_bytes", s.sl.DiskBytes(), "max_bytes", s.sl.MaxBytes())
	}
	frameLen := int64(segment.FrameHeader + len(rec))
	s.pendingRecs++
	s.pendingBytes += frameLen
	s.unreadRecs++
	s.unreadBytes += int64(len(rec))
	if s.notify != nil && (s.unreadRecs >= s.waitRecs || s.unreadBytes >= s.waitBytes) {
		s.wake()
	}
	if s.dur != Fsync {
		return nil
	}
	if err := s.sl.WaitSynced(pos); errors.Is(err, segment.ErrClosed) {
		return fmt.Errorf("spool append: %w before the record was fsynced", ErrClosed)
	} else if err != nil {
		return err
	}
	return nil
}
