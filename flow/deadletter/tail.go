package deadletter

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// FileName is the dead-letter file's name in the data directory; the one
// before the last rotation is RotatedPath of it.
const FileName = "dead-letter.jsonl"

// PathIn is the dead-letter file of a data directory.
func PathIn(dataDir string) string { return filepath.Join(dataDir, FileName) }

// RotatedPath is where Open's rotation keeps the previous file of path.
func RotatedPath(path string) string { return path + ".1" }

const (
	// tailBlock is how much Tail reads at a time, walking back from the end.
	tailBlock = 64 << 10
	// MaxTailLine is the longest line Tail keeps in memory; a longer one
	// (no entry mqflux writes is) is skipped and counted as unreadable.
	MaxTailLine = 8 << 20
	// PageBytes bounds the entries of one page (at least one is always
	// returned): a page of large payloads ends early, with a cursor.
	PageBytes = 4 << 20
)

// ErrCursorExpired is Tail's answer to a cursor into a file that has since
// been rotated away or rewritten by a replay.
var ErrCursorExpired = errors.New("the dead-letter file was rotated or rewritten since this cursor was given: start again without one")

// ErrBadCursor is Tail's answer to a cursor it did not give.
var ErrBadCursor = errors.New("not a dead-letter cursor (pass a page's next as it was given)")

// Page is a run of entries read from the end of the dead letters.
type Page struct {
	Entries []Entry // newest first
	// Next is the cursor of the entries before these, "" when these reach
	// the start of the oldest file.
	Next string
	// Unreadable counts the lines passed over that are not entries.
	Unreadable int
}

// Tail reads up to n entries, newest first, from the end of the dead-letter
// file at path, continuing into its rotated predecessor; with a cursor (a
// Page's Next), from where that page stopped. It reads backwards in blocks,
// so its memory is bounded by the page, not the file. A missing file is no
// entries; a partial last line (an entry being written) is left out.
func Tail(path string, n int, cursor string) (Page, error) {
	var p Page
	files := []string{path, RotatedPath(path)}
	start, end, err := resolve(files, cursor)
	if err != nil || n <= 0 {
		return p, err
	}
	budget := PageBytes
	for i := start; i < len(files); i++ {
		id, at, err := tailFile(files[i], end, func(e Entry, size int) bool {
			p.Entries = append(p.Entries, e)
			budget -= size
			return len(p.Entries) < n && budget > 0
		}, &p.Unreadable)
		if err != nil {
			return p, err
		}
		if at >= 0 {
			if at > 0 || (i+1 < len(files) && nonEmpty(files[i+1])) {
				p.Next = strconv.FormatUint(id, 36) + "-" + strconv.FormatInt(at, 36)
			}
			return p, nil
		}
		end = -1
	}
	return p, nil
}

func nonEmpty(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Size() > 0
}

// resolve finds which file and offset a cursor points into; -1 is the
// file's end.
func resolve(files []string, cursor string) (int, int64, error) {
	if cursor == "" {
		return 0, -1, nil
	}
	id, off, ok := strings.Cut(cursor, "-")
	ino, err1 := strconv.ParseUint(id, 36, 64)
	at, err2 := strconv.ParseInt(off, 36, 64)
	if !ok || err1 != nil || err2 != nil || at < 0 {
		return 0, 0, fmt.Errorf("%w: %q", ErrBadCursor, cursor)
	}
	for i, f := range files {
		fi, err := os.Stat(f)
		if err == nil && fileID(fi) == ino && at <= fi.Size() {
			if at == 0 { // this file's start: the older one is next
				return i + 1, -1, nil
			}
			return i, at, nil
		}
	}
	return 0, 0, ErrCursorExpired
}

// tailFile passes the entries of path before end (-1: its end) to keep,
// newest first, until keep returns false. It returns the file's identity
// and the offset of the last entry kept when keep stopped it, -1 when the
// file's start was reached.
func tailFile(path string, end int64, keep func(Entry, int) bool, unreadable *int) (uint64, int64, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return 0, -1, nil
	}
	if err != nil {
		return 0, 0, fmt.Errorf("dead-letter tail: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return 0, 0, fmt.Errorf("dead-letter tail: %w", err)
	}
	if end < 0 || end > fi.Size() {
		end = fi.Size()
	}
	stopped := int64(-1)
	err = scanBack(f, end, tailBlock, MaxTailLine, func(raw []byte, at int64) bool {
		raw = bytes.TrimSpace(raw)
		if len(raw) == 0 {
			return true
		}
		e, err := decode(raw, 0)
		if err != nil {
			*unreadable++
			return true
		}
		if !keep(e, len(raw)) {
			stopped = at
			return false
		}
		return true
	}, unreadable)
	if err != nil {
		return 0, 0, fmt.Errorf("dead-letter tail %s: %w", path, err)
	}
	return fileID(fi), stopped, nil
}

// scanBack passes each complete line of r before end to fn, last first,
// with the offset it starts at, until fn returns false. What follows the
// last newline before end is a line being written, and left out. A line
// longer than maxLine is skipped and counted in skipped, so memory stays
// within a block and maxLine.
func scanBack(r io.ReaderAt, end int64, block, maxLine int, fn func(line []byte, at int64) bool, skipped *int) error {
	var (
		carry    []byte // the start of the line that ends where the read part begins
		ended    bool   // a newline has been seen: carry is a complete line's end
		skipping bool   // the line being read is over maxLine
		buf      = make([]byte, block)
	)
	for pos := end; pos > 0; {
		size := int64(block)
		if pos < size {
			size = pos
		}
		pos -= size
		chunk := buf[:size]
		if _, err := r.ReadAt(chunk, pos); err != nil && !errors.Is(err, io.EOF) {
			return err
		}
		i := len(chunk)
		for {
			j := bytes.LastIndexByte(chunk[:i], '\n')
			if j < 0 {
				break
			}
			line := append(chunk[j+1:i:i], carry...)
			switch {
			case !ended:
				ended = true // the partial line at the end, if any
			case skipping || i-j-1+len(carry) > maxLine:
				*skipped++
			case !fn(line, pos+int64(j)+1):
				return nil
			}
			carry, skipping, i = carry[:0], false, j
		}
		if !ended || skipping {
			continue
		}
		if len(carry)+i > maxLine {
			carry, skipping = carry[:0], true
			continue
		}
		carry = append(append(make([]byte, 0, i+len(carry)), chunk[:i]...), carry...)
	}
	switch {
	case !ended:
	case skipping:
		*skipped++
	case len(carry) > 0:
		fn(carry, 0)
	}
	return nil
}
