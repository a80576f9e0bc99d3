package e2e

import (
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/mqflux/mqflux/internal/testenv"
)

// A reader whose connection is taken over again and again by a new one of
// the same client id (a laptop that wakes on another network while its old
// connection is not yet seen dead) while its device publishes: every
// reading reaches one of the connections. A delivery made while the broker
// moved the session to the new connection stayed on the old one and was
// lost (third_party/mochi-mqtt-server/PATCHES.md, "A session taken over
// keeps the deliveries made during the takeover").
func TestTakeoversLoseNoReading(t *testing.T) {
	const readings, takeovers = 4000, 20
	const topic = "devices/demo-device/sensors/takeover"
	srv := testenv.StartServer(t, testenv.ServerOptions{Env: roomyReader})
	seen := &seqSet{got: map[int]bool{}}

	first := takeoverReader(t, srv.MQTT, seen)
	if tok := first.Subscribe(topic, 1, nil); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe: %v", tok.Error())
	}
	published := make(chan struct{})
	go func() {
		defer close(published)
		publishSequence(t, srv.MQTT, topic, 0, readings)
	}()
	for range takeovers {
		seen.waitMore(t, readings/(2*takeovers), readings) // a takeover every 100 readings or so
		takeoverReader(t, srv.MQTT, seen)
	}
	<-published

	for deadline := time.Now().Add(60 * time.Second); seen.count() < readings && time.Now().Before(deadline); {
		time.Sleep(50 * time.Millisecond)
	}
	if n := metric(t, srv, "mqflux_mqtt_messages_dropped_total"); n != 0 {
		t.Errorf("mqflux_mqtt_messages_dropped_total = %v: this test expects no drop for the reader", n)
	}
	if missing := seen.missing(readings); len(missing) > 0 {
		t.Fatalf("%d of %d readings reached none of the reader's connections across %d takeovers: %v",
			len(missing), readings, takeovers, missing)
	}
}

// takeoverReader connects the persistent session "taken-over" (it takes
// the session over from the previous connection), and records every
// reading it gets in seen. It does not reconnect: a later one takes its
// place.
func takeoverReader(t *testing.T, addr string, seen *seqSet) mqtt.Client {
	t.Helper()
	opts := mqtt.NewClientOptions().AddBroker("tcp://" + addr).SetClientID("taken-over").
		SetUsername(testenv.DemoReader.User).SetPassword(testenv.DemoReader.Password).
		SetCleanSession(false).SetAutoReconnect(false).SetConnectTimeout(10 * time.Second).
		SetDefaultPublishHandler(func(_ mqtt.Client, m mqtt.Message) {
			var r struct{ Seq int }
			if err := json.Unmarshal(m.Payload(), &r); err != nil {
				t.Errorf("reading %q: %v", m.Payload(), err)
				return
			}
			seen.add(r.Seq)
		})
	c := mqtt.NewClient(opts)
	if tok := c.Connect(); !tok.WaitTimeout(30*time.Second) || tok.Error() != nil {
		t.Fatalf("connect: %v", tok.Error())
	}
	t.Cleanup(func() { c.Disconnect(0) })
	return c
}

// seqSet is the set of sequence numbers received by any connection.
type seqSet struct {
	mu  sync.Mutex
	got map[int]bool
}

func (s *seqSet) add(seq int) {
	s.mu.Lock()
	s.got[seq] = true
	s.mu.Unlock()
}

func (s *seqSet) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.got)
}

// waitMore waits until n more readings than now were received, or all
// of them: on a slow machine the device may finish first.
func (s *seqSet) waitMore(t *testing.T, n, all int) {
	t.Helper()
	want := min(s.count()+n, all)
	testenv.WaitFor(t, 60*time.Second, fmt.Sprintf("%d readings", want), func() bool { return s.count() >= want })
}

func (s *seqSet) missing(n int) []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	var m []int
	for i := range n {
		if !s.got[i] {
			m = append(m, i)
		}
	}
	return m
}
