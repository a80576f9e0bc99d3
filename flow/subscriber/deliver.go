package subscriber

import (
	"errors"
	"time"

	"github.com/mqflux/mqflux/flow/ingest"
)

func (s *Subscriber) work() {
	for {
		d, ok := s.q.pop()
		if !ok {
			return
		}
		s.deliver(d)
	}
}

// deliver spools one message and settles it in its connection's ack order:
// acknowledged once the spool took it (or dead-lettered it) and every
// earlier message is settled, or left to the broker. It retries a full or
// failing spool for as long as the message's connection lives, holding the
// acknowledgement of every later message meanwhile: the writer empties the
// spool into InfluxDB, and the broker stops sending once its in-flight
// window is used up.
func (s *Subscriber) deliver(d delivery) {
	wait := firstRetry
	for {
		if s.stopping.Load() {
			d.acks.drop(d.seq, "shutdown")
			return
		}
		if d.acks != s.conn.Load() || !s.client.IsConnectionOpen() {
			d.acks.drop(d.seq, "connection_lost")
			return
		}
		err := s.o.Sink.Ingest(d.msg.Topic(), d.msg.Payload(), d.received)
		if err == nil || ingest.IsReject(err) {
			result := "spooled"
			if err != nil {
				result = "rejected" // counted, logged and dead-lettered by the sink
			}
			d.acks.ack(d.seq, result)
			if s.pushedBack.CompareAndSwap(true, false) {
				s.log.Info("spool takes messages again; acknowledging")
			}
			return
		}
		reason := "spool_error"
		if errors.Is(err, ingest.ErrFull) {
			reason = "spool_full"
		}
		s.m.retries.WithLabelValues(reason).Inc()
		if !s.pushedBack.Swap(true) {
			s.log.Warn("spool refuses messages; holding them and every later one unacknowledged and retrying",
				"reason", reason, "err", err, "topic", d.msg.Topic())
		}
		select {
		case <-time.After(wait):
		case <-s.stop:
		}
		wait = min(2*wait, maxRetry)
	}
}
