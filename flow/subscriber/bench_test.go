package subscriber

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqflux/mqflux/internal/testenv"
)

// costSink stands in for the spool with a cost per message: a fixed part
// plus, for jitter > 0, a random part, so appends finish out of order.
type costSink struct {
	fixed, jitter time.Duration
	n             atomic.Int64
}

func (s *costSink) Ingest(string, []byte, time.Time) error {
	d := s.fixed
	if s.jitter > 0 {
		d += rand.N(s.jitter)
	}
	if d > 0 {
		time.Sleep(d)
	}
	s.n.Add(1)
	return nil
}

// BenchmarkDrain measures how fast the subscriber drains a backlog the
// persistent session holds on a real mosquitto: b.N messages published
// while it was away, timed from its start until every one is acknowledged.
// ns/op is the cost of one message through the subscriber, ack included.
func BenchmarkDrain(b *testing.B) {
	cases := []struct {
		name          string
		inflight      int // mosquitto's max_inflight_messages; 0 = unlimited
		fixed, jitter time.Duration
	}{
		{"instant/inflight=20", 20, 0, 0},
		{"instant/inflight=unlimited", 0, 0, 0},
		{"jitter1ms/inflight=20", 20, 0, time.Millisecond},
		{"jitter1ms/inflight=100", 100, 0, time.Millisecond},
	}
	for _, bc := range cases {
		b.Run(bc.name, func(b *testing.B) {
			broker := testenv.StartMosquitto(b, fmt.Sprintf("max_inflight_messages %d", bc.inflight))
			id := "bridge-bench"
			first := benchSub(b, options(broker.Addr, id, &recordingSink{}, "devices/#"))
			first.Stop()
			publishLines(b, broker.Addr, "devices/a/sensors/t", numbered("b", b.N))

			sink := &costSink{fixed: bc.fixed, jitter: bc.jitter}
			o := options(broker.Addr, id, sink, "devices/#")
			b.ResetTimer()
			s := benchSub(b, o)
			for acked(s, "spooled") < b.N {
				time.Sleep(time.Millisecond)
			}
			b.StopTimer()
			s.Stop()
			if got := int(sink.n.Load()); got < b.N {
				b.Fatalf("sink took %d of %d messages", got, b.N)
			}
		})
	}
}

func benchSub(b *testing.B, o Options) *Subscriber {
	b.Helper()
	s, err := New(o)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		b.Fatalf("start subscriber: %v", err)
	}
	b.Cleanup(s.Stop)
	return s
}

type nopAck struct{}

func (nopAck) Ack() {}

// BenchmarkAckOrder is what the ack order adds to every message: its add
// on the router and its settle by one of four workers finishing in
// whatever order they happen to.
func BenchmarkAckOrder(b *testing.B) {
	o := newAckOrder(func(bool, string) {})
	work := make(chan uint64, 1024)
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for seq := range work {
				o.ack(seq, "spooled")
			}
		}()
	}
	for range b.N {
		work <- o.add(nopAck{})
	}
	close(work)
	wg.Wait()
	if n := o.unreleased(); n != 0 {
		b.Fatalf("%d unreleased", n)
	}
}
