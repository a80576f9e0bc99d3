package spool

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/mqflux/mqflux/internal/segment"
)

// The file "cursors" holds one line per reader, "NAME segment S offset O
// records K": the oldest record the reader had not acked at the last
// Close is in segment S at offset O, after K records of that segment. The
// count within the segment, not a record number, keeps a cursor exact
// whatever the segments before it became. It is replaced atomically
// (write, rename), like the log's own cursor.
const cursorsName = "cursors"

// saved is a reader's cursor as read from the file.
type saved struct {
	seg       uint64
	off, recs int64
}

// placeReaders creates the readers and puts each at its saved cursor, or
// at the oldest record still in the spool when it has none. mu not needed:
// nothing else runs yet.
func (s *Spool) placeReaders(specs []ReaderSpec) error {
	cursors, err := s.loadCursors()
	if err != nil {
		return err
	}
	first := s.sl.Segments()[0] // there is at least the fresh active segment
	start := pos{seg: first, off: first.ReadOff, recs: first.ReadRecs, byte: first.ReadOff}
	for i, sp := range specs {
		r := &Reader{s: s, name: sp.Name, idx: i, required: sp.Required, maxLag: sp.MaxLag,
			readTurn: make(chan struct{}, 1), at: start}
		if c, ok := cursors[sp.Name]; ok {
			if p := s.resolve(sp.Name, c); p.seq() > start.seq() {
				r.at = p
			}
			delete(cursors, sp.Name)
		}
		s.readers = append(s.readers, r)
		if !r.required {
			s.optional = append(s.optional, r)
		}
	}
	var errs []error
	for _, r := range s.readers {
		errs = append(errs, s.doneUpTo(r, r.at))
	}
	for name, c := range cursors {
		s.log.Warn("spool: dropping the saved cursor of a reader no longer configured",
			"reader", name, "segment", c.seg, "offset", c.off)
	}
	if len(cursors) > 0 {
		errs = append(errs, s.saveCursors())
	}
	return errors.Join(errs...)
}

// resolve turns a saved cursor into a position in the segments found. mu
// not needed (Open).
func (s *Spool) resolve(name string, c saved) pos {
	for _, g := range s.sl.Segments() {
		switch {
		case g.ID < c.seg:
			continue
		case g.ID > c.seg:
			// Its segment was finished by every reader and deleted.
			return pos{seg: g, byte: s.baseOf(g)}
		case c.off >= g.Size:
			// At the end, or acked before damage cut the segment short.
			return pos{seg: g, off: g.Size, recs: g.Records, byte: s.baseOf(g) + g.Size}
		case c.recs >= g.Records || c.recs < 0 || c.off < 0:
			s.log.Warn("spool: saved cursor does not fit its segment; handing the segment out again",
				"reader", name, "file", g.Path, "offset", c.off, "records", c.recs)
			return pos{seg: g, byte: s.baseOf(g)}
		default:
			return pos{seg: g, off: c.off, recs: c.recs, byte: s.baseOf(g) + c.off}
		}
	}
	return s.endPos()
}

// loadCursors reads the saved cursors by name; an unreadable file is
// logged and ignored (every reader then starts at the oldest record).
func (s *Spool) loadCursors() (map[string]saved, error) {
	path := filepath.Join(s.dir, cursorsName)
	data, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return map[string]saved{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("spool open: read cursors: %w", err)
	}
	out := map[string]saved{}
	sc := bufio.NewScanner(strings.NewReader(string(data)))
	for n := 1; sc.Scan(); n++ {
		var name string
		var c saved
		if _, err := fmt.Sscanf(sc.Text(), "%s segment %d offset %d records %d", &name, &c.seg, &c.off, &c.recs); err != nil {
			s.log.Warn("spool: unreadable cursors file ignored; every reader starts at the oldest record", "file", path, "line", n, "err", err)
			return map[string]saved{}, nil
		}
		out[name] = c
	}
	return out, nil
}

// saveCursors saves every reader's oldest unacked position, then the
// oldest of them as the log's cursor, in that order: a crash between the
// two leaves the log's cursor older, which only keeps more. mu held.
func (s *Spool) saveCursors() error {
	var b strings.Builder
	var oldest pos
	for i, r := range s.readers {
		r.step()
		p := r.low()
		fmt.Fprintf(&b, "%s segment %d offset %d records %d\n", r.name, p.seg.ID, p.off, p.recs)
		if i == 0 || p.seq() < oldest.seq() {
			oldest = p
		}
	}
	if err := s.writeFile(cursorsName, b.String()); err != nil {
		return fmt.Errorf("spool save cursors: %w", err)
	}
	return s.sl.SaveCursor(segment.Cursor{Seg: oldest.seg.ID, Off: oldest.off})
}

// writeFile replaces dir/name atomically, fsynced when the spool fsyncs.
func (s *Spool) writeFile(name, data string) error {
	path := filepath.Join(s.dir, name)
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	_, err = f.WriteString(data)
	if err == nil && s.dur == Fsync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err == nil && s.dur == Fsync {
		err = segment.SyncDir(s.dir)
	}
	return err
}
