package segment

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
)

// recover rebuilds the bookkeeping from the segment files in the directory,
// repairing damage as it goes. Every recovered segment is sealed: appends go
// to a fresh segment, so a repaired file is never written again.
func (l *Log) recover() error {
	cur, ok, err := l.loadCursor()
	if err != nil {
		return fmt.Errorf("%s open: %w", l.what, err)
	}
	l.cursor, l.hasCursor = cur, ok
	ids, err := l.list()
	if err != nil {
		return err
	}
	l.nextID = 1
	if ok {
		l.nextID = cur.Seg + 1
	}
	var all []*Segment
	for i, id := range ids {
		l.nextID = max(l.nextID, id+1)
		g, err := l.recoverSegment(id, i == len(ids)-1, cur, ok)
		if err != nil {
			return err
		}
		all = append(all, g)
	}
	l.number(all, cur, ok)
	for _, g := range all {
		if !g.Done() {
			l.segs = append(l.segs, g)
			l.diskBytes += g.Size
			continue
		}
		if err := os.Remove(g.Path); err != nil {
			return fmt.Errorf("%s recover: remove finished segment: %w", l.what, err)
		}
		l.dirDirty = true
	}
	return nil
}

func (l *Log) list() ([]uint64, error) {
	entries, err := os.ReadDir(l.dir)
	if err != nil {
		return nil, fmt.Errorf("%s open: %w", l.what, err)
	}
	var ids []uint64
	for _, e := range entries {
		if filepath.Ext(e.Name()) != segmentExt || !e.Type().IsRegular() {
			continue
		}
		id, ok := parseName(e.Name())
		if !ok {
			if l.foreign == nil || !l.foreign(e.Name()) {
				l.log.Warn(l.what+": ignoring a file that is not a segment", "file", filepath.Join(l.dir, e.Name()))
			}
			continue
		}
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids, nil
}

// number gives every recovered segment the number of its first record:
// counted from the cursor's record where its segment (or the first after
// it) is found, from 1 otherwise.
func (l *Log) number(all []*Segment, cur Cursor, ok bool) {
	l.nextSeq = 1
	if ok && cur.Seq > 0 {
		l.nextSeq = cur.Seq
	}
	anchor := -1
	for i, g := range all {
		if ok && cur.Seq > 0 && g.ID >= cur.Seg {
			anchor = i
			break
		}
	}
	if anchor < 0 {
		seq := l.nextSeq
		for _, g := range all {
			g.Seq = seq
			seq += uint64(g.Records)
		}
		l.nextSeq = seq
		return
	}
	a := all[anchor]
	a.Seq = cur.Seq
	if a.ID == cur.Seg {
		a.Seq = cur.Seq - min(uint64(a.ReadRecs), cur.Seq-1)
	}
	for i := anchor - 1; i >= 0; i-- {
		all[i].Seq = all[i+1].Seq - min(uint64(all[i].Records), all[i+1].Seq-1)
	}
	seq := a.Seq
	for _, g := range all[anchor:] {
		g.Seq = seq
		seq += uint64(g.Records)
	}
	l.nextSeq = seq
}

// damage is where and why a segment stops reading whole records.
type damage struct {
	kind   Status
	recEnd int64 // end of the damaged record per its header, when known
}

// recoverSegment scans one segment, truncates a torn tail (last segment
// only) or moves damaged bytes to <segment>.corrupt, and skips the records
// the cursor says were acknowledged.
func (l *Log) recoverSegment(id uint64, last bool, cur Cursor, hasCur bool) (*Segment, error) {
	path := filepath.Join(l.dir, Name(id))
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return nil, fmt.Errorf("%s recover: %w", l.what, err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("%s recover: %w", l.what, err)
	}
	size := fi.Size()

	g := &Segment{ID: id, Path: path, Sealed: true}
	skipOff, skipRecs := int64(-1), int64(-1)
	if hasCur && cur.Seg == id {
		skipOff = cur.Off
	}
	d, err := scan(f, size, func(off, recs int64) {
		if off == skipOff {
			skipRecs = recs
		}
		g.Size, g.Records = off, recs
	})
	if err != nil {
		return nil, fmt.Errorf("%s recover %s: %w", l.what, path, err)
	}
	if d.kind != OK {
		if err := l.repair(f, path, g.Size, size, last, d); err != nil {
			return nil, err
		}
	}
	switch {
	case skipOff < 0:
	case skipRecs >= 0:
		g.ReadOff, g.ReadRecs = skipOff, skipRecs
	case skipOff > g.Size:
		g.ReadOff, g.ReadRecs = g.Size, g.Records // acked before the damage cut it short
	default:
		l.log.Warn(l.what+": resume point is not on a record boundary; handing the segment out again", "file", path, "offset", skipOff)
	}
	g.Acked = g.ReadRecs
	return g, nil
}

// scan walks the frames of f, calling at(off, recs) at every record
// boundary (the start included), and reports the first damage.
func scan(f *os.File, size int64, at func(off, recs int64)) (damage, error) {
	br := bufio.NewReaderSize(io.NewSectionReader(f, 0, size), 256<<10)
	var hdr [FrameHeader]byte
	var buf []byte
	var off, recs int64
	for {
		at(off, recs)
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) {
				return damage{}, nil
			}
			if errors.Is(err, io.ErrUnexpectedEOF) {
				return damage{kind: Short}, nil
			}
			return damage{}, err
		}
		n := binary.LittleEndian.Uint32(hdr[:4])
		if n == 0 || n > MaxRecordBytes {
			return damage{kind: BadLength}, nil
		}
		end := off + FrameHeader + int64(n)
		if end > size {
			return damage{kind: Short, recEnd: end}, nil
		}
		if cap(buf) < int(n) {
			buf = make([]byte, n)
		}
		if _, err := io.ReadFull(br, buf[:n]); err != nil {
			return damage{}, err
		}
		if checksum(hdr[:4], buf[:n]) != binary.LittleEndian.Uint32(hdr[4:]) {
			return damage{kind: BadChecksum, recEnd: end}, nil
		}
		off = end
		recs++
	}
}

// repair cuts f at off, where d was found. In the last segment a partial
// record, or a bad last record, is what a crash mid-write leaves: it is cut
// off and logged. Anything else is moved to <segment>.corrupt first, so no
// byte that may hold an acknowledged record is discarded.
func (l *Log) repair(f *os.File, path string, off, size int64, last bool, d damage) error {
	torn := last && (d.kind == Short || d.kind == BadChecksum && d.recEnd == size)
	if last && d.kind == BadLength {
		zero, err := allZero(f, off, size)
		if err != nil {
			return fmt.Errorf("%s recover %s: %w", l.what, path, err)
		}
		torn = zero // a crash can leave a zero-filled tail
	}
	if torn {
		l.log.Warn(l.what+": torn tail truncated (a crash mid-write)", "file", path, "offset", off, "bytes", size-off, "cause", d.kind.String())
	} else {
		dst := path + ".corrupt"
		if err := copyOut(f, off, size, dst); err != nil {
			return fmt.Errorf("%s recover %s: save damaged bytes: %w", l.what, path, err)
		}
		l.log.Warn(l.what+": damaged segment; the unreadable rest was moved aside", "file", path, "offset", off, "bytes", size-off, "corrupt_file", dst, "cause", d.kind.String())
	}
	if err := f.Truncate(off); err != nil {
		return fmt.Errorf("%s recover %s: truncate at %d: %w", l.what, path, off, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("%s recover %s: %w", l.what, path, err)
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
	return SyncDir(filepath.Dir(dst))
}
