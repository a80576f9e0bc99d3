// Package spool is the on-disk queue between the inputs of mqflux and the
// InfluxDB writer. A reading is acknowledged to its publisher only after
// Append returned nil, and it leaves the spool only after the writer acked
// the batch that carried it, so a crash at any moment loses nothing that was
// acknowledged: records handed out but not acked are handed out again after
// the next Open (at-least-once; every point carries its source timestamp, so
// a duplicate overwrites itself in InfluxDB).
//
// Records live in append-only segment files (000000000001.seg, ...), each
// record framed with its length and a CRC-32C checksum. Open recovers
// whatever it finds: a torn tail is truncated, damage in the middle of a
// segment is moved to <segment>.corrupt, and every repair is logged.
package spool

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"syscall"
)

// ErrClosed is returned by every method called after Close.
var ErrClosed = errors.New("spool closed")

// Durability says what Append guarantees before it returns.
type Durability int

const (
	// Write: the record was handed to the operating system with one write(2),
	// so it survives a crash of the process (not of the machine).
	Write Durability = iota
	// Fsync: the record was fsynced; concurrent Appends share one fsync
	// (group commit), so it survives a power loss too.
	Fsync
)

func (d Durability) String() string {
	switch d {
	case Write:
		return "write"
	case Fsync:
		return "fsync"
	}
	return fmt.Sprintf("Durability(%d)", int(d))
}

// ParseDurability reads the configuration spelling of a Durability.
func ParseDurability(s string) (Durability, error) {
	switch s {
	case "write":
		return Write, nil
	case "fsync":
		return Fsync, nil
	}
	return 0, fmt.Errorf("durability %q: want \"write\" or \"fsync\"", s)
}

// Defaults for zero Options fields.
const (
	DefaultSegmentBytes = 64 << 20
	DefaultMaxBytes     = 1 << 30
)

// Options configure a Spool.
type Options struct {
	Dir string // created if missing
	// MaxBytes bounds the bytes of segment files on disk; an Append that
	// would pass it returns ingest.ErrFull. 0 means DefaultMaxBytes.
	MaxBytes int64
	// SegmentBytes: a new segment file is started when a record would take
	// the current one past this size. 0 means DefaultSegmentBytes.
	SegmentBytes int64
	Durability   Durability
	Logger       *slog.Logger // nil discards logs
}

// Stats describe what is pending (appended and not yet acked).
type Stats struct {
	Records  int64
	Bytes    int64 // framed bytes on disk of the pending records
	Segments int   // segment files, the one being appended to included
	// DiskBytes is what counts against MaxBytes: the segment files' size,
	// acked records in segments not yet deleted included.
	DiskBytes int64
}

// segment is the bookkeeping of one segment file; the records themselves stay
// on disk. Every field is guarded by Spool.mu.
type segment struct {
	id        uint64
	path      string
	size      int64 // bytes of whole records, all visible to readers
	records   int64
	readOff   int64 // offset of the first record not yet handed out
	readRecs  int64 // records before readOff
	ackedRecs int64
	sealed    bool // no longer appended to
	deleted   bool
}

func (g *segment) done() bool { return g.sealed && g.ackedRecs == g.records }

// Spool is an on-disk queue of opaque records. It is safe for concurrent use.
type Spool struct {
	dir      string
	maxBytes int64
	segBytes int64
	dur      Durability
	log      *slog.Logger
	lock     *os.File // flock'd so two processes never share a directory

	// readTurn serialises Next callers so their batches are disjoint; the
	// reader file below belongs to whoever holds it.
	readTurn chan struct{}
	rf       *os.File
	rfID     uint64

	mu     sync.Mutex
	closed bool
	full   bool       // the last Append was refused for room; logged once per episode
	segs   []*segment // by id
	active *segment
	w      *os.File // write handle of active
	wbuf   []byte
	nextID uint64

	diskBytes    int64 // sum of segment file sizes
	pendingRecs  int64
	pendingBytes int64
	unreadRecs   int64 // appended, not yet handed out
	unreadBytes  int64 // payload bytes of those
	readSeg      *segment
	outstanding  []*handout // of batches handed out, oldest first; acked ones leave from the front

	// A Next caller waiting for data parks on notify; Append closes it once
	// the unread records reach what the caller waits for.
	notify    chan struct{}
	waitRecs  int64
	waitBytes int64

	// Group commit (Fsync): positions count every byte ever written.
	syncCond *sync.Cond
	written  int64
	synced   int64
	syncing  bool
	fsyncs   int64      // group commits run, for tests and benchmarks
	syncErr  error      // sticky: after a failed fsync nothing is promised
	retired  []*os.File // write handles of rolled segments, closed when no fsync runs
}

// Open opens (creating if needed) the spool in opts.Dir and recovers every
// segment found there. Damage never stops it: it is repaired and logged.
func Open(opts Options) (*Spool, error) {
	if opts.Dir == "" {
		return nil, errors.New("spool open: Dir is empty")
	}
	if opts.MaxBytes < 0 || opts.SegmentBytes < 0 {
		return nil, fmt.Errorf("spool open %s: MaxBytes %d and SegmentBytes %d must not be negative", opts.Dir, opts.MaxBytes, opts.SegmentBytes)
	}
	if opts.Durability != Write && opts.Durability != Fsync {
		return nil, fmt.Errorf("spool open %s: unknown durability %d", opts.Dir, opts.Durability)
	}
	s := &Spool{
		dir:      opts.Dir,
		maxBytes: opts.MaxBytes,
		segBytes: opts.SegmentBytes,
		dur:      opts.Durability,
		log:      opts.Logger,
		readTurn: make(chan struct{}, 1),
	}
	if s.maxBytes == 0 {
		s.maxBytes = DefaultMaxBytes
	}
	if s.segBytes == 0 {
		s.segBytes = DefaultSegmentBytes
	}
	if s.log == nil {
		s.log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	s.syncCond = sync.NewCond(&s.mu)
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return nil, fmt.Errorf("spool open: %w", err)
	}
	if err := s.lockDir(); err != nil {
		return nil, err
	}
	if err := s.recover(); err != nil {
		s.lock.Close()
		return nil, err
	}
	s.mu.Lock()
	err := s.roll()
	s.mu.Unlock()
	if err != nil {
		s.lock.Close()
		return nil, err
	}
	st := s.Stats()
	s.log.Info("spool opened", "dir", s.dir, "durability", s.dur.String(),
		"pending_records", st.Records, "pending_bytes", st.Bytes, "segments", st.Segments)
	return s, nil
}

func (s *Spool) lockDir() error {
	path := filepath.Join(s.dir, "lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("spool open: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return fmt.Errorf("spool open: lock %s (is another mqflux using this directory?): %w", path, err)
	}
	s.lock = f
	return nil
}

// Stats reports what is pending.
func (s *Spool) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	return Stats{Records: s.pendingRecs, Bytes: s.pendingBytes, Segments: len(s.segs), DiskBytes: s.diskBytes}
}

// Close flushes and closes the segment files; what is pending stays on disk
// for the next Open. Append, Next and Ack return ErrClosed afterwards.
func (s *Spool) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.wake()
	var errs []error
	if s.w != nil {
		if err := s.w.Sync(); err != nil {
			errs = append(errs, fmt.Errorf("spool close: sync %s: %w", s.active.path, err))
		} else if s.syncErr == nil {
			s.synced = s.written
		}
		errs = append(errs, s.w.Close())
		s.w = nil
	}
	if s.active != nil {
		s.active.sealed = true
		if s.active.records == 0 {
			errs = append(errs, s.removeSegment(s.active))
		}
	}
	if !s.syncing {
		errs = append(errs, s.closeRetired())
	}
	errs = append(errs, s.writeCursor())
	s.syncCond.Broadcast()
	st := Stats{Records: s.pendingRecs, Bytes: s.pendingBytes, Segments: len(s.segs)}
	s.mu.Unlock()

	// Wait for a Next in progress (it sees closed and returns) to own the reader file.
	s.readTurn <- struct{}{}
	if s.rf != nil {
		errs = append(errs, s.rf.Close())
		s.rf = nil
	}
	<-s.readTurn

	errs = append(errs, s.lock.Close())
	s.log.Info("spool closed", "dir", s.dir, "pending_records", st.Records, "pending_bytes", st.Bytes, "segments", st.Segments)
	return errors.Join(errs...)
}

// wake releases a Next caller parked on notify.
func (s *Spool) wake() {
	if s.notify != nil {
		close(s.notify)
		s.notify = nil
	}
}

func segmentName(id uint64) string { return fmt.Sprintf("%012d.seg", id) }

// removeSegment deletes a segment file whose records are all acked (or that
// holds none). Called with mu held.
func (s *Spool) removeSegment(g *segment) error {
	if g.deleted {
		return nil
	}
	g.deleted = true
	for i, x := range s.segs {
		if x == g {
			s.segs = append(s.segs[:i], s.segs[i+1:]...)
			break
		}
	}
	s.diskBytes -= g.size
	if err := os.Remove(g.path); err != nil && !errors.Is(err, os.ErrNotExist) {
		// The records were all acked, so the next Open merely hands them out again.
		s.log.Error("spool: cannot delete acked segment", "file", g.path, "err", err)
		return fmt.Errorf("spool delete %s: %w", g.path, err)
	}
	return nil
}
