package subscriber

import (
	"errors"
	"time"

	"github.com/mqflux/mqflux/bridge/ingest"
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

// deliver spools one message and acknowledges it, or leaves it to the
// broker. It retries a full or failing spool for as long as the message's
// connection lives: the writer empties the spool into InfluxDB meanwhile.
func (s *Subscriber) deliver(d delivery) {
	wait := firstRetry
	for {
		if s.stopping.Load() {
			s.m.notAcked.WithLabelValues("shutdown").Inc()
			return
		}
		if d.conn != s.conn.Load() || !s.client.IsConnectionOpen() {
			s.m.notAcked.WithLabelValues("connection_lost").Inc()
			return
		}
		err := s.o.Sink.Ingest(d.msg.Topic(), d.msg.Payload(), d.received)
		if err == nil || ingest.IsReject(err) {
			d.msg.Ack()
			if err == nil {
				s.m.acked.WithLabelValues("spooled").Inc()
			} else {
				s.m.acked.WithLabelValues("rejected").Inc() // counted, logged and dead-lettered by the sink
			}
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
			s.log.Warn("spool refuses messages; holding them unacknowledged and retrying",
				"reason", reason, "err", err, "topic", d.msg.Topic())
		}
		select {
		case <-time.After(wait):
		case <-s.stop:
		}
		wait = min(2*wait, maxRetry)
	}
}
