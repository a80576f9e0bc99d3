package dump

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"time"

	"github.com/mqflux/mqflux/internal/backoff"
)

// StateFile is the scheduler's state under its directory.
const StateFile = "state.json"

// maxCatchUp bounds how many missed days a start dumps: a server down for
// longer dumps the newest ones.
const maxCatchUp = 366

// wakeEvery bounds one sleep of the scheduler, so that a change of the
// wall clock (a suspended machine, NTP) delays a dump by at most this.
const wakeEvery = time.Minute

// Scheduler dumps the previous day every day at Config.At, in order, each
// day once: the last day done is saved in a state file before the next
// is begun, a failed day is retried with backoff until it succeeds (the
// days after it wait), and a start dumps the days missed while the
// server was down.
type Scheduler struct {
	cfg   Config
	opts  Options
	loc   *time.Location
	at    time.Duration
	state string // path of the state file
	log   *slog.Logger
	// Retry spaces the attempts at a failed day.
	Retry backoff.Policy
	// Now is the clock; time.Now when nil.
	Now func() time.Time

	cancel context.CancelFunc
	done   chan struct{}
	mu     sync.Mutex
	st     State
}

// State is what the scheduler keeps across restarts.
type State struct {
	// LastDone is the newest day dumped, "" before the first.
	LastDone string `json:"last_done"`
	// Done lists the newest days dumped with what they held.
	Done []DoneDay `json:"done"`
	// Failing is the day being retried, if any.
	Failing *Failing `json:"failing,omitempty"`
}

// DoneDay is one day dumped.
type DoneDay struct {
	Date  string    `json:"date"`
	At    time.Time `json:"at"`
	Files int       `json:"files"`
	Rows  int64     `json:"rows"`
	Bytes int64     `json:"bytes"`
}

// Failing is a day whose dump failed.
type Failing struct {
	Date     string    `json:"date"`
	Attempts int       `json:"attempts"`
	Error    string    `json:"error"`
	Next     time.Time `json:"next"`
}

// keepDone is how many days State.Done lists.
const keepDone = 31

// NewScheduler builds the scheduler of cfg reading from source; its state
// lives in dir.
func NewScheduler(cfg Config, source Source, dir string, log *slog.Logger) (*Scheduler, error) {
	loc, err := time.LoadLocation(cfg.Timezone)
	if err != nil {
		return nil, fmt.Errorf("dumps.timezone: %w", err)
	}
	at, err := ParseAt(cfg.At)
	if err != nil {
		return nil, fmt.Errorf("dumps.at: %w", err)
	}
	target, err := ParseTarget(cfg.To)
	if err != nil {
		return nil, fmt.Errorf("dumps.to: %w", err)
	}
	s := &Scheduler{cfg: cfg, loc: loc, at: at, state: filepath.Join(dir, StateFile), log: log,
		opts:  Options{Source: source, Target: target, Measurements: cfg.Measurements, Version: BuildVersion(), Log: log},
		Retry: backoff.Policy{Min: time.Minute, Max: time.Hour, Jitter: true}}
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("dumps state: %w", err)
	}
	if s.st, err = LoadState(s.state); err != nil {
		return nil, err
	}
	return s, nil
}

// BuildVersion is the version of the running binary as the Go toolchain
// recorded it (a module version, or the VCS revision of a build from a
// checkout), for manifests written by the server.
func BuildVersion() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	for _, s := range bi.Settings {
		if s.Key == "vcs.revision" {
			v += " " + s.Value
		}
	}
	return v
}

// LoadState reads a state file; a missing one is the empty state.
func LoadState(path string) (State, error) {
	var st State
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("dumps state: %w", err)
	}
	if err := json.Unmarshal(data, &st); err != nil {
		return st, fmt.Errorf("dumps state %s: %w", path, err)
	}
	return st, nil
}

// save writes the state atomically: a temporary file, fsynced, renamed.
func (s *Scheduler) save() error {
	s.mu.Lock()
	data, err := json.MarshalIndent(s.st, "", "  ")
	s.mu.Unlock()
	if err != nil {
		return err
	}
	tmp := s.state + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("dumps state: %w", err)
	}
	_, err = f.Write(append(data, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, s.state)
	}
	if err != nil {
		return fmt.Errorf("dumps state %s: %w", s.state, err)
	}
	return nil
}

// State is a copy of the scheduler's state.
func (s *Scheduler) State() State {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.st
	st.Done = append([]DoneDay(nil), s.st.Done...)
	return st
}

// Start runs the scheduler until ctx ends or Stop.
func (s *Scheduler) Start(ctx context.Context) {
	if s == nil {
		return
	}
	ctx, s.cancel = context.WithCancel(ctx)
	s.done = make(chan struct{})
	go func() {
		defer close(s.done)
		s.run(ctx)
	}()
}

// Stop ends the scheduler and waits for it: a dump under way is
// abandoned (its uploads cancelled, so nothing half-written shows) and
// done again at the next start.
func (s *Scheduler) Stop() {
	if s == nil || s.cancel == nil {
		return
	}
	s.cancel()
	<-s.done
}

func (s *Scheduler) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

// next is the oldest day not yet dumped: the day after the last one
// done, or, on a first start, yesterday.
func (s *Scheduler) next(now time.Time) Day {
	yesterday := DayOf(now, s.loc).Prev()
	s.mu.Lock()
	last := s.st.LastDone
	s.mu.Unlock()
	if last == "" {
		return yesterday
	}
	d, err := ParseDay(last, s.loc)
	if err != nil {
		return yesterday
	}
	d = d.Next()
	if oldest := DayOf(yesterday.Start.AddDate(0, 0, -maxCatchUp), s.loc); d.Date < oldest.Date {
		s.log.Warn("dumps: more days missed than are caught up; the oldest are skipped", "last_done", last, "from", oldest.Date)
		d = oldest
	}
	return d
}

func (s *Scheduler) run(ctx context.Context) {
	s.log.Info("dumps scheduled", "to", s.opts.Target.Shown, "at", s.cfg.At, "timezone", s.cfg.Timezone,
		"last_done", s.State().LastDone)
	attempts, waiting := 0, ""
	for ctx.Err() == nil {
		now := s.now()
		day := s.next(now)
		if due := day.Due(s.at); now.Before(due) {
			if waiting != day.Date {
				waiting = day.Date
				s.log.Info("dumps: next day waits until due", "date", day.Date, "due", due)
			}
			_ = backoff.Sleep(ctx, min(due.Sub(now), wakeEvery))
			continue
		}
		err := s.dump(ctx, day, now)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			attempts = 0
			continue
		}
		wait := s.Retry.Delay(attempts, 0)
		attempts++
		s.mu.Lock()
		s.st.Failing = &Failing{Date: day.Date, Attempts: attempts, Error: err.Error(), Next: s.now().Add(wait).UTC()}
		s.mu.Unlock()
		if serr := s.save(); serr != nil {
			s.log.Error("dumps: save state", "err", serr)
		}
		s.log.Error("dump failed; retrying", "date", day.Date, "attempt", attempts, "retry_in", wait.Round(time.Second), "err", err)
		_ = backoff.Sleep(ctx, wait)
	}
}

// dump writes day, prunes the old days, and records the day as done.
func (s *Scheduler) dump(ctx context.Context, day Day, now time.Time) error {
	s.log.Info("dump starting", "date", day.Date)
	m, err := Run(ctx, s.opts, day)
	if err != nil {
		return err
	}
	if s.cfg.KeepDays > 0 {
		if err := s.prune(ctx, DayOf(now, s.loc)); err != nil {
			return err
		}
	}
	s.mu.Lock()
	s.st.LastDone, s.st.Failing = day.Date, nil
	s.st.Done = append(s.st.Done, DoneDay{Date: day.Date, At: s.now().UTC(), Files: len(m.Files), Rows: m.Rows(), Bytes: m.Bytes()})
	if len(s.st.Done) > keepDone {
		s.st.Done = s.st.Done[len(s.st.Done)-keepDone:]
	}
	s.mu.Unlock()
	if err := s.save(); err != nil {
		return err
	}
	s.log.Info("dump done", describe(m)...)
	return nil
}

func (s *Scheduler) prune(ctx context.Context, today Day) error {
	b, err := s.opts.Target.Open(ctx)
	if err != nil {
		return err
	}
	defer b.Close()
	gone, err := Prune(ctx, b, s.opts.Target.Prefix, s.cfg.KeepDays, today)
	if err != nil {
		return fmt.Errorf("dumps.keep_days: %w", err)
	}
	if len(gone) == 0 {
		return nil
	}
	s.log.Info("dumps: deleted days older than keep_days", "keep_days", s.cfg.KeepDays, "days", gone)
	_, err = WriteIndex(ctx, b, s.opts.Target.Prefix)
	return err
}
