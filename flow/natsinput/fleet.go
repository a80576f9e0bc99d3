package natsinput

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mqflux/mqflux/alert"
	"github.com/mqflux/mqflux/flow/observe"
	"github.com/mqflux/mqflux/flow/point"
)

// leaseKey is the key of the lease bucket whose holder alerts.
const leaseKey = "alerts"

// Fleet shares the device registry and alerting among the instances that
// consume the stream (alert.Fleet): each takes part of the readings
// through the durable consumer, so none sees every device. The holder of
// a lease (Lease, in the lease bucket) runs the alert Service on a
// consumer that reads the whole stream (consumerConfig: a durable of its
// own, which each holder takes over where the last left it), and keeps the Service's state (registry,
// rule states, outbox) in the fleet bucket instead of a file, saved at
// once after a transition and every fleetSaveEvery otherwise. Every instance
// watches that key and serves /v1/devices, /v1/alerts and /v1/latest from
// it. An instance that gains the lease loads the state, so a firing
// alert is not fired again and what the previous holder had not sent
// yet is sent by the new one. Nil when c.Lease is 0.
func (in *Input) Fleet(env alert.FleetEnv) (alert.Fleet, error) {
	if in.c.Lease == 0 {
		return nil, nil
	}
	name := in.c.Instance
	if name == "" {
		host, _ := os.Hostname()
		name = fmt.Sprintf("%s-%d", host, os.Getpid())
	}
	opts, err := in.options()
	if err != nil {
		return nil, err
	}
	f := &fleet{c: in.c, env: env, name: name, source: in.Name(), opts: opts,
		log: in.log.With("fleet", name), m: newFleetMetrics()}
	f.m.fleet = f
	return f, nil
}

type fleet struct {
	c      Config
	env    alert.FleetEnv
	name   string
	source string
	opts   []nats.Option
	log    *slog.Logger
	m      *fleetMetrics

	mu     sync.Mutex
	nc     *nats.Conn
	lease  *Lease
	view   *alert.View
	viewAt time.Time
	svc    *alert.Service // while this instance leads
	store  *kvStore
	detail string

	cancel context.CancelFunc
	done   chan struct{}
}

// Start connects in the background and takes part in the lease.
func (f *fleet) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel, f.done = cancel, make(chan struct{})
	go func() {
		defer close(f.done)
		f.run(ctx)
	}()
}

// Stop gives up the lease and stops alerting here; the next holder
// loads what was saved.
func (f *fleet) Stop() error {
	if f.cancel == nil {
		return nil
	}
	f.cancel()
	<-f.done
	f.mu.Lock()
	nc := f.nc
	f.mu.Unlock()
	if nc != nil {
		nc.Close()
	}
	return nil
}

func (f *fleet) setDetail(format string, args ...any) {
	f.mu.Lock()
	f.detail = fmt.Sprintf(format, args...)
	f.mu.Unlock()
}

// run connects, opens the buckets, then follows the state and the lease
// until ctx ends.
func (f *fleet) run(ctx context.Context) {
	nc, js, leaseKV, stateKV, ok := f.open(ctx)
	if !ok {
		return
	}
	f.mu.Lock()
	f.nc = nc
	f.lease = NewLease(leaseKV, leaseKey, f.name, f.c.Lease, f.log)
	f.detail = ""
	f.mu.Unlock()
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); f.follow(ctx, stateKV) }()
	lctx, lcancel := context.WithCancel(context.Background())
	go func() { defer wg.Done(); f.lease.Run(lctx) }()
	var lead *leading
	retry := time.NewTicker(f.c.Lease / 3)
	defer retry.Stop()
	for ctx.Err() == nil {
		switch held := f.lease.Held(); {
		case held && lead == nil:
			lead = f.lead(ctx, js, stateKV, nc.MaxPayload())
		case !held && lead != nil:
			f.stepDown(lead)
			lead = nil
		case held && lead != nil && lead.store.fenced.Load():
			// The state was written by another while the lease is ours:
			// claim it again rather than fail every save.
			f.log.Warn("the alert state was changed by another writer while this instance holds the lease: loading it again")
			f.stepDown(lead)
			lead = f.lead(ctx, js, stateKV, nc.MaxPayload())
		}
		select {
		case <-ctx.Done():
		case <-f.lease.Changed():
		case <-retry.C:
		}
	}
	// Alerting stops before the lease goes: the next holder then loads
	// the last save of this one.
	if lead != nil {
		f.stepDown(lead)
	}
	lcancel()
	wg.Wait()
}

// open connects and creates (or updates) the two buckets, retrying
// until the cluster answers or ctx ends.
func (f *fleet) open(ctx context.Context) (*nats.Conn, jetstream.JetStream, jetstream.KeyValue, jetstream.KeyValue, bool) {
	wait := 500 * time.Millisecond
	for {
		nc, js, leaseKV, stateKV, err := f.tryOpen(ctx)
		if err == nil {
			return nc, js, leaseKV, stateKV, true
		}
		f.setDetail("not following the alert state: %v", err)
		f.log.Warn("fleet buckets not ready; retrying", "err", err)
		select {
		case <-ctx.Done():
			return nil, nil, nil, nil, false
		case <-time.After(wait):
		}
		wait = min(2*wait, 10*time.Second)
	}
}

func (f *fleet) tryOpen(ctx context.Context) (*nats.Conn, jetstream.JetStream, jetstream.KeyValue, jetstream.KeyValue, error) {
	nc, err := nats.Connect(strings.Join(f.c.URLs, ","), append(f.opts, nats.Name("mqflux fleet "+f.name))...)
	if err != nil {
		return nil, nil, nil, nil, fmt.Errorf("connect: %w", err)
	}
	js, err := jetstream.New(nc)
	if err == nil {
		cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		var leaseKV, stateKV jetstream.KeyValue
		if leaseKV, err = LeaseBucket(cctx, js, f.c.LeaseBucket, f.c.Lease, f.c.Replicas); err == nil {
			if stateKV, err = StateBucket(cctx, js, f.c.FleetBucket, f.c.Replicas); err == nil {
				return nc, js, leaseKV, stateKV, nil
			}
		}
	}
	nc.Close()
	return nil, nil, nil, nil, err
}

// follow keeps the view of the saved state current: the keys' values
// as they change, the view rebuilt from all of them once the initial
// values are in and then at most every viewEvery.
func (f *fleet) follow(ctx context.Context, kv jetstream.KeyValue) {
	for ctx.Err() == nil {
		w, err := kv.Watch(ctx, stateKeys)
		if err != nil {
			f.log.Warn("cannot watch the alert state; retrying", "err", err)
			sleep(ctx, time.Second)
			continue
		}
		f.watch(ctx, kv.Bucket(), w)
		_ = w.Stop()
	}
}

// viewEvery bounds how often a follower rebuilds its view: a save writes
// up to stateShards keys.
const viewEvery = 200 * time.Millisecond

func (f *fleet) watch(ctx context.Context, bucket string, w jetstream.KeyWatcher) {
	values := map[string][]byte{}
	var created time.Time
	var rebuild <-chan time.Time
	initial := true
	for {
		select {
		case <-ctx.Done():
			return
		case <-rebuild:
			rebuild = nil
			f.rebuild(bucket, values, created)
		case e, ok := <-w.Updates():
			if !ok {
				return
			}
			switch {
			case e == nil:
				initial = false
				f.rebuild(bucket, values, created)
				continue
			case e.Operation() == jetstream.KeyValuePut:
				values[e.Key()] = e.Value()
			default:
				delete(values, e.Key())
			}
			if e.Created().After(created) {
				created = e.Created()
			}
			if !initial && rebuild == nil {
				rebuild = time.After(viewEvery)
			}
		}
	}
}

// rebuild makes the view of the keys' values; one that cannot be read
// leaves the view before it in place.
func (f *fleet) rebuild(bucket string, values map[string][]byte, created time.Time) {
	parts := make([][]byte, 0, len(values))
	size := 0
	var err error
	for _, z := range values {
		size += len(z)
		b, uerr := unzip(z)
		err = errors.Join(err, uerr)
		parts = append(parts, b)
	}
	v, perr := alert.ParseView(parts, "NATS key-value "+bucket+"/"+stateKeys)
	if err = errors.Join(err, perr); err != nil {
		f.m.unreadable.Inc()
		f.log.Error("alert state unreadable; serving the one before", "err", err)
		return
	}
	f.mu.Lock()
	f.view, f.viewAt = v, created
	f.mu.Unlock()
	f.m.stateBytes.Set(float64(size))
}

// leading is what this instance runs while it holds the lease.
type leading struct {
	svc   *alert.Service
	store *kvStore
	cons  jetstream.ConsumeContext
}

// lead loads the state (claiming it), starts the Service and its own
// consumer of the whole stream. nil when it cannot yet: tried again.
func (f *fleet) lead(ctx context.Context, js jetstream.JetStream, kv jetstream.KeyValue, maxPayload int64) *leading {
	store := &kvStore{kv: kv, max: maxPayload, timeout: 10 * time.Second}
	o := f.env.Options
	o.Store = store
	if o.Env.Publisher == nil {
		o.Env.Publisher = natsPublisher{f.nc}
	}
	if o.SaveInterval <= 0 {
		o.SaveInterval = fleetSaveEvery
	}
	svc, err := alert.Open(o)
	if err != nil {
		f.setDetail("holding the lease, not alerting: %v", err)
		f.log.Error("holding the lease but cannot load the alert state; retrying", "err", err)
		return nil
	}
	svc.Start()
	cons, err := js.CreateOrUpdateConsumer(ctx, f.c.Stream, f.consumerConfig())
	var cc jetstream.ConsumeContext
	if err == nil {
		var set point.Set
		cc, err = cons.Consume(func(m jetstream.Msg) { f.observe(svc, &set, m) })
	}
	if err != nil {
		_ = svc.Stop()
		f.setDetail("holding the lease, not alerting: reading stream %s: %v", f.c.Stream, err)
		f.log.Error("holding the lease but cannot read the stream; retrying", "stream", f.c.Stream, "err", err)
		return nil
	}
	f.mu.Lock()
	f.svc, f.store, f.detail = svc, store, ""
	f.mu.Unlock()
	f.m.leading.Set(1)
	f.m.gained.Inc()
	f.log.Info("alerting for the fleet", "stream", f.c.Stream, "subjects", f.c.Subjects)
	return &leading{svc: svc, store: store, cons: cc}
}

// stepDown stops the consumer and the Service; its last save fails if
// another instance already claimed the state.
func (f *fleet) stepDown(l *leading) {
	l.cons.Stop()
	<-l.cons.Closed()
	if err := l.svc.Stop(); err != nil {
		f.log.Warn("last save of the alert state refused", "err", err)
	}
	f.mu.Lock()
	f.svc, f.store = nil, nil
	f.mu.Unlock()
	f.m.leading.Set(0)
	f.log.Info("no longer alerting for the fleet")
}

// observe decodes one message as the pipeline does and hands its points
// to the Service. What the mapping refuses is dead-lettered by the
// instance whose share the message is; here it is only skipped.
func (f *fleet) observe(svc *alert.Service, set *point.Set, m jetstream.Msg) {
	topic := SubjectToTopic(strings.TrimPrefix(m.Subject(), mqttStreamPrefix))
	if f.env.Wants != nil && !f.env.Wants(topic) {
		return
	}
	set.Reset()
	rec := received(m)
	if err := f.env.Map(set, topic, m.Data(), rec); err != nil {
		return
	}
	f.m.observed.Inc()
	for i := 0; i < set.Len(); i++ {
		svc.Observe(&observe.Reading{Point: *set.At(i), Received: rec, Source: f.source, Topic: topic})
	}
}

// fleetSaveEvery is how often the holder saves the state when only
// last-seen times and latest values changed (a transition is saved at
// once): how far the other instances' views may lag. A save of 10,000
// devices takes 0.7–1.5 s on a busy 2-core machine (BENCHMARKS.md).
const fleetSaveEvery = 5 * time.Second

// alertsConsumer is the name of the consumer the alerting instance reads
// the whole stream through: the durable consumer's name and this suffix.
const alertsConsumer = "_alerts"

// consumerConfig is the alerting instance's consumer: a durable of its
// own beside the shared one, which every holder of the lease takes over,
// so a new holder reads on where the last stopped (what the dead one had
// fetched and not handled is lost to the registry, not to storage). It
// acknowledges nothing (AckNone: a message counts as delivered once
// sent), and has the stream's replicas, which an interest stream such as
// $MQTT_msgs demands of every consumer. Without a holder for four leases
// (at least a minute) NATS deletes it, so that an interest stream does
// not keep readings for it; the next holder starts from the newest
// message then.
func (f *fleet) consumerConfig() jetstream.ConsumerConfig {
	return jetstream.ConsumerConfig{
		Durable:           f.c.Consumer + alertsConsumer,
		Description:       "mqflux: the instance holding the alerts lease reads every reading through this",
		FilterSubjects:    f.c.Subjects,
		DeliverPolicy:     jetstream.DeliverNewPolicy,
		AckPolicy:         jetstream.AckNonePolicy,
		Replicas:          f.c.Replicas,
		InactiveThreshold: max(4*f.c.Lease, time.Minute),
		MaxWaiting:        16,
	}
}
