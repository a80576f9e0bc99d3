package deadletter

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
)

// Rewrite passes every entry of the current file (not the rotated <path>.1)
// to fn, which returns the entry to keep in its place (changed or not) and
// whether to keep it, and replaces the file with the kept entries. Adds
// wait meanwhile. When fn fails, that entry and the rest are kept as they
// were and the error is returned; the new file replaces the old one by
// rename, so a crash leaves one or the other whole.
func (d *File) Rewrite(fn func(Entry) (Entry, bool, error)) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return fmt.Errorf("dead-letter rewrite %s: file is closed", d.path)
	}
	tmp := d.path + ".rewrite"
	out, err := os.OpenFile(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, 0o644)
	if err != nil {
		return fmt.Errorf("dead-letter rewrite: %w", err)
	}
	defer os.Remove(tmp) // gone by rename on success
	ferr := d.copyKept(out, fn)
	if err := out.Sync(); err != nil {
		out.Close()
		return fmt.Errorf("dead-letter rewrite %s: %w", tmp, err)
	}
	if err := out.Close(); err != nil {
		return fmt.Errorf("dead-letter rewrite %s: %w", tmp, err)
	}
	if d.f != nil { // nil after a rotation that could not start the new file
		if err := d.f.Close(); err != nil {
			return fmt.Errorf("dead-letter rewrite %s: %w", d.path, err)
		}
	}
	if err := os.Rename(tmp, d.path); err != nil {
		return errors.Join(fmt.Errorf("dead-letter rewrite %s: %w", d.path, err), d.open())
	}
	d.quota.reset()
	if err := d.open(); err != nil {
		return errors.Join(ferr, err)
	}
	return errors.Join(ferr, syncDir(filepath.Dir(d.path)))
}

// copyKept writes to out what fn keeps; after fn fails, every entry as it
// was. mu held.
func (d *File) copyKept(out io.Writer, fn func(Entry) (Entry, bool, error)) error {
	in, err := os.Open(d.path)
	if err != nil {
		return fmt.Errorf("dead-letter rewrite: %w", err)
	}
	defer in.Close()
	r := NewReader(in)
	w := bufio.NewWriter(out)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	var failed error
	for {
		e, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return errors.Join(failed, err, w.Flush())
		}
		keep := true
		if failed == nil {
			var ne Entry
			if ne, keep, failed = fn(e); failed == nil {
				e = ne
			} else {
				keep = true
			}
		}
		if keep {
			if err := enc.Encode(toLine(e)); err != nil {
				return errors.Join(failed, fmt.Errorf("dead-letter rewrite: encode: %w", err))
			}
		}
	}
	if err := w.Flush(); err != nil {
		return errors.Join(failed, fmt.Errorf("dead-letter rewrite: %w", err))
	}
	return failed
}

// Summary is what `mqflux deadletter list` shows of a file.
type Summary struct {
	Entries  int            `json:"entries"`
	ByReason map[string]int `json:"by_reason"`
	ByDevice map[string]int `json:"by_device"`
	Newest   []Entry        `json:"newest"` // newest first
}

// Summarize counts the entries of the file at path by reason and device
// and keeps the newest n. A missing file is an empty summary; a partial
// last line (an entry being written) is left out.
func Summarize(path string, n int) (Summary, error) {
	s := Summary{ByReason: map[string]int{}, ByDevice: map[string]int{}}
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return s, fmt.Errorf("dead-letter list: %w", err)
	}
	defer f.Close()
	r := NewReader(f)
	for {
		e, err := r.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return s, err
		}
		s.Entries++
		s.ByReason[e.Reason]++
		s.ByDevice[e.Device]++
		s.Newest = append(s.Newest, e)
	}
	sort.SliceStable(s.Newest, func(i, j int) bool { return s.Newest[i].Time.After(s.Newest[j].Time) })
	if len(s.Newest) > n {
		s.Newest = s.Newest[:n]
	}
	return s, nil
}

// Path is the file's path.
func (d *File) Path() string { return d.path }

// Each passes every entry of the current file to fn, in order, while Adds
// wait; it stops at fn's first error.
func (d *File) Each(fn func(Entry) error) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	in, err := os.Open(d.path)
	if err != nil {
		return fmt.Errorf("dead-letter read: %w", err)
	}
	defer in.Close()
	r := NewReader(in)
	for {
		e, err := r.Next()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return err
		}
		if err := fn(e); err != nil {
			return err
		}
	}
}
