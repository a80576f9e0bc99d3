package segment

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
)

// ErrClosed is returned by Write and WaitSynced after Close.
var ErrClosed = errors.New("log closed")

// Fits says whether a record of n payload bytes fits under MaxBytes.
func (l *Log) Fits(n int) (bool, error) {
	frameLen := int64(FrameHeader + n)
	if g := l.active; l.diskBytes+frameLen > l.maxBytes && g != nil && g.Size > 0 && g.Acked == g.Records {
		// Every record of the active segment is acknowledged, yet its bytes
		// count against MaxBytes until it is sealed and removed, and only a
		// Write that fits seals it. With SegmentBytes close to MaxBytes that
		// would refuse forever; seal it now (roll removes it).
		if err := l.roll(); err != nil {
			return false, err
		}
	}
	return l.diskBytes+frameLen <= l.maxBytes, nil
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
	if l.active == nil {
		return nil, 0, fmt.Errorf("%s append: %w", l.what, ErrClosed)
	}
	if l.syncErr != nil {
		return nil, 0, fmt.Errorf("%s append: %w", l.what, l.syncErr)
	}
	frameLen := int64(FrameHeader + len(rec))
	if l.active.Size > 0 && l.active.Size+frameLen > l.segBytes {
		if err := l.roll(); err != nil {
			return nil, 0, err
		}
	}
	g := l.active
	l.wbuf = AppendFrame(l.wbuf[:0], rec)
	_, err := l.w.WriteAt(l.wbuf, g.Size) // one pwrite(2): the OS has the whole frame or we report failure
	if cap(l.wbuf) > 1<<20 {
		l.wbuf = nil // do not pin a rare huge record's buffer
	}
	if err != nil {
		l.cutTornWrite(g)
		return nil, 0, fmt.Errorf("%s append %s: %w", l.what, g.Path, err)
	}
	g.Size += frameLen
	g.Records++
	l.nextSeq++
	l.diskBytes += frameLen
	l.written += frameLen
	return g, l.written, nil
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
	if l.active == nil {
		return nil, 0, fmt.Errorf("%s append: %w", l.what, ErrClosed)
	}
	if l.syncErr != nil {
		return nil, 0, fmt.Errorf("%s append: %w", l.what, l.syncErr)
	}
	if l.active.Size > 0 && l.active.Size+total > l.segBytes {
		if err := l.roll(); err != nil {
			return nil, 0, err
		}
	}
	g := l.active
	l.wbuf = l.wbuf[:0]
	for _, rec := range recs {
		l.wbuf = AppendFrame(l.wbuf, rec)
	}
	_, err := l.w.WriteAt(l.wbuf, g.Size)
	if cap(l.wbuf) > 1<<20 {
		l.wbuf = nil
	}
	if err != nil {
		l.cutTornWrite(g)
		return nil, 0, fmt.Errorf("%s append %s: %w", l.what, g.Path, err)
	}
	g.Size += total
	g.Records += int64(len(recs))
	l.nextSeq += uint64(len(recs))
	l.diskBytes += total
	l.written += total
	return g, l.written, nil
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
// boundary. If even that fails, the segment is sealed at its last whole
// record; the next Open moves the stray bytes to a .corrupt file.
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

// roll seals the active segment and starts the next one.
func (l *Log) roll() error {
	if old := l.active; old != nil {
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
	g := &Segment{ID: id, Path: path, Seq: l.nextSeq}
	l.segs = append(l.segs, g)
	l.active = g
	l.w = f
	return nil
}
