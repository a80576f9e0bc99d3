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
	fits, err := s.sl.Fits(size + (len(recs)-1)*segment.FrameHeader)
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
	g, pos, err := s.sl.WriteBatch(recs)
	if err != nil {
		return err
	}
	n := int64(len(recs))
	s.ages.note(g.Seq+uint64(g.Records)-1, s.now())
	if s.full {
		s.full = false
		s.log.Info("spool has room again", "dir", s.dir, "disk_bytes", s.sl.DiskBytes(), "max_bytes", s.sl.MaxBytes())
	}
	s.pendingRecs += n
	s.pendingBytes += n*segment.FrameHeader + int64(size)
	s.unreadRecs += n
	s.unreadBytes += int64(size)
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

// HasRoom says whether a record of n bytes, added to what is already
// there, fits under the spool's size bound now. An input that gathers
// records before one AppendBatch asks it for each, so that it can push
// back on the one that does not fit rather than on the whole batch.
func (s *Spool) HasRoom(n int) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return true // AppendBatch reports ErrClosed
	}
	fits, err := s.sl.Fits(n)
	return fits || err != nil // an error is AppendBatch's to report
}
