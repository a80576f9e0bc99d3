package natsinput

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/mqflux/mqflux/flow/ingest"
	"github.com/mqflux/mqflux/internal/testenv"
)

// recorder is a sink that records what it took; full makes it answer
// ErrFull that many times first, reject refuses topics it names.
type recorder struct {
	mu     sync.Mutex
	got    map[string][]string // topic → payloads
	full   int
	fulls  int
	reject map[string]bool
}

func newRecorder() *recorder { return &recorder{got: map[string][]string{}, reject: map[string]bool{}} }

func (r *recorder) Ingest(topic string, payload []byte, _ time.Time) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fulls < r.full {
		r.fulls++
		return ingest.ErrFull
	}
	if r.reject[topic] {
		return &ingest.RejectError{Reason: "bad_topic", Detail: topic}
	}
	r.got[topic] = append(r.got[topic], string(payload))
	return nil
}

func (r *recorder) IngestReading(ingest.Reading, time.Time) error { return errors.New("not used") }

func (r *recorder) count(topic string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.got[topic])
}

func (r *recorder) total() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, p := range r.got {
		n += len(p)
	}
	return n
}

func startInput(t *testing.T, c *testenv.NATSCluster, sink *recorder, mod func(*Config)) *Input {
	t.Helper()
	cfg := DefaultConfig()
	cfg.URLs = c.URLs()
	cfg.NakDelay = 200 * time.Millisecond
	if mod != nil {
		mod(&cfg)
	}
	in := New("nats", cfg, sink, nil, slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := in.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = in.Stop() })
	return in
}

// TestNATSInputFromMQTT publishes over MQTT to every node and reads the
// readings back, topic for topic, through the stream on devices.>: the
// stream captures MQTT QoS 1 publishes, and the subject escaping is undone
// exactly as nats-server applies it.
func TestNATSInputFromMQTT(t *testing.T) {
	c := testenv.StartNATSCluster(t, "")
	sink := newRecorder()
	sink.full = 3 // the first messages are pushed back and come again
	sink.reject["devices/bad/sensors/t"] = true
	startInput(t, c, sink, nil)

	topics := []string{
		"devices/pi-1/sensors/temperature",
		"devices/pi.2/sensors/temp.c", // dots inside levels
		"devices/pi-3/sensors/a_b-c",
		"devices/bad/sensors/t",
	}
	for i, topic := range topics {
		node := c.Nodes[i%len(c.Nodes)]
		for _, q := range []string{"1", "2"} {
			if out, err := testenv.Pub(t, node.MQTTAddr, testenv.Login{}, topic, fmt.Sprintf("21.%d", i), "-q", q, "-i", fmt.Sprintf("pub-%d-%s", i, q)); err != nil {
				t.Fatalf("mosquitto_pub %s to %s: %v: %s", topic, node.Name, err, out)
			}
		}
	}
	testenv.WaitFor(t, time.Minute, "every reading through the input", func() bool { return sink.total() == 2*(len(topics)-1) })
	for _, topic := range topics[:len(topics)-1] {
		if n := sink.count(topic); n != 2 {
			t.Errorf("topic %q: %d readings, want 2 (QoS 1 and 2)", topic, n)
		}
	}
	if sink.fulls != 3 {
		t.Errorf("spool full answered %d times, want 3", sink.fulls)
	}
	time.Sleep(time.Second) // acknowledged once: nothing comes again
	if n := sink.total(); n != 2*(len(topics)-1) {
		t.Errorf("%d readings after settling, want %d: acknowledged messages came again", n, 2*(len(topics)-1))
	}
}

// TestNATSInputsShareConsumer runs two inputs on one durable consumer:
// every message reaches exactly one of them.
func TestNATSInputsShareConsumer(t *testing.T) {
	c := testenv.StartNATSCluster(t, "")
	a, b := newRecorder(), newRecorder()
	startInput(t, c, a, func(c *Config) { c.Batch = 10 })
	startInput(t, c, b, func(c *Config) { c.Batch = 10 })
	const n = 200
	pubAll(t, c, n)
	testenv.WaitFor(t, time.Minute, "every reading taken", func() bool { return a.total()+b.total() >= n })
	time.Sleep(time.Second)
	if a.total()+b.total() != n {
		t.Fatalf("a took %d, b took %d; want %d together", a.total(), b.total(), n)
	}
	if a.total() == 0 || b.total() == 0 {
		t.Errorf("a took %d, b took %d: the work was not split", a.total(), b.total())
	}
}

// pubAll publishes n readings with one mosquitto_pub per node (-l reads
// one message a line).
func pubAll(t *testing.T, c *testenv.NATSCluster, n int) {
	t.Helper()
	for i := range n {
		node := c.Nodes[i%len(c.Nodes)]
		topic := fmt.Sprintf("devices/d%d/sensors/t", i)
		if out, err := testenv.Pub(t, node.MQTTAddr, testenv.Login{}, topic, "1", "-q", "1"); err != nil {
			t.Fatalf("mosquitto_pub: %v: %s", err, out)
		}
	}
}
