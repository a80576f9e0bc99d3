// Package spool is the on-disk queue between the inputs of mqflux and the
// InfluxDB writer. A reading is acknowledged to its publisher only after
// Append returned nil, and it leaves the spool only after the writer acked
// the batch that carried it, so a crash at any moment loses nothing that was
// acknowledged: records handed out but not acked are handed out again after
// the next Open (at-least-once; every point carries its source timestamp, so
// a duplicate overwrites itself in InfluxDB).
//
// The records live in an internal/segment log (CRC-32C framed records in
// segment files, recovered on Open: a torn tail is truncated, damage in the
// middle of a segment is moved to <segment>.corrupt, every repair logged).
// The spool adds its policy on top: group commit, push-back when full, and
// batches handed to several writers that may ack out of order.
package spool

import (
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/mqflux/mqflux/internal/segment"
)

// ErrClosed is returned by every method called after Close.
var ErrClosed = errors.New("spool closed")

// Durability says what Append guarantees before it returns.
type Durability = segment.Durability

const (
	// Write: the record was handed to the operating system with one write(2)
	// (one for all the records of an AppendBatch), so it survives a crash
	// of the process (not of the machine).
	Write = segment.Write
	// Fsync: the record was fsynced; concurrent Appends share one fsync
	// (group commit), so it survives a power loss too.
	Fsync = segment.Fsync
)

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

// MaxRecordBytes bounds one record.
const MaxRecordBytes = segment.MaxRecordBytes

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
	// Oldest is when the oldest pending record was appended, to about a
	// tenth of a second (to within a few per cent of its age for a long
	// backlog); a record recovered at Open counts from the Open. Zero when
	// nothing is pending.
	Oldest time.Time
}

// Spool is an on-disk queue of opaque records. It is safe for concurrent use.
type Spool struct {
	dir string
	dur Durability
	log *slog.Logger

	// readTurn serialises Next callers so their batches are disjoint; the
	// reader below belongs to whoever holds it.
	readTurn chan struct{}
	rd       segment.Reader

	mu     sync.Mutex
	closed bool
	full   bool // the last Append was refused for room; logged once per episode
	sl     *segment.Log

	pendingRecs  int64
	pendingBytes int64
	unreadRecs   int64 // appended, not yet handed out
	unreadBytes  int64 // payload bytes of those
	readSeg      *segment.Segment
	outstanding  []*handout // of batches handed out, oldest first; acked ones leave from the front
	ages         ages       // when records were appended, for Stats.Oldest
	now          func() time.Time

	// A Next caller waiting for data parks on notify; Append closes it once
	// the unread records reach what the caller waits for.
	notify    chan struct{}
	waitRecs  int64
	waitBytes int64
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
	s := &Spool{dir: opts.Dir, dur: opts.Durability, log: opts.Logger, readTurn: make(chan struct{}, 1), now: time.Now}
	s.ages.opened = s.now()
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	sl, err := segment.Open(segment.Options{
		Dir: opts.Dir, What: "spool", Durability: opts.Durability, Logger: s.log, Mu: &s.mu,
		MaxBytes: orDefault(opts.MaxBytes, DefaultMaxBytes), SegmentBytes: orDefault(opts.SegmentBytes, DefaultSegmentBytes),
	})
	if err != nil {
		return nil, err
	}
	s.sl = sl
	for _, g := range sl.Segments() {
		n := g.Records - g.ReadRecs
		s.pendingRecs += n
		s.pendingBytes += g.Size - g.ReadOff
		s.unreadRecs += n
		s.unreadBytes += g.Size - g.ReadOff - segment.FrameHeader*n
	}
	s.readSeg = sl.Segments()[0] // there is at least the fresh active segment
	st := s.Stats()
	s.log.Info("spool opened", "dir", s.dir, "durability", s.dur.String(),
		"pending_records", st.Records, "pending_bytes", st.Bytes, "segments", st.Segments)
	return s, nil
}

// orDefault returns v, or def when v is zero.
func orDefault(v, def int64) int64 {
	if v == 0 {
		return def
	}
	return v
}

// Stats reports what is pending.
func (s *Spool) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{Records: s.pendingRecs, Bytes: s.pendingBytes, Segments: len(s.sl.Segments()), DiskBytes: s.sl.DiskBytes()}
	if first, ok := s.oldestPending(); ok {
		st.Oldest = s.ages.since(first)
	}
	return st
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
	errs := []error{s.sl.Close(), s.writeCursor()}
	st := Stats{Records: s.pendingRecs, Bytes: s.pendingBytes, Segments: len(s.sl.Segments())}
	s.mu.Unlock()

	// Wait for a Next in progress (it sees closed and returns) to own the reader.
	s.readTurn <- struct{}{}
	errs = append(errs, s.rd.Close())
	<-s.readTurn

	errs = append(errs, s.sl.Unlock())
	s.log.Info("spool closed", "dir", s.dir, "pending_records", st.Records, "pending_bytes", st.Bytes, "segments", st.Segments)
	return errors.Join(errs...)
}

// writeCursor saves the position of the oldest unacked record. mu held.
func (s *Spool) writeCursor() error {
	c := segment.Cursor{Seg: s.sl.LastID()}
	s.readCursor()
	switch g := s.readSeg; {
	case len(s.outstanding) > 0:
		c.Seg, c.Off = s.outstanding[0].seg, s.outstanding[0].off
	case g != nil:
		c.Seg, c.Off = g.ID, g.ReadOff // everything before it was handed out and acked
	}
	return s.sl.SaveCursor(c)
}

// wake releases a Next caller parked on notify.
func (s *Spool) wake() {
	if s.notify != nil {
		close(s.notify)
		s.notify = nil
	}
}
