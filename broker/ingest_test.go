package broker

import (
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/prometheus/client_golang/prometheus"
)

// blockingSink holds every Ingest until released.
type blockingSink struct {
	entered, release chan struct{}
	done             atomic.Bool
}

func (s *blockingSink) Ingest(string, []byte, time.Time) error {
	s.entered <- struct{}{}
	<-s.release
	s.done.Store(true)
	return nil
}

// Drain must wait for a spool append under way: the pipeline's drain that
// follows counts on every acknowledged reading being in the spool already.
// Afterwards readings are refused (MQTT 5: quota exceeded).
func TestDrainWaitsForAppendsUnderWay(t *testing.T) {
	sink := &blockingSink{entered: make(chan struct{}), release: make(chan struct{})}
	h := &ingestHook{sink: sink, wants: func(string) bool { return true }, log: slog.New(slog.DiscardHandler),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "refused"}, []string{"reason"})}
	cl := &mqtt.Client{}
	cl.Properties.ProtocolVersion = 5
	pk := packets.Packet{TopicName: "devices/a/sensors/t", Payload: []byte("1")}
	pk.FixedHeader.Qos = 1

	published := make(chan error, 1)
	go func() { _, err := h.OnPublish(cl, pk); published <- err }()
	<-sink.entered
	drained := make(chan bool, 1)
	go func() { h.drain(); drained <- sink.done.Load() }()
	time.Sleep(50 * time.Millisecond) // let drain reach the gate
	close(sink.release)
	if err := <-published; err != nil {
		t.Fatalf("the publish under way: %v, want it acknowledged", err)
	}
	if !<-drained {
		t.Fatal("drain returned while a spool append was under way")
	}
	if _, err := h.OnPublish(cl, pk); !errors.Is(err, packets.ErrQuotaExceeded) {
		t.Fatalf("publish after drain: %v, want quota exceeded", err)
	}
}

// recordingSink keeps the topics and payloads it was given.
type recordingSink struct{ got []string }

func (s *recordingSink) Ingest(topic string, payload []byte, _ time.Time) error {
	s.got = append(s.got, topic+" "+string(payload))
	return nil
}

// A Last Will the broker sends is spooled like a publish (mochi does not
// pass it through OnPublish); topics the mapping does not read, and wills
// sent while draining, are not.
func TestWillIsSpooled(t *testing.T) {
	sink := &recordingSink{}
	h := &ingestHook{sink: sink, wants: func(topic string) bool { return topic != "other" }, log: slog.New(slog.DiscardHandler),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "refused"}, []string{"reason"})}
	if !h.Provides(mqtt.OnWillSent) {
		t.Fatal("the ingest hook does not take wills")
	}
	cl := &mqtt.Client{}
	h.OnWillSent(cl, packets.Packet{TopicName: "devices/a/status", Payload: []byte("offline")})
	h.OnWillSent(cl, packets.Packet{TopicName: "other", Payload: []byte("x")})
	h.drain()
	h.OnWillSent(cl, packets.Packet{TopicName: "devices/b/status", Payload: []byte("offline")})
	if len(sink.got) != 1 || sink.got[0] != "devices/a/status offline" {
		t.Errorf("spooled %q, want only the will of a", sink.got)
	}
}
