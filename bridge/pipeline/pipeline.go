// Package pipeline is the path every reading takes inside mqflux: decode
// and map it to line protocol, append it to the spool (the answer to the
// publisher waits for this), then batch it from the spool into an
// output.Output (InfluxDB), acknowledging the spool only for what the output
// stored or refused for good. Readings that can never be stored go to the
// dead-letter file.
package pipeline

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/mqflux/mqflux/bridge/deadletter"
	"github.com/mqflux/mqflux/bridge/ingest"
	"github.com/mqflux/mqflux/bridge/mapping"
	"github.com/mqflux/mqflux/bridge/output"
	"github.com/mqflux/mqflux/bridge/spool"
)

// Options wires a Pipeline.
type Options struct {
	DataDir       string // the spool lives in DataDir/spool, dead letters in DataDir/dead-letter.jsonl
	Mapping       mapping.Config
	Spool         spool.Options // Dir is set from DataDir when empty
	DeadLetterMax int64
	// Output stores what the spool holds; the pipeline owns it from Open
	// on and closes it (if it is an io.Closer) in Stop, or in Open when
	// Open fails.
	Output output.Output
	// OutputName names the output in dead letters ("<name>" as the source,
	// "<name>_rejected" as the reason) and logs; "influx" when empty.
	OutputName string
	// Backoff spaces the attempts at a batch the output answered with an
	// error; zero fields take output's defaults.
	Backoff       output.Backoff
	BatchSize     int           // records per write request
	BatchBytes    int           // bytes per write request
	FlushInterval time.Duration // write a partial batch after this long
	Concurrency   int           // write requests in flight
	Logger        *slog.Logger
	// Spooled, if set, is told of every record the spool accepted: its
	// line protocol (one or more lines) and the time it was received. It
	// runs on the ingest path, before the publisher's answer, and must be
	// quick and never block; rec is valid only during the call.
	Spooled func(rec []byte, received time.Time)
}

// Pipeline is the spool with its writers. It is an ingest.Sink.
type Pipeline struct {
	o       Options
	log     *slog.Logger
	mapper  *mapping.Mapper
	filters []string
	spool   *spool.Spool
	dead    *deadletter.File
	out     output.Output
	m       *metrics
	bufs    sync.Pool

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// Open builds the mapper, recovers the spool and opens the dead-letter
// file. Nothing is written to the output until Start.
func Open(o Options) (p *Pipeline, err error) {
	if o.Output == nil {
		return nil, errors.New("pipeline open: no output")
	}
	defer func() {
		if err != nil {
			err = errors.Join(err, closeOutput(o.Output))
		}
	}()
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 5000
	}
	if o.BatchBytes <= 0 {
		o.BatchBytes = 8 << 20
	}
	if o.FlushInterval <= 0 {
		o.FlushInterval = time.Second
	}
	if o.Concurrency <= 0 {
		o.Concurrency = 2
	}
	if o.OutputName == "" {
		o.OutputName = "influx"
	}
	mapper, err := mapping.New(o.Mapping)
	if err != nil {
		return nil, err
	}
	if o.Spool.Dir == "" {
		o.Spool.Dir = filepath.Join(o.DataDir, "spool")
	}
	o.Spool.Logger = o.Logger.With("component", "spool")
	sp, err := spool.Open(o.Spool)
	if err != nil {
		return nil, fmt.Errorf("open spool %s: %w", o.Spool.Dir, err)
	}
	deadPath := filepath.Join(o.DataDir, "dead-letter.jsonl")
	var deadOpts []deadletter.Option
	if o.Spool.Durability != spool.Fsync {
		deadOpts = append(deadOpts, deadletter.WithoutSync()) // as durable as the spool, no more
	}
	dead, err := deadletter.Open(deadPath, o.DeadLetterMax, o.Logger, deadOpts...)
	if err != nil {
		_ = sp.Close()
		return nil, fmt.Errorf("open dead-letter file %s: %w", deadPath, err)
	}
	p = &Pipeline{o: o, log: o.Logger, mapper: mapper, filters: mapper.Filters(), spool: sp, dead: dead, out: o.Output}
	p.bufs.New = func() any { b := make([]byte, 0, 512); return &b }
	p.m = newMetrics(p)
	return p, nil
}

// Wants reports whether a topic is one the mapping turns into points;
// other topics only pass through the broker.
func (p *Pipeline) Wants(topic string) bool {
	for _, f := range p.filters {
		if MatchFilter(f, topic) {
			return true
		}
	}
	return false
}

// Sink is the pipeline as seen by one input; source names it in metrics
// and dead letters ("mqtt", "http").
func (p *Pipeline) Sink(source string) ingest.Sink {
	// The counters every reading touches are looked up once here: by
	// label on each reading they cost 8% of the ingest path.
	return sink{p: p, source: source, counters: sourceCounters{
		received: p.m.received.WithLabelValues(source),
		spooled:  p.m.spooled.WithLabelValues(source),
	}}
}

type sink struct {
	p        *Pipeline
	source   string
	counters sourceCounters
}

// sourceCounters are one input's per-reading counters.
type sourceCounters struct {
	received, spooled prometheus.Counter
}

func (s sink) Ingest(topic string, payload []byte, received time.Time) error {
	return s.p.ingest(s.source, s.counters, topic, payload, received)
}

func (p *Pipeline) ingest(source string, c sourceCounters, topic string, payload []byte, received time.Time) error {
	c.received.Inc()
	bp := p.bufs.Get().(*[]byte)
	defer p.bufs.Put(bp)
	rec, err := p.mapper.Append((*bp)[:0], topic, payload, received)
	*bp = rec[:0]
	if err != nil {
		var re *ingest.RejectError
		if !errors.As(err, &re) {
			re = &ingest.RejectError{Reason: "internal", Detail: err.Error()}
		}
		p.rejectReading(source, topic, payload, re, received)
		return re
	}
	if err := p.spool.Append(rec); err != nil {
		if errors.Is(err, ingest.ErrFull) {
			p.m.pushedBack.WithLabelValues(source).Inc()
			return ingest.ErrFull
		}
		return fmt.Errorf("spool append: %w", err)
	}
	c.spooled.Inc()
	if p.o.Spooled != nil {
		p.o.Spooled(rec, received)
	}
	return nil
}

// rejectReading counts, logs and keeps a reading that can never be a point.
func (p *Pipeline) rejectReading(source, topic string, payload []byte, re *ingest.RejectError, at time.Time) {
	p.m.rejected.WithLabelValues(source, re.Reason).Inc()
	p.log.Warn("reading rejected", "source", source, "topic", topic, "reason", re.Reason, "detail", re.Detail)
	p.deadLetter(deadletter.Entry{Time: at, Source: source, Device: deviceOf(topic), Topic: topic, Reason: re.Reason, Detail: re.Detail, Payload: payload})
}

// deviceOf names the sender of a rejected reading for the dead-letter
// quota. It reads the topic rather than the mapping, because a rejected
// topic may match no template: devices/<id>/... (where the broker's roles
// confine a device, and where the HTTP API puts its readings) gives <id>;
// any other topic counts against its first level.
func deviceOf(topic string) string {
	rest, ok := strings.CutPrefix(topic, "devices/")
	if !ok {
		rest = topic
	}
	if i := strings.IndexByte(rest, '/'); i >= 0 {
		rest = rest[:i]
	}
	if rest == "" {
		return "unknown"
	}
	return rest
}

func (p *Pipeline) deadLetter(e deadletter.Entry) {
	err := p.dead.Add(e)
	if errors.Is(err, deadletter.ErrOverQuota) {
		return // counted and logged by the file
	}
	if err != nil {
		// The reading is still counted and logged with its reason; the
		// file is what failed, and the log says so once per failure.
		p.m.deadLetterErrors.Inc()
		p.log.Error("dead-letter file write failed", "err", err, "topic", e.Topic, "reason", e.Reason)
		return
	}
	p.m.deadLettered.WithLabelValues(e.Source).Inc()
}

// Stop drains then closes: the writers keep going until the spool is empty
// or drain has passed, then stop; what is left stays on disk for the next
// start. Call it after the inputs stopped acknowledging.
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
	return errors.Join(closeOutput(p.out), p.spool.Close(), p.dead.Close())
}

// Health is what /healthz reports of the pipeline.
type Health struct {
	InfluxUp     bool // the output takes writes (output.Up)
	SpoolRecords int64
	SpoolBytes   int64
}

// Health reports the state of the pipeline now.
func (p *Pipeline) Health() Health {
	st := p.spool.Stats()
	return Health{InfluxUp: output.Up(p.out), SpoolRecords: st.Records, SpoolBytes: st.DiskBytes}
}

// Collectors are the pipeline's metrics, the output's included.
func (p *Pipeline) Collectors() []prometheus.Collector {
	return append(append(p.m.collectors(), p.dead.Collectors()...), output.Collectors(p.out)...)
}
