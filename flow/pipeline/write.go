package pipeline

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"slices"
	"time"

	"github.com/mqflux/mqflux/flow/deadletter"
	"github.com/mqflux/mqflux/flow/output"
	"github.com/mqflux/mqflux/flow/spool"
	"github.com/mqflux/mqflux/internal/backoff"
)

// outputRun is one output at work: its spec, its spool reader and its
// counters, looked up once rather than by label on every batch.
type outputRun struct {
	OutputSpec
	rd *spool.Reader
	outputCounts
	// primary: the first required output, whose stores and refusals the
	// aggregate metrics (mqflux_readings_written_total, ...) count.
	primary bool
}

// readerSpecs are the spool readers of the outputs, one each, by name.
func readerSpecs(specs []OutputSpec) []spool.ReaderSpec {
	out := make([]spool.ReaderSpec, len(specs))
	for i, s := range specs {
		out[i] = spool.ReaderSpec{Name: s.Name, Required: s.Required}
		if !s.Required {
			out[i].MaxLag = s.MaxLag
		}
	}
	return out
}

// Start launches the writers: each output gets Concurrency of them, each
// reading batches from the output's own spool reader, so an output that is
// down or slow holds up no other.
func (p *Pipeline) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	if p.o.FieldTypeSource != nil {
		p.relearn = make(chan struct{}, 1)
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.learnLoop(ctx)
		}()
	}
	for _, o := range p.runs {
		if pr, ok := o.Output.(output.Prober); ok {
			go pr.Probe(ctx)
		}
		for range o.Concurrency {
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				p.writeLoop(ctx, o)
			}()
		}
	}
}

func (p *Pipeline) writeLoop(ctx context.Context, o *outputRun) {
	for {
		b, err := o.rd.Next(ctx, o.BatchSize, o.BatchBytes, o.FlushInterval)
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, spool.ErrClosed) {
				p.log.Error("spool read failed", "output", o.Name, "err", err)
			}
			return
		}
		start := time.Now()
		rejected, err := p.write(ctx, o, b)
		if errors.Is(err, errSkipped) {
			if err := o.rd.GiveUp(b); err != nil { // counted and logged by the spool
				p.log.Error("spool give up failed", "output", o.Name, "err", err)
			}
			continue
		}
		if err != nil {
			return // ctx done: the batch stays in the spool for the next start
		}
		if err := p.deadLetterRejected(ctx, o, b.Records, rejected); err != nil {
			return // ctx done: the batch stays in the spool for the next start
		}
		if err := o.rd.Ack(b); err != nil {
			p.log.Error("spool ack failed", "output", o.Name, "err", err)
			return
		}
		if o == p.runs[0] && (len(rejected) > 0 || p.types.Provisional() > 0) {
			// What the first output stored or refused is its verdict on
			// the types it holds: ask for them.
			p.kickRelearn()
		}
		stored := int64(len(b.Records) - len(rejected))
		o.written.Add(stored)
		if o.primary {
			p.m.counts.written.Add(stored)
			p.m.batchSeconds.Observe(time.Since(start).Seconds())
		}
	}
}

// errSkipped: an optional output's reader skipped past the batch while
// the output was failing it, so it is given up rather than written late
// (its records then count as skipped; a batch stored in spite of the skip
// counts as stored).
var errSkipped = errors.New("batch skipped")

// write offers the batch to the output until it is settled. An error from
// the output leaves the whole batch pending, so it is offered again after a
// backoff; only the end of ctx stops that, and then the batch stays in the
// spool, or, for an optional output, a skip past the batch (errSkipped).
func (p *Pipeline) write(ctx context.Context, o *outputRun, b *spool.Batch) ([]output.Rejected, error) {
	recs := b.Records
	// A skip past the batch ends a write in progress: an output that
	// retries inside Write (the InfluxDB writer does) would otherwise ride
	// out its outage with records nobody wants from it any more.
	wctx := ctx
	if dropped := b.Dropped(); dropped != nil {
		var cancel context.CancelFunc
		wctx, cancel = context.WithCancel(ctx)
		defer cancel()
		go func() {
			select {
			case <-dropped:
				cancel()
			case <-wctx.Done():
			}
		}()
	}
	for attempt := 0; ; attempt++ {
		rejected, err := o.Output.Write(wctx, recs)
		if err == nil {
			return rejected, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if b.Skipped() {
			return nil, errSkipped
		}
		o.retries.Add(1)
		p.m.counts.writeRetries.Add(1)
		// The first failure of a batch is worth a warning; the rest of an
		// outage would repeat it every backoff.
		level := slog.LevelDebug
		if attempt == 0 {
			level = slog.LevelWarn
		}
		p.log.Log(ctx, level, "output write failed; retrying the batch, nothing is dropped",
			"output", o.Name, "attempt", attempt+1, "records", len(recs), "err", err)
		if err := backoff.Sleep(ctx, o.Backoff.Delay(attempt, output.RetryAfter(err))); err != nil {
			return nil, err
		}
	}
}

// deadLetterRejected keeps the records the output refused for good, each
// under the output's name. The batch is acked only after that: a dead
// letter the file refuses (a full disk) is tried again with the output's
// backoff until it is written, or ctx ends (the batch is then handed out
// again after the next start).
func (p *Pipeline) deadLetterRejected(ctx context.Context, o *outputRun, recs [][]byte, rejected []output.Rejected) error {
	var entries []deadletter.Entry
	for _, r := range rejected {
		if r.Index < 0 || r.Index >= len(recs) {
			// A broken output; the record it meant cannot be named, and
			// every other record it reported stored.
			p.log.Error("output rejected a record outside its batch", "output", o.Name, "index", r.Index, "records", len(recs), "reason", r.Reason)
			continue
		}
		o.rejected.Add(1)
		if o.primary {
			p.m.counts.primaryRejected.Add(1)
		}
		// Once a minute per output: readings an output refuses one by one
		// would each write a line (the dead-letter file has every one).
		p.rejects.Warn("output "+o.Name, "point refused by the output", "output", o.Name, "reason", r.Reason, "line", firstLine(recs[r.Index]))
		entries = append(entries, deadletter.Entry{Time: time.Now(), Source: o.Name, Reason: o.Name + "_rejected", Detail: r.Reason, Payload: recs[r.Index]})
	}
	for attempt := 0; ; attempt++ {
		entries = slices.DeleteFunc(entries, func(e deadletter.Entry) bool { return p.deadLetter(e) == nil })
		if len(entries) == 0 {
			return nil
		}
		if err := backoff.Sleep(ctx, o.Backoff.Delay(attempt, 0)); err != nil {
			return err
		}
	}
}

func firstLine(rec []byte) string {
	for i, c := range rec {
		if c == '\n' {
			return string(rec[:i])
		}
	}
	return string(rec)
}

// closeOutput releases the output if it holds anything.
func closeOutput(o output.Output) error {
	if c, ok := o.(io.Closer); ok {
		return c.Close()
	}
	return nil
}
