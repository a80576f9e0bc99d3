// Package queue is the device's offline queue: a bounded, append-only log of
// records on disk that survives reboots and power cuts. A record leaves the
// queue only when it is acknowledged, and records are read oldest first.
//
// When the queue is full, new records are refused (ErrFull) and counted;
// records already accepted are never discarded. The oldest readings of an
// outage are kept because a gap at the start of an outage is as bad as one at
// its end, and keeping what was accepted makes the queue's promise simple.
package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"
)

// Fsync says when appended records are forced to the storage device.
type Fsync int

const (
	// FsyncBatch syncs at most once per flush interval: a power cut loses
	// at most that long of readings, and the SD card sees few flushes.
	FsyncBatch Fsync = iota
	// FsyncAlways syncs every append before it returns.
	FsyncAlways
	// FsyncNever leaves writing back to the operating system.
	FsyncNever
)

// ParseFsync reads "always", "batch" or "never".
func ParseFsync(s string) (Fsync, error) {
	switch s {
	case "always":
		return FsyncAlways, nil
	case "batch":
		return FsyncBatch, nil
	case "never":
		return FsyncNever, nil
	}
	return 0, fmt.Errorf("fsync %q: use always, batch or never", s)
}

// ErrFull means the record was refused because the queue holds MaxBytes.
var ErrFull = errors.New("queue full")

// ErrClosed means the queue was used after Close.
var ErrClosed = errors.New("queue closed")

// Options configure Open.
type Options struct {
	Dir      string
	MaxBytes int64 // bound on the bytes of all segment files
	// SegmentBytes is the size at which a new segment file is started;
	// 0 means MaxBytes/8, at most 1MiB and at least 4KiB.
	SegmentBytes  int64
	Fsync         Fsync
	FlushInterval time.Duration // batch sync and cursor writes; 0 means 1s
	Logger        *slog.Logger
}

// Record is one queued item.
type Record struct {
	ID   uint64
	Data []byte
}

// Stats describe the queue at one moment.
type Stats struct {
	Records  int    // not yet acknowledged
	Bytes    int64  // on disk
	Segments int    // files
	Appended uint64 // since Open
	Acked    uint64 // since Open
	Refused  uint64 // appends refused since Open (full queue or failed write)
	Skipped  uint64 // unreadable records skipped since Open
}

// Queue is safe for concurrent use: many appenders, one reader (Next,
// Rewind) and any number of Ack callers.
type Queue struct {
	opts Options
	log  *slog.Logger

	mu        sync.Mutex
	closed    bool
	segs      []*segment
	active    *os.File // the newest segment, open for writing
	broken    bool     // the active file has an unknown tail: rotate first
	dirty     bool     // appended since the last sync
	dirDirty  bool     // files created or removed since the last dir sync
	moved     bool     // watermark moved since the cursor was written
	watermark uint64   // every id up to here is acknowledged
	acked     map[uint64]struct{}
	unacked   int
	bytes     int64
	stats     Stats
	next      uint64 // the reader's next id
	reader    reader

	notify chan struct{}
	stop   chan struct{}
	done   chan struct{}
}

// Open opens or creates the queue in opts.Dir, cutting off a torn tail left
// by a crash.
func Open(opts Options) (*Queue, error) {
	if opts.MaxBytes <= 0 {
		return nil, fmt.Errorf("open queue %s: MaxBytes must be positive", opts.Dir)
	}
	if opts.SegmentBytes <= 0 {
		opts.SegmentBytes = min(max(opts.MaxBytes/8, 4<<10), 1<<20)
	}
	if opts.FlushInterval <= 0 {
		opts.FlushInterval = time.Second
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(opts.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("open queue: %w", err)
	}
	q := &Queue{
		opts:   opts,
		log:    opts.Logger,
		acked:  map[uint64]struct{}{},
		notify: make(chan struct{}, 1),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	if err := q.load(); err != nil {
		q.reader.close()
		if q.active != nil {
			q.active.Close()
		}
		return nil, err
	}
	q.next = q.watermark + 1
	go q.flusher()
	return q, nil
}

func (q *Queue) load() error {
	wm, err := readCursor(q.opts.Dir)
	if err != nil {
		// Starting from the oldest record resends some readings; that is
		// harmless, while refusing to start would lose every new one.
		q.log.Warn("queue cursor unreadable; resending from the oldest record", "err", err)
	}
	segs, err := listSegments(q.opts.Dir)
	if err != nil {
		return err
	}
	if q.segs, err = q.repair(segs); err != nil {
		return err
	}
	q.watermark = wm
	if n := len(q.segs); n > 0 {
		// Segments are the truth: a cursor behind the oldest file or beyond
		// the newest record (files removed by hand) is moved to fit them.
		first, last := q.segs[0], q.segs[n-1]
		q.watermark = min(max(wm, first.base-1), last.base+last.count-1)
	}
	q.dropAcked(false)
	if len(q.segs) == 0 {
		if err := q.create(q.watermark + 1); err != nil {
			return err
		}
	} else if err := q.openActive(); err != nil {
		return err
	}
	for _, s := range q.segs {
		q.bytes += s.size
		for id := max(s.base, q.watermark+1); s.count > 0 && id <= s.last(); id++ {
			q.unacked++
		}
	}
	return nil
}

// repair scans every segment; a torn or corrupt tail is cut off and logged,
// a file without a valid header is renamed aside for inspection.
func (q *Queue) repair(segs []*segment) ([]*segment, error) {
	var kept []*segment
	for i, s := range segs {
		err := s.scan()
		var ce *corruptError
		if err != nil && !errors.As(err, &ce) {
			return nil, err
		}
		if ce != nil {
			level := slog.LevelWarn
			if i < len(segs)-1 {
				level = slog.LevelError // only the newest file can be torn by a crash
			}
			if s.size == 0 {
				q.log.Log(context.Background(), level, "queue segment unreadable; moved aside", "err", ce, "to", s.path+".corrupt")
				if err := os.Rename(s.path, s.path+".corrupt"); err != nil {
					return nil, fmt.Errorf("move aside corrupt segment: %w", err)
				}
				continue
			}
			q.log.Log(context.Background(), level, "queue segment tail cut off", "err", ce, "records_kept", s.count)
			if err := os.Truncate(s.path, s.size); err != nil {
				return nil, fmt.Errorf("cut torn tail of %s: %w", s.path, err)
			}
			q.dirty = true
		}
		kept = append(kept, s)
	}
	return kept, nil
}

func (q *Queue) openActive() error {
	s := q.segs[len(q.segs)-1]
	f, err := os.OpenFile(s.path, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("open queue segment: %w", err)
	}
	q.active = f
	return nil
}

// create starts a new active segment whose first record will have id base.
func (q *Queue) create(base uint64) error {
	s := &segment{base: base, path: q.opts.Dir + "/" + segmentName(base), size: headerSize}
	f, err := os.OpenFile(s.path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("create queue segment: %w", err)
	}
	if _, err := f.Write(segmentHeader()); err != nil {
		f.Close()
		os.Remove(s.path)
		return fmt.Errorf("create queue segment %s: %w", s.path, err)
	}
	if q.active != nil {
		if q.opts.Fsync != FsyncNever {
			if err := q.active.Sync(); err != nil {
				q.log.Warn("sync queue segment", "err", err)
			}
		}
		q.active.Close()
	}
	q.active, q.broken = f, false
	if n := len(q.segs); n > 0 && q.segs[n-1].base == base {
		// an empty, broken segment was just replaced by this one
		q.bytes -= q.segs[n-1].size
		q.segs = q.segs[:n-1]
	}
	q.segs = append(q.segs, s)
	q.bytes += s.size
	q.dirDirty = true
	return nil
}

// Append adds a record and returns its id. It returns ErrFull when the
// queue holds MaxBytes, and a wrapped I/O error when the disk refused the
// write (a full SD card); in both cases nothing was added.
func (q *Queue) Append(data []byte) (uint64, error) {
	if len(data) > MaxRecordSize {
		return 0, fmt.Errorf("queue append: record of %d bytes is over the limit of %d", len(data), MaxRecordSize)
	}
	rec := encodeRecord(data)
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return 0, ErrClosed
	}
	if q.bytes+int64(len(rec)) > q.opts.MaxBytes {
		q.stats.Refused++
		return 0, ErrFull
	}
	s := q.segs[len(q.segs)-1]
	if q.broken || (s.count > 0 && s.size+int64(len(rec)) > q.opts.SegmentBytes) {
		if err := q.create(s.base + s.count); err != nil {
			q.stats.Refused++
			return 0, fmt.Errorf("queue append: %w", err)
		}
		s = q.segs[len(q.segs)-1]
	}
	if err := q.write(s, rec); err != nil {
		q.stats.Refused++
		return 0, err
	}
	id := s.base + s.count
	s.size += int64(len(rec))
	s.count++
	q.bytes += int64(len(rec))
	q.unacked++
	q.stats.Appended++
	select {
	case q.notify <- struct{}{}:
	default:
	}
	return id, nil
}

// write puts rec at the end of s; on failure it tries to cut the partial
// record off again so the file stays a clean sequence of records.
func (q *Queue) write(s *segment, rec []byte) error {
	_, err := q.active.WriteAt(rec, s.size)
	if err == nil && q.opts.Fsync == FsyncAlways {
		err = q.active.Sync()
	}
	if err != nil {
		if terr := q.active.Truncate(s.size); terr != nil {
			q.broken = true
		}
		return fmt.Errorf("queue append %s: %w", s.path, err)
	}
	q.dirty = true
	return nil
}

// Notify returns a channel that receives a value after appends; a reader
// waits on it when Next finds nothing.
func (q *Queue) Notify() <-chan struct{} { return q.notify }

// Stats returns counters and sizes.
func (q *Queue) Stats() Stats {
	q.mu.Lock()
	defer q.mu.Unlock()
	st := q.stats
	st.Records, st.Bytes, st.Segments = q.unacked, q.bytes, len(q.segs)
	return st
}

// Close writes the cursor, syncs and closes the files.
func (q *Queue) Close() error {
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		return nil
	}
	q.closed = true
	q.mu.Unlock()
	close(q.stop)
	<-q.done
	q.mu.Lock()
	defer q.mu.Unlock()
	err := q.flushLocked()
	q.reader.close()
	if cerr := q.active.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close queue: %w", cerr)
	}
	return err
}

func (q *Queue) flusher() {
	defer close(q.done)
	t := time.NewTicker(q.opts.FlushInterval)
	defer t.Stop()
	for {
		select {
		case <-q.stop:
			return
		case <-t.C:
			q.mu.Lock()
			if err := q.flushLocked(); err != nil {
				q.log.Warn("queue flush", "err", err)
			}
			q.mu.Unlock()
		}
	}
}

func (q *Queue) flushLocked() error {
	sync := q.opts.Fsync != FsyncNever
	if q.dirty && sync {
		if err := q.active.Sync(); err != nil {
			return fmt.Errorf("sync queue segment: %w", err)
		}
	}
	q.dirty = false
	if q.moved {
		if err := writeCursor(q.opts.Dir, q.watermark, sync); err != nil {
			return err
		}
		q.moved = false
	} else if q.dirDirty && sync {
		if err := syncDir(q.opts.Dir); err != nil {
			return err
		}
	}
	q.dirDirty = false
	return nil
}
