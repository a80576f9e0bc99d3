package hostlogs

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"
)

// FileSource follows one file by name, as `tail -F` does: new lines are
// read as they are written; when the name is given to a new file (the old
// one renamed away: logrotate's default, or removed), the rest of the old
// file is read and the new one is read from its start; when the file
// shrinks under the offset (logrotate's copytruncate), it is read again
// from its start. After a restart it goes on from the saved offset of the
// saved file, even when that file was rotated away meanwhile (it is found
// by its inode in the same directory). On a first start it begins at the
// file's end: what was there before is not sent.
type FileSource struct {
	File File
	Ship *Shipper
	Log  *slog.Logger
	Poll time.Duration // pollInterval when 0
}

// tail is the open file being read.
type tail struct {
	f        *os.File
	dev, ino uint64
	off      int64  // of the first byte not yet shipped
	pending  int64  // bytes read after off (a line without its newline yet)
	partial  []byte // those bytes, at most max_line and a few more
}

// Run follows the file until ctx is done.
func (s *FileSource) Run(ctx context.Context) {
	if s.Poll == 0 {
		s.Poll = pollInterval
	}
	if s.File.Unit == "" {
		s.File.Unit = filepath.Base(s.File.Path)
	}
	t := s.resume()
	defer func() {
		if t != nil {
			t.f.Close()
		}
	}()
	tick := time.NewTicker(s.Poll)
	defer tick.Stop()
	for {
		t = s.step(t)
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// resume opens where the state says, or the file's end on a first start.
func (s *FileSource) resume() *tail {
	pos, saved := s.Ship.State().Files[s.File.Path]
	fi, err := os.Stat(s.File.Path)
	if !saved {
		if err != nil {
			return nil // read from its start once it appears
		}
		t := s.open(s.File.Path, fi.Size())
		return t
	}
	if err == nil {
		if dev, ino := fileID(fi); dev == pos.Dev && ino == pos.Inode {
			return s.open(s.File.Path, pos.Offset)
		}
	}
	if old := findByID(filepath.Dir(s.File.Path), pos.Dev, pos.Inode); old != "" {
		s.Log.Info("log file was rotated while stopped; reading the rest of the old one first", "path", s.File.Path, "old", old)
		return s.open(old, pos.Offset)
	}
	if err == nil {
		s.Log.Warn("log file was replaced while stopped and the old one is gone; its unread lines are lost", "path", s.File.Path)
		return s.open(s.File.Path, 0)
	}
	return nil
}

// findByID is the file of dir with that device and inode, or "".
func findByID(dir string, dev, ino uint64) string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return ""
	}
	for _, e := range entries {
		if !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		if d, i := fileID(fi); d == dev && i == ino {
			return filepath.Join(dir, e.Name())
		}
	}
	return ""
}

func (s *FileSource) open(path string, off int64) *tail {
	f, err := os.Open(path)
	if err != nil {
		s.Log.Warn("log file unreadable", "path", path, "err", err)
		return nil
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil
	}
	if off > fi.Size() {
		off = 0 // truncated while stopped
	}
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		f.Close()
		return nil
	}
	dev, ino := fileID(fi)
	s.Log.Info("following log file", "path", path, "offset", off)
	t := &tail{f: f, dev: dev, ino: ino, off: off}
	s.ship(t, nil) // a restart goes on from here
	return t
}

// step reads what is new, then looks whether the name moved on to
// another file or the file shrank.
func (s *FileSource) step(t *tail) *tail {
	if t == nil {
		if _, err := os.Stat(s.File.Path); err != nil {
			return nil
		}
		return s.open(s.File.Path, 0) // appeared since: all of it is new
	}
	s.readNew(t)
	fi, err := os.Stat(s.File.Path)
	if err != nil {
		return t // renamed away, no new one yet: keep reading the old
	}
	if dev, ino := fileID(fi); dev != t.dev || ino != t.ino {
		s.readNew(t) // what was written before the rename
		s.finish(t)
		t.f.Close()
		return s.open(s.File.Path, 0)
	}
	if fi.Size() < t.off+t.pending {
		s.Log.Info("log file truncated; reading it from its start", "path", s.File.Path)
		t.partial, t.pending, t.off = t.partial[:0], 0, 0
		s.ship(t, nil)
		if _, err := t.f.Seek(0, io.SeekStart); err != nil {
			t.f.Close()
			return nil
		}
		s.readNew(t)
	}
	return t
}

// readNew reads to the end of the file and ships every whole line.
func (s *FileSource) readNew(t *tail) {
	buf := make([]byte, 64<<10)
	for {
		n, err := t.f.Read(buf)
		if n > 0 {
			s.lines(t, buf[:n])
		}
		if err != nil || n == 0 {
			if err != nil && !errors.Is(err, io.EOF) {
				s.Log.Warn("log file read", "path", s.File.Path, "err", err)
			}
			return
		}
	}
}

// lines splits data (following what was read of a line before) into
// lines and ships them with the offset after the last newline.
func (s *FileSource) lines(t *tail, data []byte) {
	var out []Line
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			s.keep(t, data)
			break
		}
		s.keep(t, data[:i])
		t.off += t.pending + 1
		out = append(out, s.line(t))
		data = data[i+1:]
	}
	if len(out) > 0 {
		s.ship(t, out)
	}
}

// keep adds b to the line being read, keeping no more than max_line (and
// a few bytes to show it was longer).
func (s *FileSource) keep(t *tail, b []byte) {
	t.pending += int64(len(b))
	if room := s.Ship.maxLine + 4 - len(t.partial); room > 0 {
		t.partial = append(t.partial, b[:min(room, len(b))]...)
	}
}

// line is the line read so far, which is done.
func (s *FileSource) line(t *tail) Line {
	text := string(bytes.TrimSuffix(t.partial, []byte{'\r'}))
	t.partial, t.pending = t.partial[:0], 0
	return Line{Unit: s.File.Unit, Level: s.File.Level, Message: text}
}

// finish ships the last line of a file that was rotated away without its
// newline: none will come.
func (s *FileSource) finish(t *tail) {
	if t.pending == 0 {
		return
	}
	t.off += t.pending
	s.ship(t, []Line{s.line(t)})
}

func (s *FileSource) ship(t *tail, lines []Line) {
	pos := FilePos{Dev: t.dev, Inode: t.ino, Offset: t.off}
	path := s.File.Path
	s.Ship.Ship(lines, func(st *State) { st.Files[path] = pos })
}
