package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mqflux/mqflux/internal/testenv"
)

// The nats input under attack: a bridge with a wrong NATS password takes
// nothing and says so; MQTT logins with wrong passwords in bulk are
// refused on every node; malformed readings published over MQTT are
// dead-lettered by mqflux with their reason and acknowledged to NATS
// (never redelivered, never blocking the stream), and the good reading
// behind them is stored.
func TestNATSBridgeHostile(t *testing.T) {
	cluster := testenv.StartNATSCluster(t, `authorization {
  users: [
    {user: mqflux, password: "bridge-pass"}
    {user: dev, password: "dev-pass"}
  ]
}`)
	influx := testenv.StartInflux(t, testenv.WithoutFlux())
	bin := testenv.Build(t, "./cmd/mqflux")
	dir := t.TempDir()
	wrong, right := filepath.Join(dir, "wrong"), filepath.Join(dir, "right")
	if err := os.WriteFile(wrong, []byte("guess\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(right, []byte("bridge-pass\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	bad := startNATSBridge(t, bin, cluster, influx, "nats-bridge-wrong-password", false, "MQFLUX_BRIDGE_NATS_USER=mqflux", "MQFLUX_BRIDGE_NATS_PASSWORD_FILE="+wrong)
	waitFor(t, time.Minute, "the refused bridge to say why", func() bool {
		return strings.Contains(strings.ToLower(bad.proc.Log.String()), "authorization violation")
	})
	if code, body, _ := bad.get("/healthz"); code != http.StatusServiceUnavailable || !strings.Contains(body, "not consuming the NATS stream") {
		t.Errorf("bridge with a wrong password: /healthz %d %s, want 503 naming the stream", code, body)
	}
	bad.kill()
	br := startNATSBridge(t, bin, cluster, influx, "nats-bridge", true, "MQFLUX_BRIDGE_NATS_USER=mqflux", "MQFLUX_BRIDGE_NATS_PASSWORD_FILE="+right)

	// Wrong passwords in bulk, to every node.
	for i := range 30 {
		node := cluster.Nodes[i%len(cluster.Nodes)]
		if out, err := testenv.Pub(t, node.MQTTAddr, testenv.Login{User: "dev", Password: fmt.Sprintf("guess-%d", i)}, "devices/dev/sensors/t", "1", "-q", "1"); err == nil {
			t.Fatalf("a wrong password was accepted by %s: %s", node.Name, out)
		}
	}

	dev := testenv.Login{User: "dev", Password: "dev-pass"}
	malformed := []string{`NaN`, `{"value": {"nested": {"deeper": 1}}}`, "\x01\x02\xff garbage", `{"value":`, `{"value": 1, "device": "someone-else"}`}
	for i, m := range malformed {
		node := cluster.Nodes[i%len(cluster.Nodes)]
		if out, err := testenv.Pub(t, node.MQTTAddr, dev, "devices/dev/sensors/hostile", m, "-q", "1"); err != nil {
			t.Fatalf("mosquitto_pub %q: %v %s", m, err, out)
		}
	}
	// Over mapping.max_payload_bytes (64 KiB), under nats-server's 1 MiB.
	if out, err := testenv.Pub(t, cluster.Nodes[1].MQTTAddr, dev, "devices/dev/sensors/hostile", strings.Repeat("9", 100<<10), "-q", "1"); err != nil {
		t.Fatalf("mosquitto_pub 100 KiB: %v %s", err, out)
	}
	if out, err := testenv.Pub(t, cluster.Nodes[2].MQTTAddr, dev, "devices/dev/sensors/hostile", `{"value": 42, "time": 1795456800}`, "-q", "1"); err != nil {
		t.Fatalf("mosquitto_pub: %v %s", err, out)
	}
	waitStored(t, influx, "hostile", 1, time.Minute)
	rejected := len(malformed) + 1
	sample := `mqflux_nats_messages_settled_total{result="rejected"}`
	waitFor(t, time.Minute, "every malformed reading dead-lettered and acknowledged", func() bool { return br.metric(t, sample) == rejected })
	waitFor(t, time.Minute, "the dead letters on disk", func() bool {
		b, _ := os.ReadFile(filepath.Join(br.dataDir, "dead-letter.jsonl"))
		return bytes.Count(b, []byte("\n")) == rejected
	})
	time.Sleep(6 * time.Second) // longer than ack_wait: nothing comes again
	if n := br.metric(t, sample); n != rejected {
		t.Errorf("%d rejections after ack_wait, want %d: a dead-lettered message came again", n, rejected)
	}
	if n := count(influx, "hostile"); n != 1 {
		t.Errorf("%d points of hostile stored, want the one good reading", n)
	}
}
