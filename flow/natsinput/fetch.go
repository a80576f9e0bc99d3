package natsinput

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mqflux/mqflux/flow/ingest"
)

// fetchWait is how long one pull request waits for messages; a short wait
// keeps Stop prompt.
const fetchWait = 2 * time.Second

func (in *Input) fetchLoop(ctx context.Context, cons jetstream.Consumer) {
	for ctx.Err() == nil {
		b, err := cons.Fetch(in.c.Batch, jetstream.FetchMaxWait(fetchWait))
		if err != nil {
			in.m.fetchErrors.Inc()
			in.log.Debug("fetch", "err", err)
			sleep(ctx, fetchWait/4)
			continue
		}
		var pending []jetstream.Msg
		for msg := range b.Messages() {
			pending = append(pending, msg)
			// Spool what arrived together with one write; under load the
			// channel is never empty until the batch is full.
			if len(b.Messages()) == 0 || len(pending) >= in.c.Batch {
				pending = in.deliver(ctx, pending)
			}
		}
		in.deliver(ctx, pending)
		if err := b.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) && !errors.Is(err, context.DeadlineExceeded) {
			in.m.fetchErrors.Inc()
			in.log.Debug("fetch ended", "err", err)
		}
	}
}

// deliver spools msgs and acknowledges each once the spool took it (or
// dead-lettered it); returns msgs[:0] for reuse. After Stop it hands
// them back at once.
func (in *Input) deliver(ctx context.Context, msgs []jetstream.Msg) []jetstream.Msg {
	if len(msgs) == 0 {
		return msgs
	}
	if ctx.Err() != nil {
		for _, m := range msgs {
			in.settle(m, resultStopped, m.Nak())
		}
		return msgs[:0]
	}
	in.m.received.Add(float64(len(msgs)))
	add, commit := in.batch()
	var added []jetstream.Msg
	for _, m := range msgs {
		topic := SubjectToTopic(strings.TrimPrefix(m.Subject(), mqttStreamPrefix))
		if !in.wants(topic) {
			in.settle(m, resultIgnored, m.Ack())
			continue
		}
		err := add(topic, m.Data(), received(m))
		switch {
		case err == nil:
			added = append(added, m)
		case ingest.IsReject(err):
			in.settle(m, resultRejected, m.Ack()) // dead-lettered by the sink
		default:
			in.pushBack(m, err)
		}
	}
	if len(added) > 0 {
		if err := commit(); err != nil {
			for _, m := range added {
				in.pushBack(m, err)
			}
		} else {
			for _, m := range added {
				in.settle(m, resultSpooled, m.Ack())
			}
		}
	}
	return msgs[:0]
}

// batch returns how to add a message and commit what was added: one spool
// write for them all when the sink takes batches.
func (in *Input) batch() (add func(string, []byte, time.Time) error, commit func() error) {
	if bs, ok := in.sink.(ingest.BatchSink); ok {
		b := bs.Batch()
		return b.Add, b.Commit
	}
	return in.sink.Ingest, func() error { return nil }
}

// pushBack hands a message the spool refused back to NATS, to come again
// after nak_delay.
func (in *Input) pushBack(m jetstream.Msg, err error) {
	reason := "spool_error"
	if errors.Is(err, ingest.ErrFull) {
		reason = "spool_full"
	}
	in.m.pushedBack.WithLabelValues(reason).Inc()
	if in.m.warned.CompareAndSwap(false, true) {
		in.log.Warn("spool refuses messages; handing them back to NATS to come again", "reason", reason, "err", err, "nak_delay", in.c.NakDelay)
	}
	in.settle(m, resultNak, m.NakWithDelay(in.c.NakDelay))
}

func (in *Input) settle(_ jetstream.Msg, result string, err error) {
	if err != nil {
		// NATS hands the message out again after ack_wait: nothing lost,
		// stored twice at most (a redelivered reading overwrites itself).
		in.m.ackErrors.Inc()
		return
	}
	if result == resultSpooled && in.m.warned.CompareAndSwap(true, false) {
		in.log.Info("spool takes messages again")
	}
	in.m.settled.WithLabelValues(result).Inc()
}

// received is the time the stream stored the message: the same on every
// redelivery, so a reading without a time of its own overwrites itself.
func received(m jetstream.Msg) time.Time {
	if md, err := m.Metadata(); err == nil && !md.Timestamp.IsZero() {
		return md.Timestamp
	}
	return time.Now()
}

func sleep(ctx context.Context, d time.Duration) {
	select {
	case <-ctx.Done():
	case <-time.After(d):
	}
}
