// Package spool is the on-disk queue between the inputs of mqflux and its
// outputs. A reading is acknowledged to its publisher only after Append
// returned nil, and it leaves the spool only after every reader that needs
// it acked the batch that carried it, so a crash at any moment loses
// nothing that was acknowledged: records handed out to a reader but not
// acked by it are handed out to it again after the next Open
// (at-least-once; every point carries its source timestamp, so a duplicate
// overwrites itself in InfluxDB).
//
// The records live in an internal/segment log (CRC-32C framed records in
// segment files, recovered on Open: a torn tail is truncated, damage in the
// middle of a segment is moved to <segment>.corrupt, every repair logged).
// The spool adds its policy on top: group commit, push-back when full, and
// named readers (one per output), each with its own position, its own
// batches in flight (acked in any order) and its own saved cursor.
//
// Readers are fixed at Open (Options.Readers). A required reader holds
// what it has not acked: a segment file is deleted only once every
// required reader acked all its records, and a spool full of what a
// required reader holds pushes back (ingest.ErrFull). An optional reader
// never pushes back: once it is more than its MaxLag bytes behind the
// newest record, or when the spool is full and it alone holds a segment
// (no required reader needs any of it), it skips ahead, and the records
// it skipped are counted and logged.
//
// Cursors: Close saves the position of every reader's oldest unacked
// record in the file "cursors" (and the oldest of them all in "cursor",
// which the segment log uses to drop what every reader finished). A reader
// whose name has no saved cursor starts at the oldest record still in the
// spool, so a newly added output receives what the spool still holds, then
// everything new; a spool written before readers had names has only
// "cursor", which every reader then starts from. A saved cursor of a name
// no longer configured is dropped with a log line.
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

// DefaultReader names the one required reader of a spool opened without
// Options.Readers.
const DefaultReader = "default"

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
	// Readers read the spool, each at its own pace; empty means one
	// required reader named DefaultReader.
	Readers []ReaderSpec
	Logger  *slog.Logger // nil discards logs
}

// Stats describe what is pending: appended and not yet acked by at least
// one required reader.
type Stats struct {
	// Records and Bytes (framed, on disk) are what the required reader
	// furthest behind has not acked: exactly what is pending with one
	// required reader; with several, the records they share count once.
	Records  int64
	Bytes    int64
	Segments int // segment files, the one being appended to included
	// DiskBytes is what counts against MaxBytes: the segment files' size,
	// acked records in segments not yet deleted included.
	DiskBytes int64
	// Oldest is when the oldest record a required reader has not acked was
	// appended, to about a tenth of a second (to within a few per cent of
	// its age for a long backlog); a record recovered at Open counts from
	// the Open. Zero when nothing is pending.
	Oldest time.Time
}

// Spool is an on-disk queue of opaque records. It is safe for concurrent use.
type Spool struct {
	dir      string
	dur      Durability
	log      *slog.Logger
	segBytes int64 // Options.SegmentBytes or its default

	mu     sync.Mutex
	closed bool
	full   bool // the last Append was refused for room; logged once per episode
	// noSpace is the file system's refusal of an append (ENOSPC or
	// EDQUOT), nil once an append succeeds with roomAgain free: Fault
	// reports it.
	noSpace  error
	sl       *segment.Log
	readers  []*Reader // in Options order; index is Reader.idx
	optional []*Reader // the ones that skip ahead rather than push back
	// endByte is the byte position just past the newest record; byte
	// positions count framed bytes from the start of the oldest segment
	// found at Open, so a reader's lag in bytes is a subtraction.
	endByte int64
	// done holds, per segment and reader, how many of the segment's
	// records the reader no longer needs (acked, or skipped past); a
	// segment missing from it is needed whole by everyone. The segment's
	// Acked is the least of them, so the log deletes it once all are done.
	done map[*segment.Segment][]int64
	// bases holds the byte position of the start of each live segment,
	// taken when it gets its first record: segments are deleted in any
	// order, so it cannot be summed from the live ones later.
	bases map[*segment.Segment]int64
	tail  *segment.Segment // the segment the last Append went to
	ages  ages             // when records were appended, for the Oldest times
	now   func() time.Time
}

// Open opens (creating if needed) the spool in opts.Dir, recovers every
// segment found there and places every reader at its saved cursor. Damage
// never stops it: it is repaired and logged.
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
	specs := opts.Readers
	if len(specs) == 0 {
		specs = []ReaderSpec{{Name: DefaultReader, Required: true}}
	}
	if err := checkReaders(specs); err != nil {
		return nil, fmt.Errorf("spool open %s: %w", opts.Dir, err)
	}
	s := &Spool{dir: opts.Dir, dur: opts.Durability, log: opts.Logger, now: time.Now,
		done: map[*segment.Segment][]int64{}, bases: map[*segment.Segment]int64{}}
	s.ages.opened = s.now()
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.segBytes = orDefault(opts.SegmentBytes, DefaultSegmentBytes)
	sl, err := segment.Open(segment.Options{
		Dir: opts.Dir, What: "spool", Durability: opts.Durability, Logger: s.log, Mu: &s.mu,
		MaxBytes: orDefault(opts.MaxBytes, DefaultMaxBytes), SegmentBytes: s.segBytes,
		Removed: s.dropFromReaders,
	})
	if err != nil {
		return nil, err
	}
	s.sl = sl
	for _, g := range sl.Segments() {
		s.bases[g] = s.endByte
		s.endByte += g.Size
	}
	s.tail = sl.Active()
	if err := s.placeReaders(specs); err != nil {
		sl.Close()
		sl.Unlock()
		return nil, err
	}
	st := s.Stats()
	s.log.Info("spool opened", "dir", s.dir, "durability", s.dur.String(), "readers", len(s.readers),
		"pending_records", st.Records, "pending_bytes", st.Bytes, "segments", st.Segments)
	return s, nil
}

// dropFromReaders closes every reader's descriptor of a deleted segment:
// a reader waiting for new records at the end of a drained segment would
// otherwise keep its room allocated, which on a full disk blocks every
// append. mu held.
func (s *Spool) dropFromReaders(g *segment.Segment) {
	for _, r := range s.readers {
		r.rd.Drop(g.ID)
	}
}

// orDefault returns v, or def when v is zero.
func orDefault(v, def int64) int64 {
	if v == 0 {
		return def
	}
	return v
}

// Reader returns the reader named name, nil if there is none.
func (s *Spool) Reader(name string) *Reader {
	for _, r := range s.readers {
		if r.name == name {
			return r
		}
	}
	return nil
}

// Stats reports what is pending.
func (s *Spool) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := Stats{Segments: len(s.sl.Segments()), DiskBytes: s.sl.DiskBytes()}
	oldest, any := uint64(0), false
	for _, r := range s.readers {
		if !r.required {
			continue
		}
		recs, bytes := r.pending()
		if recs > st.Records {
			st.Records, st.Bytes = recs, bytes
		}
		if low := r.low().seq(); recs > 0 && (!any || low < oldest) {
			oldest, any = low, true
		}
	}
	if any {
		st.Oldest = s.ages.at(oldest)
	}
	s.forgetAges()
	return st
}

// Fault describes why appends fail now: "no space left on device" since
// the file system refused one for room (publishers are pushed back, and
// every ack of the records that fill the disk gives room back), "" once an
// append succeeds with room to spare again (a MiB free).
func (s *Spool) Fault() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.noSpace == nil {
		return ""
	}
	return "no space left on device"
}

// forgetAges drops the stamps of records every reader is past. mu held.
func (s *Spool) forgetAges() {
	first := s.readers[0].low().seq()
	for _, r := range s.readers[1:] {
		first = min(first, r.low().seq())
	}
	s.ages.forget(first)
}

// Close flushes and closes the segment files and saves every reader's
// cursor; what is pending stays on disk for the next Open. Append, Next
// and Ack return ErrClosed afterwards.
func (s *Spool) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for _, r := range s.readers {
		r.wake()
	}
	errs := []error{s.sl.Close(), s.saveCursors()}
	pending, segs := s.pendingRequired(), len(s.sl.Segments())
	s.mu.Unlock()

	// Wait for a Next in progress (it sees closed and returns) to own each reader.
	for _, r := range s.readers {
		r.readTurn <- struct{}{}
		errs = append(errs, r.rd.Close())
		<-r.readTurn
	}

	errs = append(errs, s.sl.Unlock())
	s.log.Info("spool closed", "dir", s.dir, "pending_records", pending, "segments", segs)
	return errors.Join(errs...)
}
