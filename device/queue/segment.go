package queue

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// A segment file starts with a header (magic and version) followed by
// records: a 4-byte little-endian length, a 4-byte CRC-32C of length and
// data, the data. The file name is the id of its first record, so ids survive restarts
// without a separate index.
const (
	magic        = "MQFQ"
	version      = 1
	headerSize   = 8
	recordHeader = 8
	segmentExt   = ".seg"
	// MaxRecordSize bounds one record, so a corrupt length read from disk
	// is recognised instead of being trusted.
	MaxRecordSize = 1 << 20
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// segment is one file of the queue. Only the newest one is appended to.
type segment struct {
	base  uint64 // id of the first record
	count uint64 // records in the file
	size  int64  // bytes in the file, header included
	path  string
}

func (s *segment) last() uint64 { return s.base + s.count - 1 }

func segmentName(base uint64) string { return fmt.Sprintf("%020d%s", base, segmentExt) }

// listSegments returns the segment files of dir, oldest first.
func listSegments(dir string) ([]*segment, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("list queue dir %s: %w", dir, err)
	}
	var segs []*segment
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, segmentExt) {
			continue
		}
		base, err := strconv.ParseUint(strings.TrimSuffix(name, segmentExt), 10, 64)
		if err != nil || base == 0 {
			return nil, fmt.Errorf("queue dir %s: %s is not a segment name (want 20 digits and %s)", dir, name, segmentExt)
		}
		segs = append(segs, &segment{base: base, path: filepath.Join(dir, name)})
	}
	sort.Slice(segs, func(i, j int) bool { return segs[i].base < segs[j].base })
	return segs, nil
}

// corruptError says where a segment stops being readable and why.
type corruptError struct {
	path   string
	offset int64
	reason string
}

func (e *corruptError) Error() string {
	return fmt.Sprintf("%s: byte %d: %s", e.path, e.offset, e.reason)
}

// scan counts the valid records of s and returns the first problem, if any,
// as a *corruptError; s.size is set to the end of the last valid record.
func (s *segment) scan() error {
	f, err := os.Open(s.path)
	if err != nil {
		return fmt.Errorf("open segment: %w", err)
	}
	defer f.Close()
	r := &countingReader{r: bufio.NewReaderSize(f, 64<<10)}
	var hdr [headerSize]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		s.size, s.count = 0, 0
		return &corruptError{s.path, 0, "no complete header (file cut short)"}
	}
	if string(hdr[:4]) != magic || binary.LittleEndian.Uint32(hdr[4:]) != version {
		s.size, s.count = 0, 0
		return &corruptError{s.path, 0, fmt.Sprintf("not a queue segment (header %q)", hdr[:])}
	}
	s.size, s.count = headerSize, 0
	buf := make([]byte, 0, 512)
	for {
		data, err := readRecord(r, buf)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return &corruptError{s.path, s.size, err.Error()}
		}
		buf = data[:0]
		s.size = r.n
		s.count++
	}
}

// readRecord reads one record. io.EOF means a clean end; any other error
// describes a torn or corrupt record.
func readRecord(r io.Reader, buf []byte) ([]byte, error) {
	var h [recordHeader]byte
	n, err := io.ReadFull(r, h[:])
	if n == 0 && errors.Is(err, io.EOF) {
		return nil, io.EOF
	}
	if err != nil {
		return nil, fmt.Errorf("record header cut short (%d of %d bytes)", n, recordHeader)
	}
	size := binary.LittleEndian.Uint32(h[:4])
	if size > MaxRecordSize {
		return nil, fmt.Errorf("record length %d is over the limit of %d", size, MaxRecordSize)
	}
	if cap(buf) < int(size) {
		buf = make([]byte, size)
	}
	data := buf[:size]
	if n, err := io.ReadFull(r, data); err != nil {
		return nil, fmt.Errorf("record data cut short (%d of %d bytes)", n, size)
	}
	want := binary.LittleEndian.Uint32(h[4:])
	if got := recordCRC(h[:4], data); got != want {
		return nil, fmt.Errorf("record CRC-32C mismatch (stored %08x, computed %08x)", want, got)
	}
	return data, nil
}

func encodeRecord(data []byte) []byte {
	b := make([]byte, recordHeader+len(data))
	binary.LittleEndian.PutUint32(b[:4], uint32(len(data)))
	binary.LittleEndian.PutUint32(b[4:8], recordCRC(b[:4], data))
	copy(b[recordHeader:], data)
	return b
}

// recordCRC covers the length too, so a run of zero bytes (a file extended
// but never written, as after a power cut on some file systems) is not
// mistaken for empty records.
func recordCRC(length, data []byte) uint32 {
	return crc32.Update(crc32.Checksum(length, castagnoli), castagnoli, data)
}

func segmentHeader() []byte {
	b := make([]byte, headerSize)
	copy(b, magic)
	binary.LittleEndian.PutUint32(b[4:], version)
	return b
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
