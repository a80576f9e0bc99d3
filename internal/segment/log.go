package segment

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
)

// Options configure a Log.
type Options struct {
	Dir string // created if missing
	// What names the log in messages and errors ("spool", "queue").
	What string
	// SegmentBytes: a new segment file is started when a record would take
	// the current one past this size. Must be positive.
	SegmentBytes int64
	// MaxBytes bounds the bytes of segment files on disk. Must be positive.
	MaxBytes   int64
	Durability Durability
	// Mu is the owner's mutex, held on every call; the group commit
	// releases it while an fsync runs.
	Mu     *sync.Mutex
	Logger *slog.Logger
	// Removed, if set, is called (with Mu held) for each segment file
	// deleted, so that the owner closes what it holds open of it
	// (Reader.Drop): on Linux the room comes back only then.
	Removed func(*Segment)
	// Foreign, if set, names .seg files the owner handles itself (an older
	// format it migrates); they are neither segments nor warned about.
	Foreign func(name string) bool
}

// Segment is the bookkeeping of one segment file; the records stay on disk.
// The owner reads every field and moves ReadOff, ReadRecs and Acked, all
// under its mutex.
type Segment struct {
	ID      uint64
	Path    string
	Size    int64 // bytes of whole records, all readable
	Records int64
	// Seq is the number of the first record: records are numbered
	// consecutively across segments and restarts (from the cursor's Seq).
	Seq uint64
	// ReadOff is the offset of the first record the owner has not handed
	// out; ReadRecs the records before it. Open sets them from the cursor.
	ReadOff  int64
	ReadRecs int64
	Acked    int64 // records acknowledged
	Sealed   bool  // no longer appended to
	removed  bool
}

// Done says every record is acknowledged and none will be appended.
func (g *Segment) Done() bool { return g.Sealed && g.Acked == g.Records }

// Log is an append-only log of segment files. Its owner's mutex guards it.
type Log struct {
	dir      string
	what     string
	segBytes int64
	maxBytes int64
	dur      Durability
	log      *slog.Logger
	lock     *os.File
	foreign  func(string) bool
	removed  func(*Segment)

	segs      []*Segment // by id
	active    *Segment
	w         *os.File // write handle of active
	wbuf      []byte
	nextID    uint64
	nextSeq   uint64
	diskBytes int64
	cursor    Cursor
	hasCursor bool
	dirDirty  bool // segment files created or removed since the last directory fsync
	// closed is set by Close. A nil active segment alone does not mean
	// closed: a roll that could not create the next file leaves none, and
	// the next Write tries again.
	closed bool
	// writeAt is f.WriteAt; a unit test puts a file system's refusal here.
	writeAt func(f *os.File, p []byte, off int64) (int, error)

	// Group commit: positions count every byte ever written.
	syncCond *sync.Cond
	written  int64
	synced   int64
	syncing  bool
	fsyncs   int64      // fsyncs run by the group commit
	syncErr  error      // sticky under Fsync: after a failed fsync nothing is promised
	retired  []*os.File // write handles of rolled segments, closed when no fsync runs
}

// Open opens (creating if needed) the log in opts.Dir, locks the directory,
// recovers every segment found there and starts a fresh segment to append
// to. Damage never stops it: it is repaired and logged.
func Open(opts Options) (*Log, error) {
	if opts.What == "" {
		opts.What = "log"
	}
	if opts.Dir == "" {
		return nil, fmt.Errorf("%s open: Dir is empty", opts.What)
	}
	if opts.SegmentBytes <= 0 || opts.MaxBytes <= 0 || opts.Mu == nil {
		return nil, fmt.Errorf("%s open %s: SegmentBytes %d and MaxBytes %d must be positive and Mu set", opts.What, opts.Dir, opts.SegmentBytes, opts.MaxBytes)
	}
	if opts.Durability < Write || opts.Durability > Fsync {
		return nil, fmt.Errorf("%s open %s: unknown durability %d", opts.What, opts.Dir, opts.Durability)
	}
	l := &Log{
		dir: opts.Dir, what: opts.What, segBytes: opts.SegmentBytes, maxBytes: opts.MaxBytes,
		dur: opts.Durability, log: opts.Logger, foreign: opts.Foreign, removed: opts.Removed,
		syncCond: sync.NewCond(opts.Mu),
	}
	if l.log == nil {
		l.log = slog.New(slog.DiscardHandler)
	}
	if err := os.MkdirAll(l.dir, 0o755); err != nil {
		return nil, fmt.Errorf("%s open: %w", l.what, err)
	}
	lock, err := lockDir(l.dir)
	if err != nil {
		return nil, fmt.Errorf("%s open: %w", l.what, err)
	}
	l.lock = lock
	if err := l.recover(); err != nil {
		l.lock.Close()
		return nil, err
	}
	if err := l.roll(); err != nil {
		l.lock.Close()
		return nil, err
	}
	return l, nil
}

// Segments returns the segment files, oldest first, the active one last.
// The slice is the Log's own: read it under the owner's mutex only.
func (l *Log) Segments() []*Segment { return l.segs }

// Active is the segment appended to (nil after Close, and after a roll
// that could not create the next segment file until a Write creates it).
func (l *Log) Active() *Segment { return l.active }

// After returns the oldest segment with an id above id, or nil.
func (l *Log) After(id uint64) *Segment {
	for _, g := range l.segs {
		if g.ID > id {
			return g
		}
	}
	return nil
}

// DiskBytes is what counts against MaxBytes: the segment files' size,
// acknowledged records in segments not yet removed included.
func (l *Log) DiskBytes() int64 { return l.diskBytes }

// NextSeq is the number the next appended record gets.
func (l *Log) NextSeq() uint64 { return l.nextSeq }

// LastID is the id of the newest segment ever created.
func (l *Log) LastID() uint64 { return l.nextID - 1 }

// Cursor is what Open found in the cursor file; ok is false if nothing.
func (l *Log) Cursor() (c Cursor, ok bool) { return l.cursor, l.hasCursor }

// Fsyncs counts the fsyncs run by the group commit (for tests and
// benchmarks); Synced says whether every byte written is covered by one.
func (l *Log) Fsyncs() int64 { return l.fsyncs }
func (l *Log) Synced() bool  { return l.synced == l.written }

// Durability is what the log was opened with.
func (l *Log) Durability() Durability { return l.dur }

// Remove deletes a segment whose records are all acknowledged (or that
// holds none). The failure to delete is logged and returned; the records
// then merely come back after the next Open.
func (l *Log) Remove(g *Segment) error {
	if g.removed {
		return nil
	}
	g.removed = true
	for i, x := range l.segs {
		if x == g {
			l.segs = append(l.segs[:i], l.segs[i+1:]...)
			break
		}
	}
	l.diskBytes -= g.Size
	l.dirDirty = true
	if l.removed != nil {
		l.removed(g)
	}
	if err := os.Remove(g.Path); err != nil && !errors.Is(err, os.ErrNotExist) {
		l.log.Error(l.what+": cannot delete acked segment", "file", g.Path, "err", err)
		return fmt.Errorf("%s delete %s: %w", l.what, g.Path, err)
	}
	return nil
}

// Close syncs and closes the segment files; the empty active segment is
// removed. The directory stays locked until Unlock, so the owner can save
// its cursor first.
func (l *Log) Close() error {
	l.closed = true
	var errs []error
	if l.w != nil {
		if err := l.w.Sync(); err != nil {
			errs = append(errs, fmt.Errorf("%s close: sync %s: %w", l.what, l.active.Path, err))
		} else if l.syncErr == nil {
			l.synced = l.written
		}
		errs = append(errs, l.w.Close())
		l.w = nil
	}
	if g := l.active; g != nil {
		g.Sealed = true
		if g.Records == 0 {
			errs = append(errs, l.Remove(g))
		}
		l.active = nil
	}
	if !l.syncing {
		errs = append(errs, l.closeRetired())
	}
	l.syncCond.Broadcast()
	return errors.Join(errs...)
}

// Unlock releases the directory lock; the Log is unusable afterwards.
func (l *Log) Unlock() error { return l.lock.Close() }

func (l *Log) closeRetired() error {
	var errs []error
	for _, f := range l.retired {
		errs = append(errs, f.Close())
	}
	l.retired = l.retired[:0]
	return errors.Join(errs...)
}

// MaxBytes is the bound on the segment files' size.
func (l *Log) MaxBytes() int64 { return l.maxBytes }

// Roll seals the active segment and starts a new one, so nothing is
// appended behind a record the owner found unreadable.
func (l *Log) Roll() error {
	if l.closed {
		return fmt.Errorf("%s roll: %w", l.what, ErrClosed)
	}
	return l.roll()
}

// SyncAll fsyncs the active segment and the directory whatever the
// durability: for an owner that is about to delete the only other copy of
// what it wrote.
func (l *Log) SyncAll() error {
	if l.w != nil {
		if err := l.w.Sync(); err != nil {
			return fmt.Errorf("%s sync %s: %w", l.what, l.active.Path, err)
		}
		if l.syncErr == nil {
			l.synced = l.written
		}
	}
	if err := SyncDir(l.dir); err != nil {
		return fmt.Errorf("%s sync: %w", l.what, err)
	}
	l.dirDirty = false
	return nil
}

// IsName says whether name is the file name of a segment.
func IsName(name string) bool {
	_, ok := parseName(name)
	return ok
}
