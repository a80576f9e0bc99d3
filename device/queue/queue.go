// Package queue is the device's offline queue: a bounded, append-only log of
// records on disk that survives reboots and power cuts. A record leaves the
// queue only when it is acknowledged, and records are read oldest first.
//
// When the queue is full, new records are refused (ErrFull) and counted;
// records already accepted are never discarded. The oldest readings of an
// outage are kept because a gap at the start of an outage is as bad as one at
// its end, and keeping what was accepted makes the queue's promise simple.
//
// The records live in an internal/segment log, the one the server's spool
// uses too (same framing, files and recovery). The queue adds its policy:
// ids, the bound, out-of-order acknowledgements behind a watermark, and
// fsyncs batched per flush interval so an SD card sees few of them.
package queue

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/mqflux/mqflux/internal/segment"
)

// Fsync says when appended records are forced to the storage device.
type Fsync int

const (
	// FsyncBatch syncs at most once per flush interval: a power cut loses
	// at most that long of readings, and the SD card sees few flushes.
	FsyncBatch Fsync = iota
	// FsyncAlways syncs every append before it returns; concurrent
	// appends share one sync.
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

func (f Fsync) durability() (segment.Durability, error) {
	switch f {
	case FsyncBatch:
		return segment.Interval, nil
	case FsyncAlways:
		return segment.Fsync, nil
	case FsyncNever:
		return segment.Write, nil
	}
	return 0, fmt.Errorf("unknown fsync %d", f)
}

// MaxRecordSize bounds one record.
const MaxRecordSize = 1 << 20

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
	Dropped  uint64 // discarded by DropOldest since Open
}

// Queue is safe for concurrent use: many appenders, one reader (Next,
// Rewind) and any number of Ack callers.
type Queue struct {
	opts Options
	log  *slog.Logger

	mu        sync.Mutex
	closed    bool
	sl        *segment.Log
	rd        segment.Reader
	watermark uint64 // every id up to here is acknowledged
	acked     map[uint64]struct{}
	moved     bool // watermark moved since the cursor was written
	unacked   int
	stats     Stats
	next      uint64 // the reader's next id
	rpos      position

	notify chan struct{}
	stop   chan struct{}
	done   chan struct{}
}

// position is where record id is: at off in seg.
type position struct {
	seg *segment.Segment
	off int64
	id  uint64
}

// Open opens or creates the queue in opts.Dir, repairing what a crash left
// and taking over the records of a queue written by an older release.
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
	dur, err := opts.Fsync.durability()
	if err != nil {
		return nil, fmt.Errorf("open queue %s: %w", opts.Dir, err)
	}
	legacy, err := checkNames(opts.Dir)
	if err != nil {
		return nil, err
	}
	q := &Queue{
		opts:   opts,
		log:    opts.Logger,
		acked:  map[uint64]struct{}{},
		notify: make(chan struct{}, 1),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	q.sl, err = segment.Open(segment.Options{
		Dir: opts.Dir, What: "queue", SegmentBytes: opts.SegmentBytes, MaxBytes: opts.MaxBytes,
		Durability: dur, Mu: &q.mu, Logger: q.log, Foreign: isLegacyName,
	})
	if err != nil {
		return nil, err
	}
	if len(legacy) > 0 {
		if err := q.migrate(legacy); err != nil {
			q.sl.Close()
			q.sl.Unlock()
			return nil, err
		}
	}
	for _, g := range q.sl.Segments() {
		q.unacked += int(g.Records - g.Acked)
	}
	q.watermark = q.frontier().id - 1
	q.next = q.watermark + 1
	go q.flusher()
	return q, nil
}

// Append adds a record and returns its id. It returns ErrFull when the
// queue holds MaxBytes, and a wrapped I/O error when the disk refused the
// write (a full SD card); in both cases nothing was added.
func (q *Queue) Append(data []byte) (uint64, error) {
	if len(data) == 0 || len(data) > MaxRecordSize {
		return 0, fmt.Errorf("queue append: record of %d bytes (want 1 to %d)", len(data), MaxRecordSize)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.closed {
		return 0, ErrClosed
	}
	fits, err := q.sl.Fits(len(data))
	if err != nil || !fits {
		q.stats.Refused++
		if err == nil {
			err = ErrFull
		}
		return 0, err
	}
	g, pos, err := q.sl.Write(data)
	if err != nil {
		q.stats.Refused++
		return 0, err
	}
	id := g.Seq + uint64(g.Records) - 1
	q.unacked++
	q.stats.Appended++
	select {
	case q.notify <- struct{}{}:
	default:
	}
	if q.sl.Durability() == segment.Fsync {
		if err := q.sl.WaitSynced(pos); errors.Is(err, segment.ErrClosed) {
			return 0, fmt.Errorf("queue append: %w before the record was synced", ErrClosed)
		} else if err != nil {
			return 0, err
		}
	}
	return id, nil
}

// Notify returns a channel that receives a value after appends; a reader
// waits on it when Next finds nothing.
func (q *Queue) Notify() <-chan struct{} { return q.notify }

// Stats returns counters and sizes.
func (q *Queue) Stats() Stats {
	q.mu.Lock()
	defer q.mu.Unlock()
	st := q.stats
	st.Records, st.Bytes, st.Segments = q.unacked, q.sl.DiskBytes(), len(q.sl.Segments())
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
	c := q.cursor()
	err := errors.Join(q.sl.Close(), q.sl.SaveCursor(c), q.rd.Close(), q.sl.Unlock())
	if err != nil {
		return fmt.Errorf("close queue: %w", err)
	}
	return nil
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
			if err := q.flush(); err != nil {
				q.log.Warn("queue flush", "err", err)
			}
			q.mu.Unlock()
		}
	}
}

// flush syncs what was appended (FsyncBatch) and saves the watermark if it
// moved. mu held; the sync releases it while it runs.
func (q *Queue) flush() error {
	if err := q.sl.Sync(); err != nil {
		return err
	}
	if q.moved && !q.closed {
		if err := q.sl.SaveCursor(q.cursor()); err != nil {
			return err
		}
		q.moved = false
	}
	return nil
}
