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
	cfg := DefaultConfig()
	cfg.URLs, cfg.Stream, cfg.Subjects = c.URLs(), stream, subjects
	in := New("nats", cfg, newRecorder(), nil, nil)
	nc, js := jsConn(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := in.setup(ctx, nc); err != nil {
		t.Fatal(err)
	}
	// The first MQTT client has the cluster create (or take) its streams.
	testenv.WaitFor(t, time.Minute, "an MQTT publish acknowledged", func() bool {
		_, err := testenv.Pub(t, c.Nodes[0].MQTTAddr, testenv.Login{}, "warmup", "1", "-q", "1")
		return err == nil
	})
	// The worst case for a stream of our own: the node that acknowledges
	// (publishing to the leader of $MQTT_msgs) stays up while the leader
	// of our stream dies.
	msgs := leaderOf(t, js, mqttStream)
	lead := leaderOf(t, js, stream)
	for try := 0; stream != mqttStream && lead == msgs; try++ {
		if try == 10 {
			t.Fatalf("stream %s still led by %s, as $MQTT_msgs, after %d step-downs", stream, lead, try)
		}
		if _, err := nc.Request("$JS.API.STREAM.LEADER.STEPDOWN."+stream, nil, 10*time.Second); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Second)
		lead = leaderOf(t, js, stream)
	}
	var pub, victim *testenv.NATSNode
	for _, n := range c.Nodes {
		switch {
		case n.Name == lead:
			victim = n
		case stream != mqttStream && n.Name == msgs, stream == mqttStream && pub == nil:
			pub = n
		}
	}
	t.Logf("stream %s led by %s, $MQTT_msgs by %s; publishing to %s", stream, lead, msgs, pub.Name)

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
	victim.Kill(t)
	t.Logf("killed %s at %d PUBACKs", victim.Name, ledger.Len())
	time.Sleep(3 * time.Second) // publishing goes on while the stream elects a leader
	for _, n := range c.Nodes {
		n.Kill(t)
	}
	t.Logf("killed every node at %d PUBACKs", ledger.Len())
	stop()
	<-done
	want := map[int64]bool{}
	for _, r := range ledger.Readings() {
		want[r.Value] = true
	}
	c.StartStopped(t)
	got := streamValues(t, c, stream)
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

// streamValues takes every reading in the stream through the durable
// consumer (a work-queue or interest stream allows no second consumer on
// its subjects), acknowledging each, and returns the values.
func streamValues(t *testing.T, c *testenv.NATSCluster, stream string) map[int64]bool {
	t.Helper()
	_, js := jsConn(t, c)
	got := map[int64]bool{}
	testenv.WaitFor(t, 2*time.Minute, "the stream readable after the restart", func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		cons, err := js.Consumer(ctx, stream, DefaultConsumer)
		if err != nil {
			t.Logf("consumer: %v", err)
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
				_ = m.Ack()
			}
			if n == 0 {
				return true
			}
		}
	})
	return got
}

func leaderOf(t *testing.T, js jetstream.JetStream, stream string) string {
	t.Helper()
	var leader string
	testenv.WaitFor(t, time.Minute, "a leader of "+stream, func() bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s, err := js.Stream(ctx, stream)
		if err != nil || s.CachedInfo().Cluster == nil {
			return false
		}
		leader = s.CachedInfo().Cluster.Leader
		return leader != ""
	})
	return leader
}

// TestFullStream fills a small stream nobody reads and counts what the
// publishers were told. A stream of our own refuses the capture silently
// while nats-server goes on acknowledging (loss); a bounded $MQTT_msgs
// refuses the store, and nats-server then closes the publisher's
// connection without a PUBACK (push-back): every acknowledged reading is
// in the stream.
func TestFullStream(t *testing.T) {
	for _, tc := range []struct {
		stream   string
		subjects []string
		lossOK   bool
	}{
		{"DEVICES", []string{"devices.>"}, true},
		{mqttStream, []string{"$MQTT.msgs.devices.>"}, false},
	} {
		t.Run(tc.stream, func(t *testing.T) {
			c := testenv.StartNATSCluster(t, "")
			cfg := DefaultConfig()
			cfg.URLs, cfg.Stream, cfg.Subjects, cfg.MaxBytes = c.URLs(), tc.stream, tc.subjects, 64<<10
			in := New("nats", cfg, newRecorder(), nil, nil)
			nc, _ := jsConn(t, c)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			if _, err := in.setup(ctx, nc); err != nil {
				t.Fatal(err)
			}
			ledger := bench.NewLedger()
			rep, err := bench.Load(ctx, bench.Config{
				Broker: c.Nodes[0].MQTTAddr, Devices: 8, Messages: 200, Inflight: 32, QoS: 1,
				Payload: "json", Topic: "devices/{device}/sensors/{measurement}", DevicePrefix: "pi-",
				Measurement: "full", AckTimeout: 2 * time.Second, GiveUp: 10 * time.Second,
				KeepAlive: time.Minute, ProbeEvery: time.Second, Ledger: ledger,
			}, nil, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			got := streamValues(t, c, tc.stream)
			missing := 0
			for _, r := range ledger.Readings() {
				if !got[r.Value] {
					missing++
				}
			}
			t.Logf("%s full: %d published, %d acknowledged, %d failed (no PUBACK), %d in the stream, %d acknowledged and missing",
				tc.stream, rep.Published, rep.Acked, rep.Failed, len(got), missing)
			if !tc.lossOK {
				if missing > 0 {
					t.Errorf("%d acknowledged readings are not in the full stream", missing)
				}
				if rep.Failed == 0 {
					t.Errorf("every reading acknowledged: the stream was never full (%d in it)", len(got))
				}
			}
		})
	}
}
