package broker

import (
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
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
		refused: new(tally)}
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

// recordingSink keeps what it was given.
type recordingSink struct{ topics []string }

func (s *recordingSink) Ingest(topic string, _ []byte, _ time.Time) error {
	s.topics = append(s.topics, topic)
	return nil
}

// A will reaches the sink as its PUBLISH would, unless its topic is not
// wanted or the broker is draining (a shutdown sends every will).
func TestWillReachesTheSink(t *testing.T) {
	cases := []struct {
		name     string
		topic    string
		draining bool
		want     int
	}{
		{"a device's offline", "devices/pi-1/status", false, 1},
		{"a topic the mapping does not want", "other/pi-1", false, 0},
		{"while draining", "devices/pi-1/status", true, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			sink := &recordingSink{}
			h := &ingestHook{sink: sink, wants: func(topic string) bool { return topic != "other/pi-1" },
				log: slog.New(slog.DiscardHandler), refused: new(tally)}
			if tc.draining {
				h.drain()
			}
			h.OnWillSent(&mqtt.Client{ID: "mqflux-device-pi-1"}, packets.Packet{TopicName: tc.topic, Payload: []byte("offline")})
			if len(sink.topics) != tc.want {
				t.Fatalf("sink got %q, want %d wills", sink.topics, tc.want)
			}
		})
	}
}
