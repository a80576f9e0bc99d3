// Package alert tells people when a device goes quiet, goes offline, or a
// reading crosses a line, and again when that ends: once per change, never
// on every check.
//
// The Service is an observer of the pipeline (package observe): it sees
// every spooled reading, off the path that acknowledges it, and keeps a
// registry of devices (first and last seen, the latest reading of each
// measurement, presence from the status topic). The Engine turns readings
// and the passing of time into transitions: an alert per device and rule
// fires once when it starts and resolves once when it ends.
//
// Every transition becomes one entry per notifier in an outbox saved with
// the registry in one file under data_dir/alerts before anything is sent,
// and leaves it only once the notifier accepted it; a receiver that is
// down or answers 5xx or 429 is retried with backoff (honouring
// Retry-After), one that refuses for good (4xx) is logged and counted.
// Each transition carries an ID that stays the same across attempts and
// restarts, for receivers to drop a repeat. Transitions are also written
// to InfluxDB (measurement "alerts") through the spool, by the same
// outbox.
package alert

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/mqflux/mqflux/alert/notify"
	"github.com/mqflux/mqflux/flow/observe"
	"github.com/mqflux/mqflux/internal/backoff"
)

// Options wires a Service.
type Options struct {
	Config Config
	// Dir holds the state file (data_dir/alerts).
	Dir string
	// Env is what the notifiers of Config.Notify are built with (the
	// broker the mqtt kind publishes through).
	Env notify.Env
	// Notifiers are sent every transition besides those Config.Notify
	// configures.
	Notifiers []notify.Notifier
	// Record, when set, writes every transition to InfluxDB.
	Record Recorder
	Logger *slog.Logger
	// Now is the clock; time.Now when nil.
	Now func() time.Time
	// Forgotten, when set, is called with each device alerts.forget_after
	// forgot, so that the views holding it (/v1/latest) let it go too.
	Forgotten func(device string)
	// SaveInterval is how often the registry is saved when only last-seen
	// times changed (transitions are saved at once); 10s when 0.
	SaveInterval time.Duration
	// Store keeps the state instead of the file under Dir (a store
	// several instances share; Dir is then unused).
	Store Store
}

// Service is the registry, the rules and the outbox, as an observer.
type Service struct {
	observe.Base
	o         Options
	log       *slog.Logger
	notifiers []notify.Notifier
	m         *metrics
	// saving lets one save at a time write the state: two would share its
	// temporary file, and a save that returned "nothing to do" while
	// another was still writing would hide that one's failure.
	saving sync.Mutex

	mu        sync.Mutex
	eng       *Engine
	outbox    map[string][]*entry // per notifier, oldest first
	seq       uint64              // of the newest entry
	persisted uint64              // the newest entry on disk
	recent    []notify.Notification
	dirty     bool  // a transition or a delivery is not saved yet
	saveErr   error // of the last save, nil once one succeeds
	touched   bool  // only last-seen times changed since the last save
	wake      map[string]chan struct{}
	save      chan struct{}

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Open loads what a previous run saved under o.Dir and builds the
// service; Start runs it.
func Open(o Options) (*Service, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.SaveInterval <= 0 {
		o.SaveInterval = 10 * time.Second
	}
	st, err := loadState(&o)
	if err != nil {
		return nil, err
	}
	notifiers, err := buildNotifiers(o)
	if err != nil {
		return nil, err
	}
	s := &Service{o: o, log: o.Logger, notifiers: notifiers, outbox: map[string][]*entry{},
		wake: map[string]chan struct{}{}, save: make(chan struct{}, 1)}
	if o.Record != nil {
		s.notifiers = append(s.notifiers, &record{spool: o.Record})
	}
	for _, n := range s.notifiers {
		s.outbox[n.Name()] = nil
		s.wake[n.Name()] = make(chan struct{}, 1)
	}
	devices := make(map[string]*Device, len(st.Devices))
	for _, d := range st.Devices {
		devices[d.Name] = d
	}
	s.eng = NewEngine(o.Config, o.Now(), devices)
	s.seq, s.persisted, s.recent = st.Seq, st.Seq, st.Recent
	for _, e := range st.Outbox {
		if _, ok := s.outbox[e.Notifier]; !ok {
			s.log.Warn("notification dropped: its notifier is no longer configured", "notifier", e.Notifier, "id", e.N.ID)
			continue
		}
		s.outbox[e.Notifier] = append(s.outbox[e.Notifier], e)
	}
	s.m = newMetrics(s)
	return s, nil
}

// loadState reads what the store (o.Store, or the file under o.Dir)
// holds.
func loadState(o *Options) (*saved, error) {
	if o.Store != nil {
		parts, err := o.Store.Load()
		if err != nil && !errors.Is(err, ErrUnreadable) {
			return nil, fmt.Errorf("open alerts: %w", err)
		}
		st, derr := decodeParts(parts, o.Store.Where())
		if err = errors.Join(err, derr); err != nil {
			// Only damage, a hand edit or another version writes such a
			// state; the next save replaces it. What could be read is kept.
			o.Logger.Error("alert state partly unreadable: starting without what could not be read", "err", err, "store", o.Store.Where(),
				"devices", len(st.Devices))
		}
		return st, nil
	}
	if err := os.MkdirAll(o.Dir, 0o750); err != nil {
		return nil, fmt.Errorf("open alerts: %w", err)
	}
	o.Store = fileStore{o.Dir}
	st, err := load(o.Dir)
	if err != nil {
		// The file is replaced whole, so only a disk fault or a hand edit
		// damages it. Alerting starts afresh rather than keeping the server
		// down; the file is kept for a look.
		aside := filepath.Join(o.Dir, stateFile+".corrupt")
		if rerr := os.Rename(filepath.Join(o.Dir, stateFile), aside); rerr != nil {
			return nil, errors.Join(err, rerr)
		}
		o.Logger.Error("alert state unreadable: moved aside, starting with an empty registry and outbox", "err", err, "moved_to", aside)
		st = &saved{Version: stateVersion}
	}
	return st, nil
}

// buildNotifiers builds each configured notifier by its kind, then adds
// the ones given ready-made.
func buildNotifiers(o Options) ([]notify.Notifier, error) {
	var out []notify.Notifier
	for _, c := range o.Config.Notify {
		n, err := notify.New(c, o.Env)
		if err != nil {
			return nil, fmt.Errorf("open alerts: %w", err)
		}
		out = append(out, n)
	}
	return append(out, o.Notifiers...), nil
}

// Name labels the observer.
func (s *Service) Name() string { return "alerts" }

// Observe updates the registry with one spooled reading.
func (s *Service) Observe(r *observe.Reading) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.touched = true
	s.enqueue(s.eng.Observe(s.o.Now(), r.Device(), &r.Point))
}

// check runs the rules the clock decides.
func (s *Service) check() {
	s.mu.Lock()
	now := s.o.Now()
	s.enqueue(s.eng.Check(now))
	expired, ns := s.eng.Expire(now)
	s.enqueue(ns)
	if len(expired) > 0 {
		s.markDirty()
	}
	s.mu.Unlock()
	for _, name := range expired {
		s.log.Info("device forgotten", "device", name, "by", "alerts.forget_after", "forget_after", s.o.Config.ForgetAfter)
		if s.o.Forgotten != nil {
			s.o.Forgotten(name)
		}
	}
}

// enqueue puts each transition in every notifier's outbox and asks for a
// save; nothing is sent before the save. Called with s.mu held.
func (s *Service) enqueue(ns []notify.Notification) {
	if len(ns) == 0 {
		return
	}
	for _, n := range ns {
		s.log.Info("alert "+n.State, "device", n.Device, "rule", n.Rule, "message", n.Message)
		s.m.transitions.WithLabelValues(n.Rule, n.State).Inc()
		if max := s.o.Config.History; max > 0 {
			if len(s.recent) >= max {
				s.recent = append(s.recent[:0], s.recent[len(s.recent)-max+1:]...)
			}
			s.recent = append(s.recent, n)
		}
		for _, nt := range s.notifiers {
			s.seq++
			s.outbox[nt.Name()] = append(s.outbox[nt.Name()], &entry{Seq: s.seq, Notifier: nt.Name(), N: n})
			s.bound(nt)
		}
	}
	s.markDirty()
}

// bound drops the oldest notification of a notifier that has more than
// alerts.max_pending waiting. Called with s.mu held.
func (s *Service) bound(nt notify.Notifier) {
	q := s.outbox[nt.Name()]
	if len(q) <= s.o.Config.MaxPending {
		return
	}
	old := q[0]
	q[0] = nil
	s.outbox[nt.Name()] = q[1:]
	s.m.outcome(nt.Kind(), "dropped")
	s.log.Error("notification dropped: too many waiting for this notifier (alerts.max_pending)", "notifier", nt.Name(),
		"id", old.N.ID, "device", old.N.Device, "rule", old.N.Rule, "state", old.N.State, "max_pending", s.o.Config.MaxPending)
}

func (s *Service) markDirty() {
	s.dirty = true
	select {
	case s.save <- struct{}{}:
	default:
	}
}

// Start runs the clock's checks, the saving and one sender per notifier
// until Stop.
func (s *Service) Start() {
	// Silence counts from here at the earliest: the time the server took
	// to start is not a device's fault.
	s.mu.Lock()
	s.eng.started = s.o.Now()
	s.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	s.wg.Add(2 + len(s.notifiers))
	go s.checkLoop(ctx)
	go s.saveLoop(ctx)
	for _, n := range s.notifiers {
		go s.send(ctx, n)
	}
}

// Stop ends the goroutines and saves the state a last time. What is in
// the outbox stays there for the next start.
func (s *Service) Stop() error {
	if s.cancel != nil {
		s.cancel()
		s.wg.Wait()
	}
	return s.saveNow()
}

func (s *Service) checkLoop(ctx context.Context) {
	defer s.wg.Done()
	t := time.NewTicker(s.o.Config.CheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.check()
		}
	}
}

// saveLoop saves at once after a transition or a delivery, and every
// SaveInterval when only last-seen times changed.
func (s *Service) saveLoop(ctx context.Context) {
	defer s.wg.Done()
	t := time.NewTicker(s.o.SaveInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.save:
		case <-t.C:
		}
		if err := s.saveNow(); err != nil {
			// Nothing unsaved is sent; the next save tries again.
			s.log.Error("alert state not saved: notifications wait until it is", "err", err)
		}
	}
}

// SaveFault says why the state could not be saved (a full disk); ""
// once a save succeeds. Transitions wait unsent meanwhile (nothing unsaved
// is sent) and the save is retried every SaveInterval; readings are not
// affected.
func (s *Service) SaveFault() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.saveErr == nil {
		return ""
	}
	return s.saveErr.Error()
}

// saveNow writes the state if anything changed, then lets the senders
// have what is now on disk.
func (s *Service) saveNow() error {
	s.saving.Lock()
	defer s.saving.Unlock()
	s.mu.Lock()
	if !s.dirty && !s.touched {
		s.mu.Unlock()
		return nil
	}
	st := saved{Version: stateVersion, Saved: s.o.Now().UTC(), Seq: s.seq, Recent: s.recent,
		Devices: make([]*Device, 0, len(s.eng.devices))}
	for _, d := range s.eng.devices {
		st.Devices = append(st.Devices, d)
	}
	for _, q := range s.outbox {
		st.Outbox = append(st.Outbox, q...)
	}
	parts := split(&st, s.o.Store.Shards())
	bs := make([][]byte, len(parts))
	var err error
	for i, p := range parts {
		if bs[i], err = json.Marshal(p); err != nil {
			break
		}
	}
	seq := s.seq
	s.dirty, s.touched = false, false
	s.mu.Unlock()
	if err == nil {
		err = s.o.Store.Save(bs)
	}
	if err != nil {
		s.mu.Lock()
		s.dirty = true
		s.saveErr = err
		s.mu.Unlock()
		return err
	}
	s.mu.Lock()
	s.persisted = max(s.persisted, seq)
	s.saveErr = nil
	s.mu.Unlock()
	for _, w := range s.wake {
		select {
		case w <- struct{}{}:
		default:
		}
	}
	return nil
}

// send delivers one notifier's outbox in order: the oldest saved entry
// first, retried until accepted or refused for good, so that a resolution
// never overtakes its firing.
func (s *Service) send(ctx context.Context, n notify.Notifier) {
	defer s.wg.Done()
	log := s.log.With("notifier", n.Name())
	for {
		e := s.head(n.Name())
		if e == nil {
			select {
			case <-ctx.Done():
				return
			case <-s.wake[n.Name()]:
				continue
			}
		}
		// A send under way is let finish, within the notifier's own
		// timeout: cancelling it could leave a notification the receiver
		// accepted in the outbox, to be sent again by the next start.
		err := n.Send(context.WithoutCancel(ctx), &e.N)
		switch {
		case err == nil:
			s.m.outcome(n.Kind(), "sent")
			s.done(n.Name(), e)
			continue
		case notify.IsPermanent(err):
			log.Error("notification refused for good", "id", e.N.ID, "device", e.N.Device, "rule", e.N.Rule, "state", e.N.State, "answer", err)
			s.m.outcome(n.Kind(), "refused")
			s.done(n.Name(), e)
			continue
		}
		if ctx.Err() != nil {
			return
		}
		s.mu.Lock()
		e.Attempts++
		attempts := e.Attempts
		s.mu.Unlock()
		s.m.outcome(n.Kind(), "retried")
		wait := s.backoff(attempts, notify.RetryAfter(err))
		log.Warn("notification not delivered: retrying", "id", e.N.ID, "attempts", attempts, "in", wait, "err", err)
		if backoff.Sleep(ctx, wait) != nil {
			return
		}
	}
}

// head is the notifier's oldest entry, once it is saved.
func (s *Service) head(name string) *entry {
	s.mu.Lock()
	defer s.mu.Unlock()
	q := s.outbox[name]
	if len(q) == 0 || q[0].Seq > s.persisted {
		return nil
	}
	return q[0]
}

// done takes a delivered (or refused) entry out of the outbox.
func (s *Service) done(name string, e *entry) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if q := s.outbox[name]; len(q) > 0 && q[0] == e {
		q[0] = nil
		s.outbox[name] = q[1:]
	}
	s.markDirty()
}

// backoff doubles from a second up to retry_max; a receiver's Retry-After
// wins when it asks for longer.
func (s *Service) backoff(attempts int, retryAfter time.Duration) time.Duration {
	p := backoff.Policy{Min: min(time.Second, s.o.Config.RetryMax), Max: s.o.Config.RetryMax}
	return max(p.Delay(attempts-1, 0), retryAfter)
}
