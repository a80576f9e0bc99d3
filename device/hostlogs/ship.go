package hostlogs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqflux/mqflux/device/queue"
)

// SelfUnit is the unit of the lines the agent writes about its own
// forwarding (lines dropped, lines over the rate).
const SelfUnit = "mqflux-device"

// Shipper takes lines from the sources, limits their rate, stamps them and
// appends them to the log queue, keeping the sources' positions in the
// state file after what they cover is queued.
type Shipper struct {
	q         *queue.Queue
	statePath string
	log       *slog.Logger
	maxLine   int
	rate      int
	queueMax  int64
	now       func() time.Time

	mu     sync.Mutex
	state  State
	bucket *bucket
	last   map[series]time.Time // the newest time given in each series
	over   uint64               // lines over the rate since the last report
	stErr  string               // the last state write error, logged once

	// Counters since start.
	Read, Queued, OverRate, Dropped, Failed atomic.Uint64
}

// ShipperOptions configure NewShipper.
type ShipperOptions struct {
	Queue     *queue.Queue
	StatePath string
	MaxLine   int
	PerSecond int
	QueueMax  int64 // for the message of a drop
	Logger    *slog.Logger
	Now       func() time.Time // time.Now when nil
}

// NewShipper loads the state; an unreadable state is logged and sources
// start as on a first run.
func NewShipper(o ShipperOptions) *Shipper {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	st, err := loadState(o.StatePath)
	if err != nil {
		o.Logger.Error("log forwarding starts afresh", "err", err)
	}
	return &Shipper{
		q: o.Queue, statePath: o.StatePath, log: o.Logger, maxLine: o.MaxLine, rate: o.PerSecond,
		queueMax: o.QueueMax, now: o.Now, state: st, bucket: newBucket(o.PerSecond, o.Now()),
		last: map[series]time.Time{},
	}
}

// State returns a copy of where the sources stand.
func (s *Shipper) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := State{Journal: s.state.Journal, Files: map[string]FilePos{}}
	for k, v := range s.state.Files {
		c.Files[k] = v
	}
	return c
}

// Ship appends the lines a source read (those over the rate counted, not
// appended), then lets the source record its new position in the state,
// which is saved.
func (s *Shipper) Ship(lines []Line, commit func(*State)) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.now()
	for _, l := range lines {
		s.Read.Add(1)
		if !s.bucket.take(now) {
			s.over++
			s.OverRate.Add(1)
			continue
		}
		s.appendLine(l)
	}
	if commit == nil {
		return
	}
	commit(&s.state)
	if err := saveState(s.statePath, s.state); err != nil {
		if err.Error() != s.stErr {
			s.log.Error("log forwarding: position not saved; a restart may send lines again", "err", err)
		}
		s.stErr = err.Error()
	} else {
		s.stErr = ""
	}
}

// appendLine stamps l and appends it, dropping the oldest lines while the
// queue is full and saying so in a line after them. mu held.
func (s *Shipper) appendLine(l Line) {
	if l.Time.IsZero() {
		l.Time = s.now()
	}
	l.Message = cleanMessage(l.Message, s.maxLine)
	l.Unit = cleanTag(l.Unit)
	l.Time = s.stamp(l.Unit, l.Level, l.Time)
	s.put(l.encode())
}

// series is what, beside the device, makes a line's InfluxDB series.
type series struct{ unit, level string }

// maxSeries bounds the times remembered; past it they are forgotten, and
// a collision within the same nanosecond becomes possible again.
const maxSeries = 1024

// stamp is t, or a nanosecond after the newest time of the line's series
// when t is not after it: two lines of a series with one time would be one
// point in InfluxDB, the second overwriting the first. A line of another
// series keeps its own time (a journal entry its journal time, so one sent
// again after a crash overwrites itself). mu held.
func (s *Shipper) stamp(unit, level string, t time.Time) time.Time {
	k := series{unit, level}
	if last, ok := s.last[k]; ok && !t.After(last) {
		t = last.Add(time.Nanosecond)
	}
	if len(s.last) >= maxSeries {
		clear(s.last)
	}
	s.last[k] = t
	return t
}

// put appends rec, dropping the oldest lines while the queue is full and
// saying so in a line after them. mu held.
func (s *Shipper) put(rec []byte) {
	for {
		_, err := s.q.Append(rec)
		if err == nil {
			s.Queued.Add(1)
			return
		}
		if !errors.Is(err, queue.ErrFull) {
			s.Failed.Add(1)
			s.log.Debug("log line not queued", "err", err)
			return
		}
		n := s.q.DropOldest()
		if n == 0 {
			s.Failed.Add(1)
			return
		}
		s.Dropped.Add(uint64(n))
		s.report(fmt.Sprintf("%d log lines dropped: the log queue (%d bytes on disk) was full", n, s.queueMax))
	}
}

// report appends a line of the agent's own, outside the rate. mu held.
func (s *Shipper) report(msg string) {
	t := s.stamp(SelfUnit, "warning", s.now())
	s.put(Line{Time: t, Unit: SelfUnit, Level: "warning", Message: msg}.encode())
}

// Note appends a line of the agent's own (unit mqflux-device, level
// warning), outside the rate: a loss the lines themselves cannot show.
func (s *Shipper) Note(msg string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.report(msg)
}

// Run reports, once a second, the lines that were over the rate in it,
// until ctx is done.
func (s *Shipper) Run(ctx context.Context) {
	t := time.NewTicker(time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			s.flushOver()
			return
		case <-t.C:
			s.flushOver()
		}
	}
}

func (s *Shipper) flushOver() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.over == 0 {
		return
	}
	s.report(fmt.Sprintf("%d log lines not sent: over device.logs.max_per_second (%d a second)", s.over, s.rate))
	s.over = 0
}
