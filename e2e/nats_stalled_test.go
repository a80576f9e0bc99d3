package e2e

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mqflux/mqflux/internal/testenv"
)

// A QoS 1 mosquitto_sub on devices/# that stops reading (SIGSTOP) while
// connected to node n1 costs the publishers nothing they can see: devices
// publishing QoS 1 to n1, n2 and n3 keep getting every PUBACK, and a
// `mqflux bridge` stores every acknowledged reading exactly once, as in a
// round published before the subscriber came. nats-server gives the
// subscriber's session a JetStream consumer on $MQTT_msgs, an interest
// stream: every reading published while it does not acknowledge stays in
// the stream, counted against its max_bytes, until nats-server ends the
// session for its keep alive (1.5 x 30 s here; mosquitto_sub's default is
// 60 s); then
// the stream lets them go. The test waits for that. Rates and what the
// stream held are logged (README.md, "Beyond one machine"), never asserted.
func TestNATSStalledSubscriber(t *testing.T) {
	cluster := testenv.StartNATSCluster(t, "")
	influx := testenv.StartInflux(t, testenv.WithoutFlux())
	bin := testenv.Build(t, "./cmd/mqflux")
	startNATSBridge(t, bin, cluster, influx, "stalled-sub-bridge", true)
	n1 := cluster.Nodes[0]
	firstMQTTReading(t, cluster, influx)

	const devices, messages, rounds = 4, 4000, 3
	var before, during []float64
	for r := range rounds {
		before = append(before, everyNodeRound(t, cluster, influx, fmt.Sprintf("free%d", r), devices, messages))
	}

	sub := testenv.Subscribe(t, n1.MQTTAddr, testenv.Login{}, "devices/#", "-q", "1", "-k", "30")
	// Runs before Subscribe's cleanup, which needs a running process.
	t.Cleanup(func() { _ = sub.Signal(syscall.SIGCONT) })
	stallSubscriber(t, cluster, sub)
	stopped := time.Now()
	for r := range rounds {
		during = append(during, everyNodeRound(t, cluster, influx, fmt.Sprintf("stalled%d", r), devices, messages))
		t.Logf("stalled round %d done %s after SIGSTOP", r, time.Since(stopped).Round(time.Second))
	}
	t.Logf("RESULT PUBACKs/s over all publishers, %d rounds of %d readings: without a subscriber %.0f (median of %.0f), with a stalled QoS 1 subscriber on n1 %.0f (median of %.0f)",
		rounds, len(cluster.Nodes)*devices*messages, median(before), before, median(during), during)
	stalledState(t, cluster, n1).log(t, fmt.Sprintf("%s after SIGSTOP", time.Since(stopped).Round(time.Second)))

	// nats-server ends the session of the subscriber that sends nothing,
	// and its consumers with it: $MQTT_msgs keeps nothing the bridge has.
	var st natsStall
	waitFor(t, 5*time.Minute, "nats-server ending the stalled subscriber's session and $MQTT_msgs emptied", func() bool {
		time.Sleep(2 * time.Second)
		st = stalledState(t, cluster, n1)
		return len(st.mqttConns) == 0 && len(st.subConsumers) == 0 && st.streamMsgs == 0
	})
	st.log(t, fmt.Sprintf("%s after SIGSTOP", time.Since(stopped).Round(time.Second)))
	select {
	case <-sub.Done():
		t.Logf("mosquitto_sub exited while stopped: %v", sub.Err())
	default:
		t.Logf("mosquitto_sub still there (stopped): nats-server closed its connection")
	}
}

// A stalled QoS 1 subscriber whose keep alive does not end it soon (here
// 15 minutes) holds every reading published since in $MQTT_msgs, until the
// stream reaches its max_bytes (here the bridge's bridge.nats.max_bytes,
// 2 MiB). Then nats-server stores no more and acknowledges nothing: the
// publishers of every node are pushed back (no PUBACK, connection closed),
// as README.md says of a full stream. Woken with SIGCONT, the subscriber
// reads and acknowledges, the stream empties and the publishers go on; in
// the end every acknowledged reading is in InfluxDB exactly once.
func TestNATSStalledSubscriberFillsTheStream(t *testing.T) {
	cluster := testenv.StartNATSCluster(t, "")
	influx := testenv.StartInflux(t, testenv.WithoutFlux())
	bin := testenv.Build(t, "./cmd/mqflux")
	const maxBytes = 2 << 20
	startNATSBridge(t, bin, cluster, influx, "stalled-fill-bridge", true, "MQFLUX_BRIDGE_NATS_MAX_BYTES=2MiB")
	n1 := cluster.Nodes[0]
	firstMQTTReading(t, cluster, influx)
	if got := streamMaxBytes(t, cluster); got != maxBytes {
		t.Fatalf("$MQTT_msgs max_bytes %d, want the bridge's %d (the bridge creates the stream)", got, maxBytes)
	}

	sub := testenv.Subscribe(t, n1.MQTTAddr, testenv.Login{}, "devices/#", "-q", "1", "-k", "900")
	t.Cleanup(func() { _ = sub.Signal(syscall.SIGCONT) })
	stallSubscriber(t, cluster, sub)

	// About 190 bytes a reading in the stream: 48,000 are four times 2 MiB.
	const devices, messages = 4, 4000
	loads := startNodeLoads(t, cluster, "", devices, messages)
	acked := loads.acked
	var st natsStall
	waitFor(t, 3*time.Minute, "$MQTT_msgs full with what the stalled subscriber holds", func() bool {
		time.Sleep(time.Second)
		st = stalledState(t, cluster, n1)
		return st.streamBytes > maxBytes-4096
	})
	full := acked()
	st.log(t, fmt.Sprintf("stream full at %d acknowledged", full))
	time.Sleep(10 * time.Second)
	t.Logf("10 s later: %d acknowledged of %d published", acked(), len(cluster.Nodes)*devices*messages)

	if err := sub.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	for _, l := range loads {
		r := l.finish(t, 5*time.Minute)
		waitStored(t, influx, l.cfg.Measurement, devices*messages, 3*time.Minute)
		checkStored(t, influx, l.cfg.Measurement, l.cfg.Ledger)
		t.Logf("%s: %d readings acknowledged, each in InfluxDB once; %d reconnects, %d resent", l.cfg.Measurement, r.Acked, r.Reconnects, r.Resent)
	}
	t.Logf("mosquitto_sub printed %d lines", len(sub.Lines()))
	stalledState(t, cluster, n1).log(t, "in the end")
}

// A QoS 0 subscriber that stops reading holds nothing in $MQTT_msgs:
// nats-server makes no JetStream consumer for it, so the stream empties as
// the bridge acknowledges, while the stalled subscriber's keep alive (15
// minutes) would keep its session. What nats-server does with its
// connection (a slow consumer, cut off) is logged.
func TestNATSStalledQoS0SubscriberHoldsNothing(t *testing.T) {
	cluster := testenv.StartNATSCluster(t, "")
	influx := testenv.StartInflux(t, testenv.WithoutFlux())
	bin := testenv.Build(t, "./cmd/mqflux")
	startNATSBridge(t, bin, cluster, influx, "stalled-qos0-bridge", true)
	n1 := cluster.Nodes[0]
	firstMQTTReading(t, cluster, influx)
	sub := testenv.Subscribe(t, n1.MQTTAddr, testenv.Login{}, "devices/#", "-q", "0", "-k", "900")
	t.Cleanup(func() { _ = sub.Signal(syscall.SIGCONT) })
	stallSubscriber(t, cluster, sub)
	stopped := time.Now()
	rate := everyNodeRound(t, cluster, influx, "stalled", 4, 4000)
	t.Logf("RESULT %.0f PUBACKs/s over all publishers with a stalled QoS 0 subscriber on n1", rate)
	var st natsStall
	waitFor(t, 2*time.Minute, "$MQTT_msgs empty with the QoS 0 subscriber stalled", func() bool {
		time.Sleep(time.Second)
		st = stalledState(t, cluster, n1)
		return st.streamMsgs == 0
	})
	st.log(t, fmt.Sprintf("%s after SIGSTOP", time.Since(stopped).Round(time.Second)))
	if len(st.subConsumers) != 0 {
		t.Errorf("%d consumers on $MQTT_msgs besides the bridge's, want none for a QoS 0 subscriber", len(st.subConsumers))
	}
}

// mqttMsgs opens nats-server's $MQTT_msgs stream over a connection to the
// cluster, with a context of 30 s for what is asked of it; done closes
// both.
func mqttMsgs(t *testing.T, cluster *testenv.NATSCluster) (s jetstream.Stream, ctx context.Context, done func()) {
	t.Helper()
	nc, err := nats.Connect(strings.Join(cluster.URLs(), ","))
	if err != nil {
		t.Fatalf("connect to NATS: %v", err)
	}
	js, err := jetstream.New(nc)
	if err != nil {
		nc.Close()
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	done = func() { cancel(); nc.Close() }
	s, err = js.Stream(ctx, "$MQTT_msgs")
	if err != nil {
		done()
		t.Fatalf("stream $MQTT_msgs: %v", err)
	}
	return s, ctx, done
}

func streamMaxBytes(t *testing.T, cluster *testenv.NATSCluster) int64 {
	t.Helper()
	s, _, done := mqttMsgs(t, cluster)
	defer done()
	return s.CachedInfo().Config.MaxBytes
}

// firstMQTTReading publishes one reading on n3 until it is stored: the
// first MQTT client has the cluster create its MQTT streams. It carries its
// time, so every copy is one point.
func firstMQTTReading(t *testing.T, cluster *testenv.NATSCluster, influx *testenv.Influx) {
	t.Helper()
	waitFor(t, time.Minute, "a first reading over MQTT stored", func() bool {
		if out, err := testenv.Pub(t, cluster.Nodes[2].MQTTAddr, testenv.Login{}, "devices/pi.first/sensors/first", `{"value": 1, "time": 1795456800}`, "-q", "1"); err != nil {
			t.Logf("mosquitto_pub to n3 (the cluster may still be creating its MQTT streams): %v %s", err, out)
			time.Sleep(time.Second)
			return false
		}
		return count(influx, "first") == 1
	})
}

// stallSubscriber waits until sub (on n1) sees a reading published on n2,
// then stops it with SIGSTOP: its connection stays open, nothing is read.
func stallSubscriber(t *testing.T, cluster *testenv.NATSCluster, sub *testenv.Sub) {
	t.Helper()
	waitFor(t, time.Minute, "mosquitto_sub on n1 seeing a reading published on n2", func() bool {
		if out, err := testenv.Pub(t, cluster.Nodes[1].MQTTAddr, testenv.Login{}, "devices/pi.mark/sensors/mark", `{"value": 1, "time": 1795456800}`, "-q", "1"); err != nil {
			t.Fatalf("mosquitto_pub to n2: %v %s", err, out)
		}
		time.Sleep(500 * time.Millisecond)
		for _, l := range sub.Lines() {
			if strings.HasPrefix(l, "devices/pi.mark/sensors/mark ") {
				return true
			}
		}
		return false
	})
	if err := sub.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
}

func median(v []float64) float64 {
	s := slices.Clone(v)
	slices.Sort(s)
	return s[len(s)/2]
}

// everyNodeRound publishes devices x messages QoS 1 readings to each node
// at once (measurements named after round), checks every acknowledged
// reading is stored exactly once, and returns the PUBACKs per second over
// all publishers, from the start until the last publisher finished.
func everyNodeRound(t *testing.T, cluster *testenv.NATSCluster, influx *testenv.Influx, round string, devices, messages int) float64 {
	t.Helper()
	start := time.Now()
	loads := startNodeLoads(t, cluster, "_"+round, devices, messages)
	var acked int64
	for _, l := range loads {
		acked += l.finish(t, 5*time.Minute).Acked
	}
	wall := time.Since(start)
	for _, l := range loads {
		waitStored(t, influx, l.cfg.Measurement, devices*messages, 3*time.Minute)
		checkStored(t, influx, l.cfg.Measurement, l.cfg.Ledger)
	}
	t.Logf("round %s: %d readings acknowledged in %s, each in InfluxDB once", round, acked, wall.Round(time.Millisecond))
	return float64(acked) / wall.Seconds()
}

// natsStall is what nats-server shows of the stalled subscriber.
type natsStall struct {
	streamMsgs    uint64
	streamBytes   uint64
	subConsumers  []*jetstream.ConsumerInfo // the subscriber's on $MQTT_msgs
	bridge        *jetstream.ConsumerInfo
	alerts        *jetstream.ConsumerInfo // the alerting bridge's own (flow/natsinput fleet)
	slowConsumers int64
	mqttConns     []string
	slowLog       []string
}

func stalledState(t *testing.T, cluster *testenv.NATSCluster, n1 *testenv.NATSNode) natsStall {
	t.Helper()
	s, ctx, done := mqttMsgs(t, cluster)
	defer done()
	info, err := s.Info(ctx)
	if err != nil {
		t.Fatalf("stream $MQTT_msgs info: %v", err)
	}
	st := natsStall{streamMsgs: info.State.Msgs, streamBytes: info.State.Bytes}
	l := s.ListConsumers(ctx)
	for ci := range l.Info() {
		switch ci.Name {
		case "mqflux":
			st.bridge = ci
		case "mqflux_alerts":
			st.alerts = ci
		default:
			st.subConsumers = append(st.subConsumers, ci)
		}
	}
	if err := l.Err(); err != nil {
		t.Fatalf("consumers of $MQTT_msgs: %v", err)
	}
	var varz struct {
		SlowConsumers int64 `json:"slow_consumers"`
	}
	n1.Monitor(t, "/varz", &varz)
	st.slowConsumers = varz.SlowConsumers
	var connz struct {
		Conns []struct {
			MQTTClient   string `json:"mqtt_client"`
			PendingBytes int    `json:"pending_bytes"`
			OutMsgs      int64  `json:"out_msgs"`
			Subs         int    `json:"subscriptions"`
		} `json:"connections"`
	}
	n1.Monitor(t, "/connz?limit=1000", &connz)
	for _, c := range connz.Conns {
		if c.MQTTClient != "" && c.Subs > 0 {
			st.mqttConns = append(st.mqttConns, fmt.Sprintf("%s: pending %d bytes, out %d msgs, %d subs", c.MQTTClient, c.PendingBytes, c.OutMsgs, c.Subs))
		}
	}
	for _, line := range strings.Split(n1.Log(t), "\n") {
		if strings.Contains(line, "Slow Consumer") || strings.Contains(line, "MQTT") && strings.Contains(line, "rror") {
			st.slowLog = append(st.slowLog, line)
		}
	}
	return st
}

func (st natsStall) log(t *testing.T, when string) {
	t.Helper()
	t.Logf("%s: $MQTT_msgs holds %d messages (%d bytes); n1 counts %d slow consumers; n1's MQTT connections with subscriptions: %v",
		when, st.streamMsgs, st.streamBytes, st.slowConsumers, st.mqttConns)
	for _, ci := range append([]*jetstream.ConsumerInfo{st.bridge, st.alerts}, st.subConsumers...) {
		if ci == nil {
			continue
		}
		t.Logf("consumer %s (filter %q, max_ack_pending %d, ack_wait %s): %d pending, %d delivered unacknowledged, %d redelivered",
			ci.Name, ci.Config.FilterSubject, ci.Config.MaxAckPending, ci.Config.AckWait, ci.NumPending, ci.NumAckPending, ci.NumRedelivered)
	}
	for _, l := range st.slowLog {
		t.Logf("n1 log: %s", l)
	}
}
