package segment

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The cursor file remembers where the oldest unacknowledged record is, so a
// restart does not hand out again what was acknowledged in a segment that
// could not be deleted yet. It names the segment id, which is never reused,
// so a stale cursor cannot skip records of a newer segment. Without it
// everything in the segments is handed out again: at-least-once.
//
// The text form is "segment S offset O\n", or "segment S offset O record
// N\n" when the owner numbers its records (N is the number of the record at
// the cursor).
const cursorName = "cursor"

// Cursor is a position in the log.
type Cursor struct {
	Seg uint64 // segment id
	Off int64  // offset of a record boundary in it
	Seq uint64 // number of the record there; 0 when not numbered
}

func (c Cursor) String() string {
	if c.Seq == 0 {
		return fmt.Sprintf("segment %d offset %d\n", c.Seg, c.Off)
	}
	return fmt.Sprintf("segment %d offset %d record %d\n", c.Seg, c.Off, c.Seq)
}

func parseCursor(s string) (Cursor, error) {
	line, ok := strings.CutSuffix(s, "\n")
	f := strings.Fields(line)
	if !ok || strings.Contains(line, "\n") || (len(f) != 4 && len(f) != 6) || f[0] != "segment" || f[2] != "offset" {
		return Cursor{}, fmt.Errorf("want %q", "segment S offset O [record N]")
	}
	var c Cursor
	var err error
	if c.Seg, err = strconv.ParseUint(f[1], 10, 64); err != nil {
		return Cursor{}, err
	}
	if c.Off, err = strconv.ParseInt(f[3], 10, 64); err != nil || c.Off < 0 {
		return Cursor{}, fmt.Errorf("offset %q", f[3])
	}
	if len(f) == 6 {
		if f[4] != "record" {
			return Cursor{}, fmt.Errorf("want %q, got %q", "record", f[4])
		}
		if c.Seq, err = strconv.ParseUint(f[5], 10, 64); err != nil {
			return Cursor{}, err
		}
	}
	return c, nil
}

// loadCursor reads the cursor; ok is false when there is none or it is
// unreadable (logged: everything is handed out again).
func (l *Log) loadCursor() (c Cursor, ok bool, err error) {
	path := filepath.Join(l.dir, cursorName)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return Cursor{}, false, nil
	}
	if err != nil {
		return Cursor{}, false, fmt.Errorf("read cursor: %w", err)
	}
	c, err = parseCursor(string(data))
	if err != nil {
		l.log.Warn(l.what+": unreadable resume point ignored; every pending record is handed out again", "file", path, "err", err)
		return Cursor{}, false, nil
	}
	return c, true, nil
}

// SaveCursor replaces the cursor file atomically (write, rename), so a
// crash leaves the old or the new one. A lost cursor only means acknowledged
// records come back once, so it is fsynced only when the log fsyncs
// anything at all. Called with the owner's mutex held.
func (l *Log) SaveCursor(c Cursor) error {
	path := filepath.Join(l.dir, cursorName)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(c.String()), 0o644); err != nil {
		return fmt.Errorf("%s save resume point: %w", l.what, err)
	}
	if l.dur.syncs() {
		if err := syncFile(tmp); err != nil {
			return fmt.Errorf("%s save resume point: %w", l.what, err)
		}
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("%s save resume point: %w", l.what, err)
	}
	if l.dur.syncs() {
		if err := SyncDir(l.dir); err != nil {
			return fmt.Errorf("%s save resume point: %w", l.what, err)
		}
		l.dirDirty = false
	}
	return nil
}
