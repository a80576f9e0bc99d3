// Package pipeline is the path every reading takes inside mqflux: decode
// and map it to line protocol, append it to the spool (the answer to the
// publisher waits for this), then batch it from the spool into each
// output.Output (Options.Outputs: InfluxDB, and whatever else is
// configured), acknowledging the spool, per output, only for what that
// output stored or refused for good. Readings that can never be stored go
// to the dead-letter file; a record output X refuses is dead-lettered with
// source X and reason "X_rejected".
//
// Every output reads the spool through its own spool.Reader, with its own
// writers (Concurrency of them), batches, backoff and prober, so a slow or
// down output holds up no other. A reading leaves the spool once every
// required output stored it; a required output that holds the spool full
// pushes the publishers back. An optional output falls behind at most its
// MaxLag bytes, then skips ahead (mqflux_output_skipped_total). Metrics
// per output carry an `output` label; the aggregate reading metrics count
// the first required output.
//
// Once the spool holds a reading, its points go to the observers (package
// observe), which watch without ever delaying the answer to the sender.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mqflux/mqflux/flow/deadletter"
	"github.com/mqflux/mqflux/flow/fieldtypes"
	"github.com/mqflux/mqflux/flow/ingest"
	"github.com/mqflux/mqflux/flow/mapping"
	"github.com/mqflux/mqflux/flow/observe"
	"github.com/mqflux/mqflux/flow/output"
	"github.com/mqflux/mqflux/flow/point"
	"github.com/mqflux/mqflux/flow/spool"
	"github.com/mqflux/mqflux/internal/loglimit"
	"github.com/mqflux/mqflux/topic"
)

// Options wires a Pipeline.
type Options struct {
	DataDir       string // the spool lives in DataDir/spool, dead letters in deadletter.PathIn(DataDir)
	Mapping       mapping.Config
	Spool         spool.Options // Dir is set from DataDir when empty
	DeadLetterMax int64
	// Outputs store what the spool holds, each from its own cursor; at
	// least one is Required.
	Outputs []OutputSpec
	Logger  *slog.Logger
	// Observers watch every reading the spool accepted, as values, each on
	// its own goroutine behind a queue of ObserverQueue readings
	// (observe.DefaultQueue when 0): a slow one misses readings, it never
	// delays an answer to a sender.
	Observers     []observe.Observer
	ObserverQueue int
	// FieldTypes knows each measurement's field types; a reading that
	// brings a field with a type other than the one the first output
	// confirmed is refused (field_type_conflict) before the spool takes
	// it, and every reading the spool takes teaches it its new fields,
	// provisionally. Nil: an empty store of fieldtypes.DefaultMax.
	FieldTypes *fieldtypes.Store
	// FieldTypeSource is the first output's word on the field types it
	// holds. Start asks it, and asks again after the first output stored
	// a batch while a type is provisional or refused a point, then
	// corrects FieldTypes and replays the field_type_conflict dead letters
	// a correction makes storable. Nil: no type is ever confirmed, so none
	// is refused before the acknowledgement; the output alone decides.
	FieldTypeSource fieldtypes.Source
}

// Pipeline is the spool with its writers and its observers; inputs feed
// it through Sink.
type Pipeline struct {
	o   Options
	log *slog.Logger
	// rejects logs a rejected reading once a minute per source, device and
	// reason, and a point an output refused once a minute per output: a
	// device sending bad readings cannot fill the log (the metrics and the
	// dead-letter file still have each one).
	rejects *loglimit.Limiter
	mapper  *mapping.Mapper
	filters []string
	spool   *spool.Spool
	dead    *deadletter.File
	outs    []OutputSpec
	runs    []*outputRun // one per output, in configuration order
	m       *metrics
	bufs    sync.Pool // *work
	batches sync.Pool // *batch
	hub     *observe.Hub
	types   *fieldtypes.Store
	relearn chan struct{} // kicks the learn loop; nil without a FieldTypeSource

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Open builds the mapper, recovers the spool and opens the dead-letter
// file. Nothing is written to the output until Start.
func Open(o Options) (p *Pipeline, err error) {
	defer func() {
		if err != nil {
			err = errors.Join(err, closeOutputs(o.Outputs))
		}
	}()
	if o.Outputs, err = withDefaults(o.Outputs); err != nil {
		return nil, err
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	mapper, err := mapping.New(o.Mapping)
	if err != nil {
		return nil, err
	}
	if o.Spool.Dir == "" {
		o.Spool.Dir = filepath.Join(o.DataDir, "spool")
	}
	o.Spool.Logger = o.Logger.With("component", "spool")
	o.Spool.Readers = readerSpecs(o.Outputs)
	sp, err := spool.Open(o.Spool)
	if err != nil {
		return nil, fmt.Errorf("open spool %s: %w", o.Spool.Dir, err)
	}
	deadPath := deadletter.PathIn(o.DataDir)
	var deadOpts []deadletter.Option
	if o.Spool.Durability != spool.Fsync {
		deadOpts = append(deadOpts, deadletter.WithoutSync()) // as durable as the spool, no more
	}
	dead, err := deadletter.Open(deadPath, o.DeadLetterMax, o.Logger, deadOpts...)
	if err != nil {
		_ = sp.Close()
		return nil, fmt.Errorf("open dead-letter file %s: %w", deadPath, err)
	}
	if o.FieldTypes == nil {
		o.FieldTypes = fieldtypes.New(0)
	}
	p = &Pipeline{o: o, log: o.Logger, mapper: mapper, filters: mapper.Filters(), spool: sp, dead: dead, outs: o.Outputs, types: o.FieldTypes}
	p.rejects = loglimit.New(o.Logger)
	p.bufs.New = func() any { return &work{rec: make([]byte, 0, 512)} }
	p.batches.New = func() any { return &batch{} }
	p.m = newMetrics(p)
	primary := true
	for _, spec := range o.Outputs {
		p.runs = append(p.runs, &outputRun{OutputSpec: spec, rd: sp.Reader(spec.Name),
			primary: primary && spec.Required})
		primary = primary && !spec.Required
	}
	if len(o.Observers) > 0 {
		p.hub = observe.New(o.Logger.With("component", "observe"), o.ObserverQueue, o.Observers...)
	}
	return p, nil
}

// Wants reports whether a topic is one the mapping turns into points;
// other topics only pass through the broker.
func (p *Pipeline) Wants(name string) bool {
	for _, f := range p.filters {
		if topic.MatchFilter(f, name) {
			return true
		}
	}
	return false
}

// FieldTypes is what the pipeline knows of each measurement's field types;
// the server teaches it what InfluxDB holds before inputs start.
func (p *Pipeline) FieldTypes() *fieldtypes.Store { return p.types }

// Mapper is the mapping the pipeline applies; the broker's ACL and the
// legacy HTTP API take the topic layout from it.
func (p *Pipeline) Mapper() *mapping.Mapper { return p.mapper }

// Sink is the pipeline as seen by one input; source names it in metrics
// and dead letters ("mqtt", "http").
func (p *Pipeline) Sink(source string) Sink {
	// The counters every reading touches are looked up once here: by
	// label on each reading they cost 8% of the ingest path.
	return Sink{p: p, source: source, counters: sourceCounters{
		received: p.m.counts.received.with(source, ""),
		spooled:  p.m.counts.spooled.with(source, ""),
	}}
}

// Sink feeds one input's readings to the pipeline: messages as MQTT
// carries them (an ingest.Sink) and readings an input decoded itself (an
// ingest.ReadingSink).
type Sink struct {
	p        *Pipeline
	source   string
	counters sourceCounters
}

// sourceCounters are one input's per-reading counters.
type sourceCounters struct {
	received, spooled *atomic.Int64
}

// work is one reading's buffers, pooled: its line protocol and its points.
type work struct {
	rec []byte
	pts point.Set
}

// Ingest maps one message, spools it and hands it to the observers.
func (s Sink) Ingest(topic string, payload []byte, received time.Time) error {
	p := s.p
	s.counters.received.Add(1)
	w := p.bufs.Get().(*work)
	defer p.bufs.Put(w)
	w.pts.Reset()
	rec, err := p.mapper.AppendPoints(w.rec[:0], &w.pts, topic, payload, received)
	w.rec = rec[:0]
	if err == nil {
		err = p.checkTypes(&w.pts)
	}
	if err != nil {
		return p.rejectReading(s.source, topic, payload, asReject(err), received)
	}
	if len(rec) == 0 {
		return nil // a topic the mapping ignores: neither stored nor dead-lettered
	}
	return s.spool(rec, topic, &w.pts, received)
}

// IngestReading maps a decoded reading, spools it and hands it to the
// observers under the topic the mapping files it under.
func (s Sink) IngestReading(r ingest.Reading, received time.Time) error {
	p := s.p
	s.counters.received.Add(1)
	w := p.bufs.Get().(*work)
	defer p.bufs.Put(w)
	w.pts.Reset()
	// A reading no template gives a topic is refused by AppendReading
	// (no_topic) and dead-lettered without one.
	rec, topic, err := p.mapper.AppendReading(w.rec[:0], &w.pts, r, received)
	w.rec = rec[:0]
	if err == nil {
		err = p.checkTypes(&w.pts)
	}
	if err != nil {
		// The dead letter holds the reading as its device would have
		// published it, so that it can be replayed like any other.
		at := r.Time
		if at.IsZero() {
			at = received
		}
		return p.rejectReading(s.source, topic, point.AppendJSON(nil, r.Fields, at), asReject(err), received)
	}
	return s.spool(rec, topic, &w.pts, received)
}

// checkTypes refuses a reading that would bring a field with a type other
// than the one the first output confirmed for it: InfluxDB would refuse
// its point only after the acknowledgement. A type no output confirmed
// yet is learnt here provisionally and refuses nothing: a reading is no
// authority over what other devices may write, the output is.
func (p *Pipeline) checkTypes(pts *point.Set) error {
	if c := p.types.Check(pts); c != nil {
		return &ingest.RejectError{Reason: "field_type_conflict", Detail: c.Error()}
	}
	return nil
}

func asReject(err error) *ingest.RejectError {
	var re *ingest.RejectError
	if !errors.As(err, &re) {
		re = &ingest.RejectError{Reason: "internal", Detail: err.Error()}
	}
	return re
}

// spool appends a mapped record; the observers see it only once the spool
// holds it, and after the answer to the sender no longer depends on them.
func (s Sink) spool(rec []byte, topic string, pts *point.Set, received time.Time) error {
	p := s.p
	if err := p.spool.Append(rec); err != nil {
		if errors.Is(err, ingest.ErrFull) {
			p.m.counts.pushedBack.with(s.source, "").Add(1)
			return ingest.ErrFull
		}
		return fmt.Errorf("spool append: %w", err)
	}
	s.counters.spooled.Add(1)
	p.hub.Publish(s.source, topic, received, pts)
	return nil
}

// rejectReading counts, logs and keeps a reading that can never be a point,
// and returns what the sender is answered: re once the dead letter is
// written (acknowledged: the reading is kept there), or a push-back when
// the dead-letter file refused it, so that a reading is never acknowledged
// and lost; the sender resends it.
func (p *Pipeline) rejectReading(source, topic string, payload []byte, re *ingest.RejectError, at time.Time) error {
	p.m.counts.rejected.with(source, re.Reason).Add(1)
	device := p.mapper.DeviceOf(topic)
	p.rejects.Warn(source+" "+device+" "+re.Reason, "reading rejected", "source", source, "topic", topic, "reason", re.Reason, "detail", re.Detail)
	err := p.deadLetter(deadletter.Entry{Time: at, Source: source, Device: device, Topic: topic, Reason: re.Reason, Detail: re.Detail, Payload: payload})
	if err != nil {
		p.m.counts.pushedBack.with(source, "").Add(1)
		return fmt.Errorf("%w: the reading was refused (%s) and its dead letter could not be written: %w", ingest.ErrFull, re.Reason, err)
	}
	return re
}

// deadLetter writes e; an error means it is not in the file and the caller
// must not let the reading go (an entry over its device's quota is dropped
// by design: counted and logged by the file, not an error here).
func (p *Pipeline) deadLetter(e deadletter.Entry) error {
	err := p.dead.Add(e)
	if errors.Is(err, deadletter.ErrOverQuota) {
		return nil
	}
	if err != nil {
		p.m.counts.deadLetterErrors.Add(1)
		p.log.Error("dead-letter file write failed; the reading is kept and tried again", "err", err, "topic", e.Topic, "reason", e.Reason)
		return err
	}
	p.m.counts.deadLettered.with(e.Source, "").Add(1)
	return nil
}

// Stop drains then closes: the writers keep going until every required
// output has stored what the spool holds or drain has passed (an optional
// output never holds up a shutdown), then stop; what is left stays on
// disk for the next start, each output's cursor with it. Call it after the
// inputs stopped acknowledging.
func (p *Pipeline) Stop(drain time.Duration) error {
	if p.cancel != nil {
		deadline := time.Now().Add(drain)
		for time.Now().Before(deadline) && p.spool.Stats().Records > 0 {
			time.Sleep(20 * time.Millisecond)
		}
		if left := p.spool.Stats().Records; left > 0 {
			p.log.Warn("drain time over: readings kept in the spool for the next start", "records", left)
		}
		p.cancel()
		p.wg.Wait()
	}
	// The inputs have stopped: the observers get what is queued, but a
	// stuck one does not hold up the shutdown.
	ctx, cancel := context.WithTimeout(context.Background(), observerStopTimeout)
	defer cancel()
	p.rejects.Close()
	return errors.Join(p.hub.Stop(ctx), closeOutputs(p.outs), p.spool.Close(), p.dead.Close())
}

// observerStopTimeout bounds how long Stop waits for observers to finish
// their queues.
const observerStopTimeout = 5 * time.Second

// Health is what /healthz reports of the pipeline.
type Health struct {
	SpoolRecords int64 // pending for at least one required output (spool.Stats.Records)
	SpoolBytes   int64 // spool.Stats.DiskBytes
	// SpoolOldest is when the oldest pending reading entered the spool
	// (spool.Stats.Oldest); zero when the spool is empty.
	SpoolOldest time.Time
	Outputs     []OutputHealth // in configuration order
	// SpoolFault and DeadLetterFault say why appends to the spool or the
	// dead-letter file fail now (spool.Fault, deadletter.File.Fault);
	// empty while they work.
	SpoolFault      string
	DeadLetterFault string
}

// Health reports the state of the pipeline now.
func (p *Pipeline) Health() Health {
	st := p.spool.Stats()
	h := Health{SpoolRecords: st.Records, SpoolBytes: st.DiskBytes, SpoolOldest: st.Oldest,
		SpoolFault: p.spool.Fault(), DeadLetterFault: p.dead.Fault()}
	for _, o := range p.runs {
		msg, at := output.LastError(o.Output)
		rs := o.rd.Stats()
		h.Outputs = append(h.Outputs, OutputHealth{Name: o.Name, Required: o.Required, Up: output.Up(o.Output),
			LagRecords: rs.LagRecords, LagBytes: rs.LagBytes, LagOldest: rs.Oldest, Skipped: rs.Skipped,
			Error: msg, ErrorAt: at})
	}
	return h
}

// Collectors are the pipeline's metrics, the output's included.
func (p *Pipeline) Collectors() []prometheus.Collector {
	cs := append(p.m.collectors(), p.dead.Collectors()...)
	cs = append(cs, p.types.Collectors()...)
	for _, o := range p.outs {
		cs = append(cs, output.Collectors(o.Output)...)
	}
	return append(cs, p.hub.Collectors()...)
}
