package queue

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"

	"github.com/mqflux/mqflux/internal/segment"
)

// Releases before the shared segment log wrote the queue in a format of
// its own: files named by the id of their first record (20 digits, .seg)
// starting with the header "MQFQ" and version 1, records framed like the
// segment log's, and the watermark in a binary file "acked" (uint64 and its
// CRC-32C). Open re-appends the unacknowledged records of such files into
// the log and removes them only once the log is synced, so an upgraded
// device loses nothing; a crash in between only sends some records twice.
const (
	legacyMagic     = "MQFQ"
	legacyVersion   = 1
	legacyHeader    = 8
	legacyCursor    = "acked"
	legacyNameWidth = 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func legacyName(base uint64) string { return fmt.Sprintf("%0*d.seg", legacyNameWidth, base) }

func isLegacyName(name string) bool {
	num, ok := strings.CutSuffix(name, ".seg")
	if !ok || len(num) != legacyNameWidth {
		return false
	}
	base, err := strconv.ParseUint(num, 10, 64)
	return err == nil && base > 0
}

// checkNames refuses a directory with .seg files of neither format (a
// typo'd path pointing at something else) and returns the legacy segment
// files, oldest first.
func checkNames(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list queue dir %s: %w", dir, err)
	}
	var legacy []string
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".seg") || segment.IsName(name) {
			continue
		}
		if !isLegacyName(name) {
			return nil, fmt.Errorf("queue dir %s: %s is not a segment name (want digits and .seg)", dir, name)
		}
		legacy = append(legacy, name)
	}
	slices.Sort(legacy) // equal widths: the names sort by id
	return legacy, nil
}

// migrate moves the unacknowledged records of legacy files into the log.
// Called from Open with mu held.
func (q *Queue) migrate(names []string) error {
	dir := q.opts.Dir
	wm, err := readLegacyCursor(dir)
	if err != nil {
		q.log.Warn("queue: old cursor unreadable; taking over every old record", "err", err)
	}
	moved := 0
	for _, name := range names {
		n, err := q.migrateFile(filepath.Join(dir, name), wm)
		moved += n
		if err != nil {
			return fmt.Errorf("open queue: take over %s: %w", name, err)
		}
	}
	if err := q.sl.SyncAll(); err != nil {
		return fmt.Errorf("open queue: take over old files: %w", err)
	}
	for _, name := range append(names, legacyCursor, legacyCursor+".tmp") {
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("open queue: remove old file: %w", err)
		}
	}
	if err := segment.SyncDir(dir); err != nil {
		return fmt.Errorf("open queue: %w", err)
	}
	q.log.Info("queue: took over the records of an older queue format", "dir", dir, "files", len(names), "records", moved)
	return nil
}

// migrateFile appends the records of one legacy file with ids above wm.
// What does not read back is kept beside it as <file>.corrupt.
func (q *Queue) migrateFile(path string, wm uint64) (int, error) {
	base, _ := strconv.ParseUint(strings.TrimSuffix(filepath.Base(path), ".seg"), 10, 64)
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	r := bufio.NewReader(f)
	var hdr [legacyHeader]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil || string(hdr[:4]) != legacyMagic || binary.LittleEndian.Uint32(hdr[4:]) != legacyVersion {
		q.log.Error("queue: old segment unreadable; moved aside", "file", path, "to", path+".corrupt")
		return 0, os.Rename(path, path+".corrupt")
	}
	n := 0
	for id := base; ; id++ {
		rec, err := readLegacyRecord(r)
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			q.log.Warn("queue: old segment damaged; the rest is kept aside", "file", path, "id", id, "err", err, "to", path+".corrupt")
			return n, copyFile(f, path+".corrupt")
		}
		if id <= wm || len(rec) == 0 {
			continue
		}
		if fits, err := q.sl.Fits(len(rec)); err != nil || !fits {
			return n, fmt.Errorf("no room for record %d (err %v)", id, err)
		}
		if _, _, err := q.sl.Write(rec); err != nil {
			return n, err
		}
		n++
	}
}

// readLegacyRecord reads one record; io.EOF means a clean end.
func readLegacyRecord(r io.Reader) ([]byte, error) {
	var h [segment.FrameHeader]byte
	n, err := io.ReadFull(r, h[:])
	if n == 0 && errors.Is(err, io.EOF) {
		return nil, io.EOF
	}
	if err != nil {
		return nil, fmt.Errorf("record header cut short (%d of %d bytes)", n, len(h))
	}
	size := binary.LittleEndian.Uint32(h[:4])
	if size == 0 { // the old format took empty records; there is nothing to send
		if crc32.Checksum(h[:4], castagnoli) != binary.LittleEndian.Uint32(h[4:]) {
			return nil, errors.New("record CRC-32C mismatch")
		}
		return []byte{}, nil
	}
	if size > MaxRecordSize {
		return nil, fmt.Errorf("record length %d is over the limit of %d", size, MaxRecordSize)
	}
	frame := make([]byte, segment.FrameHeader+int(size))
	copy(frame, h[:])
	if _, err := io.ReadFull(r, frame[segment.FrameHeader:]); err != nil {
		return nil, fmt.Errorf("record data cut short")
	}
	rec, _, st := segment.DecodeFrame(frame) // the same framing as the segment log
	if st != segment.OK {
		return nil, fmt.Errorf("record %v", st)
	}
	return rec, nil
}

func readLegacyCursor(dir string) (uint64, error) {
	path := filepath.Join(dir, legacyCursor)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	if len(b) != 12 || crc32.Checksum(b[:8], castagnoli) != binary.LittleEndian.Uint32(b[8:]) {
		return 0, fmt.Errorf("%s: not a valid cursor (%d bytes)", path, len(b))
	}
	return binary.LittleEndian.Uint64(b[:8]), nil
}

// copyFile saves the whole of f to dst, durably.
func copyFile(f *os.File, dst string) error {
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o640)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, io.NewSectionReader(f, 0, 1<<62))
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	return err
}
