package pipeline

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"time"

	"github.com/mqflux/mqflux/bridge/deadletter"
	"github.com/mqflux/mqflux/bridge/output"
	"github.com/mqflux/mqflux/bridge/spool"
)

// Start launches the writers: batches from the spool into the output.
func (p *Pipeline) Start() {
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	o := p.outs[0]
	if pr, ok := o.Output.(output.Prober); ok {
		go pr.Probe(ctx)
	}
	for i := 0; i < o.Concurrency; i++ {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.writeLoop(ctx, o)
		}()
	}
}

func (p *Pipeline) writeLoop(ctx context.Context, o OutputSpec) {
	for {
		b, err := p.spool.Next(ctx, o.BatchSize, o.BatchBytes, o.FlushInterval)
		if err != nil {
			if ctx.Err() == nil && !errors.Is(err, spool.ErrClosed) {
				p.log.Error("spool read failed", "err", err)
			}
			return
		}
		start := time.Now()
		rejected, err := p.write(ctx, o, b.Records)
		if err != nil {
			return // ctx done: the batch stays in the spool for the next start
		}
		p.deadLetterRejected(o.Name, b.Records, rejected)
		if err := p.spool.Ack(b); err != nil {
			p.log.Error("spool ack failed", "err", err)
			return
		}
		p.m.written.Add(float64(len(b.Records) - len(rejected)))
		p.m.batchSeconds.Observe(time.Since(start).Seconds())
	}
}

// write offers the batch to the output until it is settled. An error from
// the output leaves the whole batch pending, so it is offered again after a
// backoff; only the end of ctx stops that, and then the batch stays in the
// spool.
func (p *Pipeline) write(ctx context.Context, o OutputSpec, recs [][]byte) ([]output.Rejected, error) {
	for attempt := 0; ; attempt++ {
		rejected, err := o.Output.Write(ctx, recs)
		if err == nil {
			return rejected, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		p.m.writeRetries.Inc()
		// The first failure of a batch is worth a warning; the rest of an
		// outage would repeat it every backoff.
		level := slog.LevelDebug
		if attempt == 0 {
			level = slog.LevelWarn
		}
		p.log.Log(ctx, level, "output write failed; retrying the batch, nothing is dropped",
			"output", o.Name, "attempt", attempt+1, "records", len(recs), "err", err)
		if err := output.Sleep(ctx, o.Backoff.Delay(attempt, output.RetryAfter(err))); err != nil {
			return nil, err
		}
	}
}

// deadLetterRejected keeps the records the output refused for good.
func (p *Pipeline) deadLetterRejected(name string, recs [][]byte, rejected []output.Rejected) {
	for _, r := range rejected {
		if r.Index < 0 || r.Index >= len(recs) {
			// A broken output; the record it meant cannot be named, and
			// every other record it reported stored.
			p.log.Error("output rejected a record outside its batch", "output", name, "index", r.Index, "records", len(recs), "reason", r.Reason)
			continue
		}
		p.m.influxRejected.Inc()
		p.log.Warn("point refused by the output", "output", name, "reason", r.Reason, "line", firstLine(recs[r.Index]))
		p.deadLetter(deadletter.Entry{Time: time.Now(), Source: name, Reason: name + "_rejected", Detail: r.Reason, Payload: recs[r.Index]})
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
