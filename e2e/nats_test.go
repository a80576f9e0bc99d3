package e2e

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mqflux/mqflux/bench"
	"github.com/mqflux/mqflux/internal/testenv"
)

// startNATSBridge starts a real `mqflux bridge` with input nats on the
// cluster's stream DEVICES, sharing the durable consumer mqflux.
// connected: wait for /healthz 200 (consuming), else for any answer.
func startNATSBridge(t *testing.T, bin string, c *testenv.NATSCluster, influx *testenv.Influx, name string, connected bool, extra ...string) *bridgeProc {
	t.Helper()
	return startNATSBridgeOn(t, bin, c.URLs(), "127.0.0.1", influx, name, connected, extra...)
}

// startNATSBridgeOn is startNATSBridge on the NATS servers at urls, its
// HTTP API listening on host ("0.0.0.0": beyond loopback, behind its
// logins; b.http is still its loopback address).
func startNATSBridgeOn(t *testing.T, bin string, urls []string, host string, influx *testenv.Influx, name string, connected bool, extra ...string) *bridgeProc {
	t.Helper()
	quoted := make([]string, 0, len(urls))
	for _, u := range urls {
		quoted = append(quoted, strconv.Quote(u))
	}
	port := testenv.FreePort(t)
	b := &bridgeProc{bin: bin, dataDir: t.TempDir(), clientID: name, http: fmt.Sprintf("127.0.0.1:%d", port)}
	b.env = append([]string{
		"MQFLUX_DATA_DIR=" + b.dataDir,
		fmt.Sprintf("MQFLUX_HTTP_ADDRESS=%s:%d", host, port),
		"MQFLUX_INFLUX_URL=" + influx.URL,
		"MQFLUX_INFLUX_BUCKET=" + influx.Bucket(),
		"MQFLUX_INFLUX_FLUSH_INTERVAL=100ms",
		"MQFLUX_INFLUX_DRAIN_TIMEOUT=30s",
		"MQFLUX_LOG_LEVEL=info",
		"MQFLUX_BRIDGE_INPUT=nats",
		"MQFLUX_BRIDGE_NATS_URLS=[" + strings.Join(quoted, ", ") + "]",
		"MQFLUX_BRIDGE_NATS_ACK_WAIT=5s",
	}, extra...)
	b.start(t, connected)
	return b
}

// nodeLoad is the load tool publishing QoS 1 over MQTT to one node of the
// cluster, with a measurement and a ledger of its own (values are unique
// within one run only).
func nodeLoad(t *testing.T, node *testenv.NATSNode, devices, messages int) bench.Config {
	t.Helper()
	return bench.Config{
		Broker: node.MQTTAddr, Devices: devices, Messages: messages, Inflight: 32, QoS: 1,
		Payload: "json", Topic: "devices/{device}/sensors/{measurement}",
		DevicePrefix: "pi-" + node.Name + "-", Measurement: measurementFor(t) + "_" + node.Name,
		AckTimeout: 10 * time.Second, GiveUp: 3 * time.Minute, KeepAlive: time.Minute,
		ProbeEvery: time.Second, Ledger: bench.NewLedger(),
	}
}

// nodeLoads are loads publishing to every node of a cluster at once.
type nodeLoads []*load

// startNodeLoads starts nodeLoad on every node of the cluster, each
// measurement named with suffix appended.
func startNodeLoads(t *testing.T, cluster *testenv.NATSCluster, suffix string, devices, messages int) nodeLoads {
	t.Helper()
	var loads nodeLoads
	for _, node := range cluster.Nodes {
		cfg := nodeLoad(t, node, devices, messages)
		cfg.Measurement += suffix
		loads = append(loads, startLoad(t, cfg))
	}
	return loads
}

// acked is how many readings the nodes have acknowledged so far, every
// load together.
func (loads nodeLoads) acked() int {
	n := 0
	for _, l := range loads {
		n += l.cfg.Ledger.Len()
	}
	return n
}

// A three-node NATS cluster is the broker tier and two `mqflux bridge`
// processes consume its replicated stream. Devices publish QoS 1 over MQTT
// to all three nodes; one node and one bridge are killed with SIGKILL
// mid-stream and started again. InfluxDB then holds every acknowledged
// reading exactly once, reading for reading against the load tool's
// ledger, and a mosquitto_sub on one node sees readings published on
// another.
func TestNATSClusterStoresEveryReading(t *testing.T) {
	cluster := testenv.StartNATSCluster(t, "")
	influx := testenv.StartInflux(t, testenv.WithoutFlux())
	bin := testenv.Build(t, "./cmd/mqflux")
	bridges := []*bridgeProc{
		startNATSBridge(t, bin, cluster, influx, "nats-bridge-1", true),
		startNATSBridge(t, bin, cluster, influx, "nats-bridge-2", true),
	}

	// One node's subscribers see what another node's publishers send.
	sub := testenv.Subscribe(t, cluster.Nodes[0].MQTTAddr, testenv.Login{}, "devices/+/sensors/crossnode", "-q", "1")
	// The subscription takes a moment to reach the other nodes (the first
	// MQTT client also has the cluster create its MQTT streams): publish
	// until it is seen. The reading carries its time, so every copy is one
	// point in InfluxDB.
	waitFor(t, time.Minute, "mosquitto_sub on n1 seeing a reading published on n3", func() bool {
		if out, err := testenv.Pub(t, cluster.Nodes[2].MQTTAddr, testenv.Login{}, "devices/pi.x/sensors/crossnode", `{"value": 7, "time": 1795456800}`, "-q", "1"); err != nil {
			t.Logf("mosquitto_pub to n3 (the cluster may still be creating its MQTT streams): %v %s", err, out)
			time.Sleep(time.Second)
			return false
		}
		time.Sleep(time.Second)
		for _, l := range sub.Lines() {
			if strings.HasPrefix(l, "devices/pi.x/sensors/crossnode ") {
				return true
			}
		}
		return false
	})
	waitStored(t, influx, "crossnode", 1, time.Minute)

	const devices, messages = 4, 2500
	loads := startNodeLoads(t, cluster, "", devices, messages)
	acked := loads.acked
	total := len(cluster.Nodes) * devices * messages
	waitFor(t, 2*time.Minute, "a fifth of the readings acknowledged", func() bool { return acked() >= total/5 })
	cluster.Nodes[1].Kill(t)
	t.Logf("killed nats node n2 at %d acknowledged", acked())
	waitFor(t, 2*time.Minute, "two fifths acknowledged", func() bool { return acked() >= 2*total/5 })
	// Both bridges take a share (read before the kill: a restarted
	// process counts from zero).
	spooled := `mqflux_nats_messages_settled_total{result="spooled"}`
	for _, b := range bridges {
		if n := b.metric(t, spooled); n == 0 {
			t.Errorf("%s spooled nothing of %d acknowledged readings: the work was not split", b.clientID, acked())
		}
	}
	bridges[0].kill()
	t.Logf("killed bridge 1 at %d acknowledged", acked())
	waitFor(t, 2*time.Minute, "three fifths acknowledged", func() bool { return acked() >= 3*total/5 })
	cluster.Nodes[1].Start(t)
	bridges[0].start(t, true)
	t.Logf("n2 and bridge 1 running again at %d acknowledged", acked())

	for i, l := range loads {
		l.finish(t, 4*time.Minute)
		node := cluster.Nodes[i]
		waitStored(t, influx, l.cfg.Measurement, devices*messages, 3*time.Minute)
		checkStored(t, influx, l.cfg.Measurement, l.cfg.Ledger)
		t.Logf("%s: %d readings acknowledged by %s, each in InfluxDB once", l.cfg.Measurement, l.cfg.Ledger.Len(), node.Name)
	}
	for _, b := range bridges {
		if code, body, _ := b.get("/healthz"); code != http.StatusOK || !strings.Contains(body, `"input": "nats"`) {
			t.Errorf("%s /healthz: %d %s", b.clientID, code, body)
		}
	}
}

// An inputs entry of kind nats adds the cluster's stream to `mqflux
// serve`, beside its own broker: readings published over MQTT to a NATS
// node are stored, counted under the entry's name.
func TestNATSInputsEntryFeedsServe(t *testing.T) {
	cluster := testenv.StartNATSCluster(t, "")
	influx := testenv.StartInflux(t, testenv.WithoutFlux())
	urls := make([]string, 0, len(cluster.Nodes))
	for _, u := range cluster.URLs() {
		urls = append(urls, strconv.Quote(u))
	}
	srv := testenv.StartServer(t, testenv.ServerOptions{Influx: influx, Env: []string{
		"MQFLUX_INPUTS=[{name: cluster, kind: nats, urls: [" + strings.Join(urls, ", ") + "]}]",
	}})
	srv.WaitLog(t, "mqflux serving", "cluster")
	const n = 5
	waitFor(t, time.Minute, "the nats input consuming", func() bool {
		code, body := srv.HTTPGet(t, "/healthz")
		return code == http.StatusOK && !strings.Contains(body, "not consuming")
	})
	for i := range n {
		node := cluster.Nodes[i%len(cluster.Nodes)]
		if out, err := testenv.Pub(t, node.MQTTAddr, testenv.Login{}, "devices/pi-nats/sensors/nats_entry", fmt.Sprintf(`{"value": %d, "time": %d}`, i, 1795456800+i), "-q", "1"); err != nil {
			t.Fatalf("mosquitto_pub to %s: %v %s", node.Name, err, out)
		}
	}
	waitStored(t, influx, "nats_entry", n, time.Minute)
	if got := metric(t, srv, "mqflux_readings_spooled_total", `source="cluster"`); got != n {
		t.Errorf("spooled from source cluster: %v, want %d", got, n)
	}
	if got := metric(t, srv, "mqflux_nats_messages_settled_total", `input="cluster"`, `result="spooled"`); got != n {
		t.Errorf("acknowledged by the cluster input: %v, want %d", got, n)
	}
}
