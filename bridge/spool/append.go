package spool

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"

	"github.com/mqflux/mqflux/bridge/ingest"
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
	frameLen := int64(frameHeader + len(rec))

	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if s.syncErr != nil {
		return fmt.Errorf("spool append: %w", s.syncErr)
	}
	if g := s.active; s.diskBytes+frameLen > s.maxBytes && g != nil && g.size > 0 && g.ackedRecs == g.records {
		// Every record of the active segment is stored, yet its bytes count
		// against MaxBytes until it is sealed and deleted, and only an Append
		// that fits seals it. With segment_bytes close to max_bytes that
		// would push back forever; seal it now (roll deletes it).
		if err := s.roll(); err != nil {
			return err
		}
	}
	if s.diskBytes+frameLen > s.maxBytes {
		if !s.full {
			s.full = true
			s.log.Warn("spool full: pushing back until acked segments are deleted",
				"dir", s.dir, "disk_bytes", s.diskBytes, "max_bytes", s.maxBytes, "pending_records", s.pendingRecs)
		}
		return ingest.ErrFull
	}
	if s.active == nil || (s.active.size > 0 && s.active.size+frameLen > s.segBytes) {
		if err := s.roll(); err != nil {
			return err
		}
	}
	g := s.active
	s.wbuf = appendFrame(s.wbuf[:0], rec)
	_, err := s.w.WriteAt(s.wbuf, g.size) // one pwrite(2): the OS has the whole frame or we report failure
	if cap(s.wbuf) > 1<<20 {
		s.wbuf = nil // do not pin a rare huge record's buffer
	}
	if err != nil {
		s.cutTornWrite(g)
		return fmt.Errorf("spool append %s: %w", g.path, err)
	}
	if s.full {
		s.full = false
		s.log.Info("spool has room again", "dir", s.dir, "disk_bytes", s.diskBytes, "max_bytes", s.maxBytes)
	}
	g.size += frameLen
	g.records++
	s.diskBytes += frameLen
	s.pendingRecs++
	s.pendingBytes += frameLen
	s.unreadRecs++
	s.unreadBytes += int64(len(rec))
	s.written += frameLen
	if s.notify != nil && (s.unreadRecs >= s.waitRecs || s.unreadBytes >= s.waitBytes) {
		s.wake()
	}
	if s.dur == Fsync {
		return s.waitSynced(s.written)
	}
	return nil
}

// cutTornWrite removes whatever part of a failed write reached the file
// (a full disk writes a prefix), so the next record starts on a frame
// boundary. If even that fails, the segment is sealed at its last whole
// record; the next Open moves the stray bytes to a .corrupt file.
func (s *Spool) cutTornWrite(g *segment) {
	err := s.w.Truncate(g.size)
	if err == nil {
		return
	}
	s.log.Error("spool: cannot cut a failed write off; sealing the segment", "file", g.path, "offset", g.size, "err", err)
	if err := s.roll(); err != nil {
		s.log.Error("spool: cannot start a new segment", "err", err)
	}
}

// roll seals the active segment and starts the next one. Called with mu held.
func (s *Spool) roll() error {
	if old := s.active; old != nil {
		if s.dur == Fsync && s.syncErr == nil {
			if err := s.w.Sync(); err != nil {
				s.failSync(fmt.Errorf("fsync %s: %w", old.path, err))
			} else {
				s.synced = s.written // every earlier segment was synced when it was sealed
				s.syncCond.Broadcast()
			}
		}
		if s.syncing {
			s.retired = append(s.retired, s.w) // an fsync of it may be running
		} else if err := s.w.Close(); err != nil {
			s.log.Warn("spool: close sealed segment", "file", old.path, "err", err)
		}
		s.w = nil
		s.active = nil
		old.sealed = true
		if old.done() {
			s.removeSegment(old) // logs its own failure
		}
	}
	id := s.nextID
	path := filepath.Join(s.dir, segmentName(id))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("spool new segment: %w", err)
	}
	s.nextID++
	if s.dur == Fsync {
		if err := syncDir(s.dir); err != nil {
			f.Close()
			os.Remove(path)
			return fmt.Errorf("spool new segment %s: %w", path, err)
		}
	}
	g := &segment{id: id, path: path}
	s.segs = append(s.segs, g)
	s.active = g
	s.w = f
	if s.readSeg == nil {
		s.readSeg = g
	}
	return nil
}

// waitSynced returns once an fsync covering position pos completed. The
// first waiter to find no fsync running runs one for everybody written so
// far (group commit); the others wait for it. Called with mu held.
func (s *Spool) waitSynced(pos int64) error {
	for s.synced < pos {
		if s.syncErr != nil {
			return fmt.Errorf("spool append: %w", s.syncErr)
		}
		if s.closed || s.w == nil {
			return fmt.Errorf("spool append: %w before the record was fsynced", ErrClosed)
		}
		if s.syncing {
			s.syncCond.Wait()
			continue
		}
		s.syncing = true
		target, f, path := s.written, s.w, s.active.path
		s.mu.Unlock()
		err := datasync(f)
		s.mu.Lock()
		s.syncing = false
		switch {
		case err == nil:
			s.synced = max(s.synced, target)
			s.fsyncs++
		case s.closed:
			// Close closed f under us; it fsynced the file itself.
		default:
			s.failSync(fmt.Errorf("fsync %s: %w", path, err))
		}
		if err := s.closeRetired(); err != nil {
			s.log.Warn("spool: close sealed segment", "err", err)
		}
		s.syncCond.Broadcast()
	}
	return nil
}

// failSync makes an fsync failure sticky: after one, the kernel may have
// dropped dirty pages and a later fsync can succeed without them, so no
// Append may be promised durable again until the process restarts and
// recovery reads what really is on disk.
func (s *Spool) failSync(err error) {
	if s.syncErr == nil {
		s.syncErr = err
		s.log.Error("spool: fsync failed; refusing appends until restart", "err", err)
	}
}

func (s *Spool) closeRetired() error {
	var errs []error
	for _, f := range s.retired {
		errs = append(errs, f.Close())
	}
	s.retired = s.retired[:0]
	return errors.Join(errs...)
}

// datasync is fdatasync(2): it skips the inode times fsync would also write.
func datasync(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		for {
			serr = syscall.Fdatasync(int(fd))
			if serr != syscall.EINTR {
				return
			}
		}
	})
	if err != nil {
		return err
	}
	return serr
}

// syncDir makes a created, renamed or removed directory entry durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("fsync directory %s: %w", dir, err)
	}
	return nil
}
