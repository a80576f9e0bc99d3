package natsinput

import (
	"context"
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mqflux/mqflux/bench"
	"github.com/mqflux/mqflux/internal/testenv"
)

// TestPubackMeansInStream finds out whether an MQTT PUBACK from a node of
// the cluster means the reading is in the replicated stream mqflux reads.
// Devices publish QoS 1 to one node; right after a burst of PUBACKs the
// node leading the stream is killed with SIGKILL while publishing goes
// on, then every node at once. After a restart, every acknowledged
// reading must be in the stream.
//
// Two streams are tried. A stream of our own on devices.> captures the
// publishes as any NATS subscriber does, after and apart from the PUBACK;
// nats-server acknowledges a QoS 1 PUBLISH once its own stream $MQTT_msgs
// stored it (replicated, on every node's disk). The first is expected to
// lose acknowledged readings when its leader dies, the second none: the
// README says so ("Beyond one machine"), and this test is the proof.
func TestPubackMeansInStream(t *testing.T) {
	if testing.Short() {
		t.Skip("kills a cluster: not in -short")
	}
	for _, tc := range []struct {
		name     string
		stream   string
		subjects []string
		lossOK   bool // acknowledged readings may be missing
	}{
		{"own stream on devices.>", "DEVICES", []string{"devices.>"}, true},
		{"nats-server's $MQTT_msgs", "$MQTT_msgs", []string{"$MQTT.msgs.devices.>"}, false},
	} {
		t.Run(tc.stream, func(t *testing.T) {
			acked, missing := killDuringBurst(t, tc.stream, tc.subjects)
			t.Logf("%s: %d readings acknowledged, %d of them missing from the stream after the kills", tc.name, acked, missing)
			if !tc.lossOK && missing > 0 {
				t.Errorf("%d acknowledged readings are missing from %s", missing, tc.stream)
			}
		})
	}
}

func killDuringBurst(t *testing.T, stream string, subjects []string) (acked, missing int) {
	t.Helper()
	c := testenv.StartNATSCluster(t, "")
	// The first MQTT client has the cluster create $MQTT_msgs.
	if out, err := testenv.Pub(t, c.Nodes[0].MQTTAddr, testenv.Login{}, "warmup", "1", "-q", "1"); err != nil {
		t.Fatalf("mosquitto_pub: %v %s", err, out)
	}
	cfg := DefaultConfig()
	cfg.URLs, cfg.Stream, cfg.Subjects = c.URLs(), stream, subjects
	in := New("nats", cfg, newRecorder(), nil, nil)
	nc, js := jsConn(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := in.setup(ctx, nc); err != nil {
		t.Fatal(err)
	}
	s, err := js.Stream(ctx, stream)
	if err != nil {
		t.Fatal(err)
	}
	leader := s.CachedInfo().Cluster.Leader
	nc.Close()
	var pub, lead *testenv.NATSNode
	for _, n := range c.Nodes {
		if n.Name == leader {
			lead = n
		} else if pub == nil {
			pub = n
		}
	}
	t.Logf("stream %s led by %s; publishing to %s", stream, leader, pub.Name)

	ledger := bench.NewLedger()
	lctx, stop := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = bench.Load(lctx, bench.Config{
			Broker: pub.MQTTAddr, Devices: 8, Messages: 1_000_000, Inflight: 32, QoS: 1,
			Payload: "json", Topic: "devices/{device}/sensors/{measurement}", DevicePrefix: "pi-",
			Measurement: "burst", AckTimeout: 10 * time.Second, GiveUp: time.Minute,
			KeepAlive: time.Minute, ProbeEvery: time.Second, Ledger: ledger,
		}, nil, slog.New(slog.DiscardHandler))
	}()
	testenv.WaitFor(t, time.Minute, "a burst of PUBACKs", func() bool { return ledger.Len() >= 5000 })
	lead.Kill(t)
	time.Sleep(3 * time.Second) // publishing goes on while the stream elects a leader
	for _, n := range c.Nodes {
		n.Kill(t)
	}
	stop()
	<-done
	want := map[int64]bool{}
	for _, r := range ledger.Readings() {
		want[r.Value] = true
	}
	for _, n := range c.Nodes {
		n.Start(t)
	}
	got := streamValues(t, c, stream, subjects)
	for v := range want {
		if !got[v] {
			missing++
		}
	}
	return len(want), missing
}

func jsConn(t *testing.T, c *testenv.NATSCluster) (*nats.Conn, jetstream.JetStream) {
	t.Helper()
	nc, err := nats.Connect(strings.Join(c.URLs(), ","))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return nc, js
}

// streamValues reads every reading in the stream with an ordered
// consumer (nothing acknowledged, nothing removed) and returns the values.
func streamValues(t *testing.T, c *testenv.NATSCluster, stream string, subjects []string) map[int64]bool {
	t.Helper()
	_, js := jsConn(t, c)
	got := map[int64]bool{}
	testenv.WaitFor(t, 2*time.Minute, "the stream readable after the restart", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		cons, err := js.OrderedConsumer(ctx, stream, jetstream.OrderedConsumerConfig{FilterSubjects: subjects})
		if err != nil {
			t.Logf("ordered consumer: %v", err)
			return false
		}
		for {
			b, err := cons.Fetch(1000, jetstream.FetchMaxWait(2*time.Second))
			if err != nil {
				t.Logf("fetch: %v", err)
				return false
			}
			n := 0
			for m := range b.Messages() {
				n++
				var p struct{ Value float64 }
				if err := json.Unmarshal(m.Data(), &p); err != nil {
					t.Fatalf("payload %q: %v", m.Data(), err)
				}
				got[int64(p.Value)] = true
			}
			if n == 0 {
				return true
			}
		}
	})
	return got
}
