package spool

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// The cursor file remembers, across a clean Close, where the oldest unacked
// record is, so a restart does not hand out again what was acked in a
// segment that could not be deleted yet. It also remembers the segment id,
// which is never reused, so a stale cursor cannot skip records of a new
// segment. Without it (a crash) everything in the segments is handed out
// again: at-least-once, as promised.
const cursorName = "cursor"

type cursor struct {
	valid bool
	seg   uint64
	off   int64
}

func (s *Spool) loadCursor() (cursor, error) {
	path := filepath.Join(s.dir, cursorName)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return cursor{}, nil
	}
	if err != nil {
		return cursor{}, fmt.Errorf("spool open: %w", err)
	}
	var c cursor
	if _, err := fmt.Sscanf(string(data), "segment %d offset %d\n", &c.seg, &c.off); err != nil || c.off < 0 {
		s.log.Warn("spool: unreadable resume point ignored; every pending record is handed out again", "file", path, "err", err)
		return cursor{}, nil
	}
	c.valid = true
	return c, nil
}

// writeCursor saves the position of the oldest unacked record. mu held.
func (s *Spool) writeCursor() error {
	c := cursor{seg: s.nextID - 1}
	s.readCursor()
	switch g := s.readSeg; {
	case len(s.outstanding) > 0:
		c.seg, c.off = s.outstanding[0].seg, s.outstanding[0].off
	case g != nil:
		c.seg, c.off = g.id, g.readOff // everything before it was handed out and acked
	}
	path := filepath.Join(s.dir, cursorName)
	tmp := path + ".tmp"
	data := fmt.Sprintf("segment %d offset %d\n", c.seg, c.off)
	if err := os.WriteFile(tmp, []byte(data), 0o644); err != nil {
		return fmt.Errorf("spool save resume point: %w", err)
	}
	// A lost or torn cursor only means acked records come back once, so it
	// costs fsyncs only when the spool pays them anyway.
	if s.dur == Fsync {
		if err := syncFile(tmp); err != nil {
			return fmt.Errorf("spool save resume point: %w", err)
		}
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("spool save resume point: %w", err)
	}
	if s.dur == Fsync {
		return syncDir(s.dir)
	}
	return nil
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
