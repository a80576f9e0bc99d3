package segment

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// ErrClosed is returned by Write and WaitSynced after Close.
var ErrClosed = errors.New("log closed")

// Fits says whether a record of n payload bytes fits under MaxBytes.
func (l *Log) Fits(n int) (bool, error) {
	frameLen := int64(FrameHeader + n)
	if l.diskBytes+frameLen > l.maxBytes {
		// Every record of the active segment may be acknowledged, yet its
		// bytes count against MaxBytes until it is sealed and removed, and
		// only a Write that fits seals it. With SegmentBytes close to
		// MaxBytes that would refuse forever; Shed seals and removes it.
		if _, err := l.Shed(); err != nil {
			return false, err
		}
	}
	return l.diskBytes+frameLen <= l.maxBytes, nil
}

// Shed seals and deletes the active segment when it holds records and
// every one of them is acknowledged, and starts a new one: its bytes stop
// counting against MaxBytes and, on a full file system, give the room back.
// Deleting needs no room. It says whether it rolled.
func (l *Log) Shed() (bool, error) {
	g := l.active
	if l.closed || g == nil || g.Size == 0 || g.Acked != g.Records {
		return false, nil
	}
	return true, l.roll()
}

// HasRoom says whether the file system holding dir has at least n bytes
// free for an unprivileged writer; true when it cannot tell.
func HasRoom(dir string, n int64) bool {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return true
	}
	return int64(st.Bavail)*int64(st.Bsize) >= n
}

// IsNoSpace says whether err is the file system refusing a write for room
// (ENOSPC, or EDQUOT for a quota): a condition that passes once something
// is deleted, unlike a failing device.
func IsNoSpace(err error) bool {
	return errors.Is(err, syscall.ENOSPC) || errors.Is(err, syscall.EDQUOT)
}

// Write appends one record with a single pwrite(2), rolling to a new
// segment first when it would pass SegmentBytes. It returns the segment
// written to and the position WaitSynced needs for the record. The record
// is readable once Write returns; under Fsync the owner calls WaitSynced
// before it promises anything. The caller checked Fits.
func (l *Log) Write(rec []byte) (*Segment, int64, error) {
	if len(rec) == 0 || len(rec) > MaxRecordBytes {
		return nil, 0, fmt.Errorf("%s append: record of %d bytes (want 1 to %d)", l.what, len(rec), MaxRecordBytes)
	}
	if err := l.ready(); err != nil {
		return nil, 0, err
	}
	l.wbuf = AppendFrame(l.wbuf[:0], rec)
	return l.put(1)
}

// WriteBatch appends several records, each its own frame, with one
// pwrite(2) when they fit in one segment: the records of one network read
// cost one syscall instead of one each. It returns the segment holding the
// last record and the position WaitSynced needs for all of them. On an
// error, records before the failing write may be in the log (readable and
// delivered); the caller promised none of them. The caller checked Fits
// for the total.
func (l *Log) WriteBatch(recs [][]byte) (*Segment, int64, error) {
	var total int64
	for _, rec := range recs {
		if len(rec) == 0 || len(rec) > MaxRecordBytes {
			return nil, 0, fmt.Errorf("%s append: record of %d bytes (want 1 to %d)", l.what, len(rec), MaxRecordBytes)
		}
		total += int64(FrameHeader + len(rec))
	}
	if len(recs) == 1 || total > l.segBytes {
		// A batch larger than a segment is split at segment boundaries,
		// one write per record, as single appends are.
		return l.writeEach(recs)
	}
	if err := l.ready(); err != nil {
		return nil, 0, err
	}
	l.wbuf = l.wbuf[:0]
	for _, rec := range recs {
		l.wbuf = AppendFrame(l.wbuf, rec)
	}
	return l.put(int64(len(recs)))
}

// ready checks that the log takes appends, and starts a new segment when
// an earlier roll could not create one (no room for the file then).
func (l *Log) ready() error {
	if l.closed {
		return fmt.Errorf("%s append: %w", l.what, ErrClosed)
	}
	if l.syncErr != nil {
		return fmt.Errorf("%s append: %w", l.what, l.syncErr)
	}
	if l.active == nil {
		return l.roll()
	}
	return nil
}

// put writes the frames in wbuf (recs records) with one pwrite(2), rolling
// first when they would take the active segment past SegmentBytes. A write
// the file system refuses for room is cut off; when the active segment is
// then wholly acknowledged, it is deleted to make that room and the write
// tried once more, so a drained log never stays full of what it delivered.
func (l *Log) put(recs int64) (*Segment, int64, error) {
	total := int64(len(l.wbuf))
	defer func() {
		if cap(l.wbuf) > 1<<20 {
			l.wbuf = nil // do not pin a rare huge record's buffer
		}
	}()
	if l.active.Size > 0 && l.active.Size+total > l.segBytes {
		if err := l.roll(); err != nil {
			return nil, 0, err
		}
	}
	g, err := l.pwrite()
	if IsNoSpace(err) {
		if shed, serr := l.Shed(); shed && serr == nil {
			g, err = l.pwrite()
		}
	}
	if err != nil {
		return nil, 0, err
	}
	g.Size += total
	g.Records += recs
	l.nextSeq += uint64(recs)
	l.diskBytes += total
	l.written += total
	return g, l.written, nil
}

// pwrite writes wbuf at the end of the active segment in one pwrite(2):
// the OS has the whole of it or the failure is reported, and whatever
// prefix reached the file is cut off again.
func (l *Log) pwrite() (*Segment, error) {
	g := l.active
	writeAt := (*os.File).WriteAt
	if l.writeAt != nil {
		writeAt = l.writeAt
	}
	if _, err := writeAt(l.w, l.wbuf, g.Size); err != nil {
		l.cutTornWrite(g)
		return g, fmt.Errorf("%s append %s: %w", l.what, g.Path, err)
	}
	return g, nil
}

func (l *Log) writeEach(recs [][]byte) (g *Segment, pos int64, err error) {
	for _, rec := range recs {
		if g, pos, err = l.Write(rec); err != nil {
			return nil, 0, err
		}
	}
	return g, pos, nil
}

// cutTornWrite removes whatever part of a failed write reached the file
// (a full disk writes a prefix), so the next record starts on a frame
// boundary, and the segment stays usable: the next write retries at the
// same offset. If even the cut fails, the segment is sealed at its last
// whole record (the next Open moves the stray bytes to a .corrupt file) and
// a new one started; if that fails too, the next write overwrites the
// stray bytes from the same offset.
func (l *Log) cutTornWrite(g *Segment) {
	err := l.w.Truncate(g.Size)
	if err == nil {
		return
	}
	l.log.Error(l.what+": cannot cut a failed write off; sealing the segment", "file", g.Path, "offset", g.Size, "err", err)
	if err := l.roll(); err != nil {
		l.log.Error(l.what+": cannot start a new segment", "err", err)
	}
}

// roll seals the active segment and starts the next one. The new file is
// created first: if that fails, the active segment stays as it was and
// appends go on there, so the log always has a segment to append to.
func (l *Log) roll() error {
	id := l.nextID
	path := filepath.Join(l.dir, Name(id))
	f, err := os.OpenFile(path, os.O_CREATE|os.O_EXCL|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("%s new segment: %w", l.what, err)
	}
	l.nextID++
	if l.dur == Fsync {
		if err := SyncDir(l.dir); err != nil {
			f.Close()
			os.Remove(path)
			return fmt.Errorf("%s new segment %s: %w", l.what, path, err)
		}
	} else {
		l.dirDirty = true
	}
	l.seal()
	g := &Segment{ID: id, Path: path, Seq: l.nextSeq}
	l.segs = append(l.segs, g)
	l.active = g
	l.w = f
	return nil
}

// seal closes the active segment for appends and deletes it when every
// record in it is acknowledged.
func (l *Log) seal() {
	old := l.active
	if old == nil {
		return
	}
	// A sealed segment is never written again, so under Interval it is
	// fsynced now rather than tracked until the next Sync.
	if l.dur.syncs() && l.syncErr == nil {
		if err := l.w.Sync(); err != nil {
			l.failSync(fmt.Errorf("fsync %s: %w", old.Path, err))
		} else {
			l.synced = l.written // every earlier segment was synced when it was sealed
			l.syncCond.Broadcast()
		}
	}
	if l.syncing {
		l.retired = append(l.retired, l.w) // an fsync of it may be running
	} else if err := l.w.Close(); err != nil {
		l.log.Warn(l.what+": close sealed segment", "file", old.Path, "err", err)
	}
	l.w = nil
	l.active = nil
	old.Sealed = true
	if old.Done() {
		l.Remove(old) // logs its own failure
	}
}
