package natsinput

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Lease is one key of a key-value bucket whose TTL is the lease: the
// instance whose name the key holds leads. It renews the key every third
// of the lease with a revision check (Update), so two holders cannot both
// renew; an instance that stops renewing (killed, cut off) loses the key
// when the bucket's TTL removes it, and another, which tries to create
// the key every quarter of the lease, takes it. So a takeover after a
// crash comes within the lease and a quarter, under twice the lease.
//
// A holder that cannot reach NATS steps down on its own once two thirds
// of the lease passed since its last renewal: before the key can expire
// and another take it, as long as the clocks of NATS and the holder run
// at the same rate.
type Lease struct {
	kv   jetstream.KeyValue
	key  string
	name string
	ttl  time.Duration
	log  *slog.Logger
	// changed gets a token whenever Held may have changed.
	changed chan struct{}

	mu       sync.Mutex
	held     bool
	rev      uint64
	renewed  time.Time // this instance's clock, at the renewal request
	since    time.Time // when this instance took the lease
	holder   leaseValue
	gained   int
	takeover time.Duration // the last takeover: the key's last write by the previous holder to ours
}

// leaseValue is what the key holds.
type leaseValue struct {
	Holder string    `json:"holder"`
	Since  time.Time `json:"since"`
}

// LeaseBucket creates or updates the bucket of leases: TTL lease, one
// revision per key, replicas as the stream's.
func LeaseBucket(ctx context.Context, js jetstream.JetStream, bucket string, ttl time.Duration, replicas int) (jetstream.KeyValue, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: bucket, Description: "mqflux leases: who alerts", TTL: ttl, History: 1,
		Replicas: replicas, Storage: jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("lease bucket %s: %w", bucket, err)
	}
	return kv, nil
}

// NewLease is the lease key of kv for the instance name; ttl must be the
// bucket's TTL. Run takes part.
func NewLease(kv jetstream.KeyValue, key, name string, ttl time.Duration, log *slog.Logger) *Lease {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Lease{kv: kv, key: key, name: name, ttl: ttl, log: log, changed: make(chan struct{}, 1)}
}

// Changed gets a token whenever Held may have changed.
func (l *Lease) Changed() <-chan struct{} { return l.changed }

// Held reports whether this instance holds the lease now.
func (l *Lease) Held() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.held
}

// LeaseState is what a Lease knows.
type LeaseState struct {
	Held   bool
	Holder string    // "" when the key is gone
	Since  time.Time // when the holder took it
	// Gained counts the times this instance took the lease; Takeover is
	// how long the key went unrenewed before the last of them (NATS's
	// timestamps: the previous holder's last write to ours), 0 when the
	// key was free.
	Gained   int
	Takeover time.Duration
}

// State is what the lease knows now.
func (l *Lease) State() LeaseState {
	l.mu.Lock()
	defer l.mu.Unlock()
	return LeaseState{Held: l.held, Holder: l.holder.Holder, Since: l.holder.Since, Gained: l.gained, Takeover: l.takeover}
}

// Run tries for the lease and renews it until ctx ends, then gives it
// up (deletes the key, so another takes over at once).
func (l *Lease) Run(ctx context.Context) {
	var last jetstream.KeyValueEntry // the key as last seen held by another
	for {
		wait := l.ttl / 4
		if l.Held() {
			l.renew(ctx)
			wait = l.ttl / 3
		} else {
			last = l.try(ctx, last)
		}
		select {
		case <-ctx.Done():
			l.release()
			return
		case <-time.After(wait):
		}
	}
}

// try creates the key; while another holds it, it remembers the entry
// (for the takeover's length) and returns it.
func (l *Lease) try(ctx context.Context, last jetstream.KeyValueEntry) jetstream.KeyValueEntry {
	now := time.Now()
	v, _ := json.Marshal(leaseValue{Holder: l.name, Since: now.UTC()})
	cctx, cancel := context.WithTimeout(ctx, l.ttl/3)
	defer cancel()
	rev, err := l.kv.Create(cctx, l.key, v)
	if err == nil {
		var took time.Duration
		if last != nil {
			// By NATS's clock where it answers, else by ours.
			took = time.Since(last.Created())
			if e, gerr := l.kv.Get(cctx, l.key); gerr == nil {
				took = e.Created().Sub(last.Created())
			}
		}
		l.mu.Lock()
		l.held, l.rev, l.renewed, l.since = true, rev, now, now
		l.holder = leaseValue{Holder: l.name, Since: now.UTC()}
		l.gained++
		l.takeover = took
		l.mu.Unlock()
		if last != nil {
			var prev leaseValue
			_ = json.Unmarshal(last.Value(), &prev)
			l.log.Info("took the lease", "key", l.key, "previous", prev.Holder, "unrenewed_for", took, "lease", l.ttl)
		} else {
			l.log.Info("took the lease", "key", l.key, "lease", l.ttl)
		}
		l.notify()
		return nil
	}
	e, gerr := l.kv.Get(cctx, l.key)
	if gerr != nil {
		if !errors.Is(err, jetstream.ErrKeyExists) {
			l.log.Warn("lease not reachable", "key", l.key, "err", err)
		}
		return last
	}
	var cur leaseValue
	_ = json.Unmarshal(e.Value(), &cur)
	if cur.Holder == l.name {
		// Our create went through and its answer was lost: ours.
		l.mu.Lock()
		l.held, l.rev, l.renewed, l.since, l.holder = true, e.Revision(), now, now, cur
		l.gained++
		l.mu.Unlock()
		l.notify()
		return nil
	}
	l.mu.Lock()
	l.holder = cur
	l.mu.Unlock()
	return e
}

// renew updates the key at the revision it holds; a revision that moved
// means another took the lease, and no renewal for two thirds of the
// lease means it may have.
func (l *Lease) renew(ctx context.Context) {
	now := time.Now()
	l.mu.Lock()
	rev, renewed, holder := l.rev, l.renewed, l.holder
	l.mu.Unlock()
	v, _ := json.Marshal(holder)
	cctx, cancel := context.WithTimeout(ctx, l.ttl/3)
	defer cancel()
	next, err := l.kv.Update(cctx, l.key, v, rev)
	switch {
	case err == nil:
		l.mu.Lock()
		l.rev, l.renewed = next, now
		l.mu.Unlock()
		return
	case errors.Is(err, jetstream.ErrKeyRevisionMismatch), errors.Is(err, jetstream.ErrKeyNotFound):
		l.lose("the key changed: another instance holds it", err)
	case time.Since(renewed) >= 2*l.ttl/3:
		l.lose("not renewed for two thirds of the lease", err)
	default:
		l.log.Warn("lease not renewed; retrying", "key", l.key, "err", err)
	}
}

func (l *Lease) lose(why string, err error) {
	l.mu.Lock()
	l.held = false
	l.holder = leaseValue{}
	l.mu.Unlock()
	l.log.Warn("lost the lease", "key", l.key, "why", why, "err", err)
	l.notify()
}

// release deletes the key if this instance still holds it.
func (l *Lease) release() {
	l.mu.Lock()
	held, rev := l.held, l.rev
	l.held = false
	l.mu.Unlock()
	if !held {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := l.kv.Delete(ctx, l.key, jetstream.LastRevision(rev)); err != nil {
		l.log.Warn("lease not given up: another takes over once it expires", "key", l.key, "err", err)
	} else {
		l.log.Info("gave up the lease", "key", l.key)
	}
	l.notify()
}

func (l *Lease) notify() {
	select {
	case l.changed <- struct{}{}:
	default:
	}
}
