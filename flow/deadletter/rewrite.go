package deadletter

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
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

// Summary is what `mqflux deadletter list` and GET /v1/deadletter show of
// the dead letters.
type Summary struct {
	// Entries, ByReason and ByDevice count the current file: what a
	// replay goes through.
	Entries  int            `json:"entries"`
	ByReason map[string]int `json:"by_reason"`
	ByDevice map[string]int `json:"by_device"`
	Newest   []Entry        `json:"newest"` // newest first, on into the rotated file
	// Next is the cursor of the entries before Newest; "" when there are
	// none.
	Next string `json:"next,omitempty"`
	// Unreadable counts the lines that are not entries.
	Unreadable int `json:"unreadable,omitempty"`
}

// Summarize counts the entries of the file at path by reason and device,
// reading it line by line, and takes the newest n before cursor ("" the
// end) with Tail: its memory is bounded by a line and a page, not the
// file. A missing file is an empty summary; a partial last line (an entry
// being written) is left out.
func Summarize(path string, n int, cursor string) (Summary, error) {
	s := Summary{ByReason: map[string]int{}, ByDevice: map[string]int{}}
	if err := s.count(path); err != nil {
		return s, err
	}
	page, err := Tail(path, n, cursor)
	s.Newest, s.Next = page.Entries, page.Next
	return s, err
}

// count adds the current file's entries to s. A complete line that is not
// an entry is counted as unreadable, not an error: the rest still count.
func (s *Summary) count(path string) error {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("dead-letter list: %w", err)
	}
	defer f.Close()
	r := bufio.NewReaderSize(f, tailBlock)
	var l struct{ Reason, Device string }
	var buf []byte
	for {
		raw, err := readLine(r, buf[:0], MaxTailLine)
		if errors.Is(err, io.EOF) {
			return nil // what is left without a newline is being written
		}
		if err != nil && !errors.Is(err, errLineTooLong) {
			return fmt.Errorf("dead-letter list %s: %w", path, err)
		}
		buf = raw[:0]
		if raw = bytes.TrimSpace(raw); len(raw) == 0 && err == nil {
			continue
		}
		l.Reason, l.Device = "", ""
		if err != nil || json.Unmarshal(raw, &l) != nil {
			s.Unreadable++
			continue
		}
		s.Entries++
		s.ByReason[l.Reason]++
		s.ByDevice[l.Device]++
	}
}

var errLineTooLong = errors.New("line too long")

// readLine appends the next line of r to buf; a line over max is passed
// over to its end and answered with errLineTooLong, so memory stays
// within max.
func readLine(r *bufio.Reader, buf []byte, max int) ([]byte, error) {
	long := false
	for {
		part, err := r.ReadSlice('\n')
		if !long && len(buf)+len(part) <= max {
			buf = append(buf, part...)
		} else {
			long, buf = true, buf[:0]
		}
		switch {
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err != nil:
			return buf, err
		case long:
			return buf, errLineTooLong
		}
		return buf, nil
	}
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
