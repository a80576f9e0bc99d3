package spool

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// recover rebuilds the bookkeeping from the segment files in the directory,
// repairing damage as it goes. Every recovered segment is sealed: appends go
// to a fresh segment, so a repaired file is never written again.
func (s *Spool) recover() error {
	cur, err := s.loadCursor()
	if err != nil {
		return err
	}
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return fmt.Errorf("spool open: %w", err)
	}
	var ids []uint64
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".seg")
		if !ok || !e.Type().IsRegular() {
			continue
		}
		id, err := strconv.ParseUint(name, 10, 64)
		if err != nil || id == 0 {
			s.log.Warn("spool: ignoring a file that is not a segment", "file", filepath.Join(s.dir, e.Name()))
			continue
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	s.nextID = cur.seg + 1
	for i, id := range ids {
		s.nextID = max(s.nextID, id+1)
		g, err := s.recoverSegment(id, i == len(ids)-1, cur)
		if err != nil {
			return err
		}
		if g == nil {
			continue
		}
		s.segs = append(s.segs, g)
		n := g.records - g.readRecs
		s.diskBytes += g.size
		s.pendingRecs += n
		s.pendingBytes += g.size - g.readOff
		s.unreadRecs += n
		s.unreadBytes += g.size - g.readOff - frameHeader*n
	}
	if len(s.segs) > 0 {
		s.readSeg = s.segs[0]
	}
	return nil
}

// damage is where and why a segment stops reading whole records.
type damage struct {
	kind   frameStatus
	recEnd int64 // end of the damaged record per its header, when known
}

// recoverSegment scans one segment, truncates a torn tail (last segment
// only) or moves damaged bytes to <segment>.corrupt, and skips the records
// the cursor says were acked. nil means the file held nothing pending and
// was removed.
func (s *Spool) recoverSegment(id uint64, last bool, cur cursor) (*segment, error) {
	path := filepath.Join(s.dir, segmentName(id))
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("spool recover: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("spool recover: %w", err)
	}
	size := fi.Size()

	g := &segment{id: id, path: path, sealed: true}
	skipOff, skipRecs := int64(-1), int64(-1)
	if cur.valid && cur.seg == id {
		skipOff = cur.off
	}
	d, err := scanSegment(f, size, func(off, recs int64) {
		if off == skipOff {
			skipRecs = recs
		}
		g.size, g.records = off, recs
	})
	if err != nil {
		return nil, fmt.Errorf("spool recover %s: %w", path, err)
	}
	if d.kind != frameOK {
		if err := s.repair(f, path, g.size, size, last, d); err != nil {
			return nil, err
		}
	}
	switch {
	case skipOff < 0:
	case skipRecs >= 0:
		g.readOff, g.readRecs = skipOff, skipRecs
	case skipOff > g.size:
		g.readOff, g.readRecs = g.size, g.records // acked before the damage cut it short
	default:
		s.log.Warn("spool: resume point is not on a record boundary; handing the segment out again", "file", path, "offset", skipOff)
	}
	g.ackedRecs = g.readRecs
	if g.done() {
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("spool recover: remove finished segment: %w", err)
		}
		return nil, nil
	}
	return g, nil
}

// scanSegment walks the frames of f, calling at(off, recs) at every record
// boundary (the start included), and reports the first damage.
func scanSegment(f *os.File, size int64, at func(off, recs int64)) (damage, error) {
	br := bufio.NewReaderSize(io.NewSectionReader(f, 0, size), 256<<10)
	var hdr [frameHeader]byte
	var buf []byte
	var off, recs int64
	for {
		at(off, recs)
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return damage{}, nil
			}
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return damage{kind: frameShort}, nil
			}
			return damage{}, err
		}
		n := binary.LittleEndian.Uint32(hdr[:4])
		if n == 0 || n > MaxRecordBytes {
			return damage{kind: frameBadLength}, nil
		}
		end := off + frameHeader + int64(n)
		if end > size {
			return damage{kind: frameShort, recEnd: end}, nil
		}
		if cap(buf) < int(n) {
			buf = make([]byte, n)
		}
		if _, err := io.ReadFull(br, buf[:n]); err != nil {
			return damage{}, err
		}
		if checksum(hdr[:4], buf[:n]) != binary.LittleEndian.Uint32(hdr[4:]) {
			return damage{kind: frameBadChecksum, recEnd: end}, nil
		}
		off = end
		recs++
	}
}

// repair cuts f at off, where d was found. In the last segment a partial
// record, or a bad last record, is what a crash mid-write leaves: it is cut
// off and logged. Anything else is moved to <segment>.corrupt first, so no
// byte that may hold an acknowledged reading is discarded.
func (s *Spool) repair(f *os.File, path string, off, size int64, last bool, d damage) error {
	torn := last && (d.kind == frameShort || d.kind == frameBadChecksum && d.recEnd == size)
	if last && d.kind == frameBadLength {
		zero, err := allZero(f, off, size)
		if err != nil {
			return fmt.Errorf("spool recover %s: %w", path, err)
		}
		torn = zero // a crash can leave a zero-filled tail
	}
	if torn {
		s.log.Warn("spool: torn tail truncated (a crash mid-write)", "file", path, "offset", off, "bytes", size-off, "cause", d.kind.String())
	} else {
		dst := path + ".corrupt"
		if err := copyOut(f, off, size, dst); err != nil {
			return fmt.Errorf("spool recover %s: save damaged bytes: %w", path, err)
		}
		s.log.Warn("spool: damaged segment; the unreadable rest was moved aside", "file", path, "offset", off, "bytes", size-off, "corrupt_file", dst, "cause", d.kind.String())
	}
	if err := f.Truncate(off); err != nil {
		return fmt.Errorf("spool recover %s: truncate at %d: %w", path, off, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("spool recover %s: %w", path, err)
	}
	return nil
}

func allZero(f *os.File, off, size int64) (bool, error) {
	buf := make([]byte, 64<<10)
	for off < size {
		n, err := f.ReadAt(buf[:min(int64(len(buf)), size-off)], off)
		for _, c := range buf[:n] {
			if c != 0 {
				return false, nil
			}
		}
		off += int64(n)
		if err != nil && off < size {
			return false, err
		}
	}
	return true, nil
}

// copyOut appends bytes [from, to) of f to dst (made durable), so repeated
// damage accumulates rather than overwrites.
func copyOut(f *os.File, from, to int64, dst string) error {
	out, err := os.OpenFile(dst, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	_, err = io.Copy(out, io.NewSectionReader(f, from, to-from))
	if err == nil {
		err = out.Sync()
	}
	if cerr := out.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return syncDir(filepath.Dir(dst))
}
