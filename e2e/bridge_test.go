package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mqflux/mqflux/bench"
	"github.com/mqflux/mqflux/flow/deadletter"
	"github.com/mqflux/mqflux/internal/testenv"
)

// bridgeProc is a real `mqflux bridge` process started from the shipped
// config.yaml with the test's settings as MQFLUX_ overrides. Start again
// keeps its data dir, HTTP port and client id: the same persistent session.
type bridgeProc struct {
	bin, dataDir, http, clientID string
	env                          []string
	proc                         *testenv.Process
}

func startBridge(t *testing.T, bin, brokerAddr string, connected bool, influx *testenv.Influx, clientID string, filters ...string) *bridgeProc {
	t.Helper()
	b := &bridgeProc{
		bin: bin, dataDir: t.TempDir(), clientID: clientID,
		http: fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)),
	}
	quoted := make([]string, len(filters))
	for i, f := range filters {
		quoted[i] = strconv.Quote(f)
	}
	b.env = []string{
		"MQFLUX_DATA_DIR=" + b.dataDir,
		"MQFLUX_HTTP_ADDRESS=" + b.http,
		"MQFLUX_INFLUX_URL=" + influx.URL,
		"MQFLUX_INFLUX_BUCKET=" + influx.Bucket(),
		"MQFLUX_INFLUX_FLUSH_INTERVAL=100ms",
		"MQFLUX_INFLUX_DRAIN_TIMEOUT=30s",
		"MQFLUX_LOG_LEVEL=info",
		"MQFLUX_BRIDGE_URL=tcp://" + brokerAddr,
		"MQFLUX_BRIDGE_CLIENT_ID=" + clientID,
		"MQFLUX_BRIDGE_FILTERS=[" + strings.Join(quoted, ", ") + "]",
		"MQFLUX_BRIDGE_MAX_RECONNECT_INTERVAL=1s",
	}
	b.start(t, connected)
	return b
}

// start starts the process (again) and waits until /healthz answers: 200
// (connected to the broker) when connected is true, else anything.
func (b *bridgeProc) start(t *testing.T, connected bool) {
	t.Helper()
	b.proc = testenv.StartProcess(t, b.env, b.bin, "bridge", "-config", filepath.Join(testenv.ModuleRoot(t), "config.yaml"))
	// /healthz answers 200 only once the bridge is connected to the broker.
	deadline := time.Now().Add(60 * time.Second)
	for {
		select {
		case <-b.proc.Exited():
			t.Fatalf("mqflux bridge %s exited while starting: %v\n%s", b.clientID, b.proc.Err(), b.proc.Log.Tail(40))
		default:
		}
		if code, _, err := b.get("/healthz"); err == nil && (code == http.StatusOK || !connected) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("mqflux bridge %s not ready after 60s\n%s", b.clientID, b.proc.Log.Tail(40))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// stop sends SIGTERM and fails the test unless the bridge exits 0.
func (b *bridgeProc) stop(t *testing.T) {
	t.Helper()
	if err := b.proc.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("mqflux bridge %s did not stop cleanly: %v\n%s", b.clientID, err, b.proc.Log.Tail(30))
	}
}

// kill is a crash: SIGKILL, no chance to flush or disconnect.
func (b *bridgeProc) kill() { _ = b.proc.Signal(syscall.SIGKILL) }

func (b *bridgeProc) get(path string) (int, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+b.http+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// metric reads one sample of the running process's /metrics, 0 if absent.
func (b *bridgeProc) metric(t *testing.T, sample string) int {
	t.Helper()
	code, body, err := b.get("/metrics")
	if err != nil || code != http.StatusOK {
		t.Fatalf("GET /metrics of %s: %d %v", b.clientID, code, err)
	}
	re := regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(sample) + ` (\S+)$`)
	m := re.FindStringSubmatch(body)
	if m == nil {
		return 0
	}
	v, err := strconv.ParseFloat(m[1], 64)
	if err != nil {
		t.Fatalf("metric %s = %q: %v", sample, m[1], err)
	}
	return int(v)
}

const spooledSample = `mqflux_bridge_messages_acked_total{result="spooled"}`

// load publishes devices×messages QoS 1 readings with the load tool, each
// with a value unique in the run (0 to n-1) and its own timestamp.
func publishLoad(t *testing.T, broker *testenv.Mosquitto, measurement string, devices, messages int, rate float64) {
	t.Helper()
	if err := tryLoad(broker, measurement, devices, messages, rate); err != nil {
		t.Fatal(err)
	}
}

// tryLoad is load for a goroutine other than the test's.
func tryLoad(broker *testenv.Mosquitto, measurement string, devices, messages int, rate float64) error {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	rep, err := bench.Load(ctx, bench.Config{
		Broker: broker.Addr, Devices: devices, Messages: messages, Rate: rate, Inflight: 32, QoS: 1,
		Payload: "json", Topic: "devices/{device}/sensors/{measurement}", DevicePrefix: "pi-",
		Measurement: measurement, AckTimeout: 10 * time.Second, GiveUp: time.Minute,
		KeepAlive: time.Minute, ProbeEvery: time.Second,
	}, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		return fmt.Errorf("load: %w", err)
	}
	if want := int64(devices * messages); rep.Acked != want || rep.Failed != 0 {
		return fmt.Errorf("load: %d of %d readings acknowledged by the broker, %d failed", rep.Acked, want, rep.Failed)
	}
	return nil
}

// Readings published QoS 1 to a Debian mosquitto reach InfluxDB through
// `mqflux bridge`, every one, with the values and timestamps as sent.
func TestBridgeStoresEveryReading(t *testing.T) {
	influx := testenv.StartInflux(t, testenv.WithoutFlux())
	broker := testenv.StartMosquitto(t, "")
	br := startBridge(t, testenv.Build(t, "./cmd/mqflux"), broker.Addr, true, influx, "mqflux-bridge-1", "devices/#")

	exact := []struct{ topic, payload string }{
		{"devices/pi-a/sensors/temperature", `{"value": 21.5, "time": "2026-11-23T18:00:00.123Z"}`},
		{"devices/pi-a/sensors/temperature", `{"value": 22, "time": 1795456801}`},
		{"devices/pi-b/sensors/temperature", `{"value": -3.25, "time": "2026-11-23T18:00:02.5Z"}`},
		{"devices/pi-a/sensors/climate", `{"temperature": 20.5, "humidity": 40.1, "time": "2026-11-23T18:00:03Z"}`},
	}
	for _, m := range exact {
		if out, err := testenv.Pub(t, broker.Addr, testenv.Login{}, m.topic, m.payload, "-q", "1"); err != nil {
			t.Fatalf("mosquitto_pub %s: %v %s", m.topic, err, out)
		}
	}
	// Not a reading: dead-lettered and acknowledged, never retried.
	if out, err := testenv.Pub(t, broker.Addr, testenv.Login{}, "devices/pi-a/sensors/temperature", "warm", "-q", "1"); err != nil {
		t.Fatalf("mosquitto_pub: %v %s", err, out)
	}

	const devices, messages = 4, 500
	publishLoad(t, broker, "bench_bridge", devices, messages, 0)
	waitStored(t, influx, "bench_bridge", devices*messages, 3*time.Minute)

	for influx.Count(t, "climate", "humidity") < 1 {
		time.Sleep(100 * time.Millisecond)
	}
	rows := func(q string) string {
		var b strings.Builder
		for _, s := range influx.Query(t, q) {
			for _, r := range s.Values {
				fmt.Fprintln(&b, r...)
			}
		}
		return b.String()
	}
	if got, want := rows(`SELECT value, device FROM temperature ORDER BY time`),
		"1795456800123000000 21.5 pi-a\n1795456801000000000 22 pi-a\n1795456802500000000 -3.25 pi-b\n"; got != want {
		t.Errorf("temperature rows:\n%s\nwant:\n%s", got, want)
	}
	if got, want := rows(`SELECT temperature, humidity, device FROM climate`),
		"1795456803000000000 20.5 40.1 pi-a\n"; got != want {
		t.Errorf("climate rows:\n%s\nwant:\n%s", got, want)
	}
	if got := br.metric(t, `mqflux_bridge_messages_acked_total{result="rejected"}`); got != 1 {
		t.Errorf("rejected and acknowledged: %d, want 1", got)
	}
	dead, err := os.ReadFile(deadletter.PathIn(br.dataDir))
	if err != nil || !bytes.Contains(dead, []byte("warm")) {
		t.Errorf("dead-letter file lacks the rejected payload: %v %q", err, dead)
	}
	if got, want := br.metric(t, spooledSample), devices*messages+len(exact); got != want {
		t.Errorf("spooled and acknowledged: %d, want %d", got, want)
	}
	code, body, _ := br.get("/healthz")
	var h struct {
		Status string `json:"status"`
		Broker struct {
			Connected bool `json:"connected"`
		} `json:"broker"`
	}
	if err := json.Unmarshal([]byte(body), &h); err != nil || code != 200 || h.Status != "ok" || !h.Broker.Connected {
		t.Errorf("/healthz = %d %s", code, body)
	}
	br.stop(t)
}

// Two bridges sharing $share/mqflux/devices/# split one stream: each gets
// part of it, together every reading exactly once.
func TestSharedSubscriptionSplitsTheStream(t *testing.T) {
	influx := testenv.StartInflux(t, testenv.WithoutFlux())
	broker := testenv.StartMosquitto(t, "")
	bin := testenv.Build(t, "./cmd/mqflux")
	a := startBridge(t, bin, broker.Addr, true, influx, "mqflux-bridge-a", "$share/mqflux/devices/#")
	b := startBridge(t, bin, broker.Addr, true, influx, "mqflux-bridge-b", "$share/mqflux/devices/#")

	const devices, messages = 4, 2500
	publishLoad(t, broker, "bench_shared", devices, messages, 0)
	waitStored(t, influx, "bench_shared", devices*messages, 3*time.Minute)

	na, nb := a.metric(t, spooledSample), b.metric(t, spooledSample)
	t.Logf("bridge a spooled %d, bridge b %d", na, nb)
	if na == 0 || nb == 0 || na+nb != devices*messages {
		t.Errorf("bridges spooled %d + %d, want both some and %d together", na, nb, devices*messages)
	}
	a.stop(t)
	b.stop(t)
}

// One of two sharing bridges dies by SIGKILL in the middle of a stream and
// starts again with its client id: every reading the broker acknowledged
// to the publisher is stored, each exactly once. Mosquitto keeps sending
// the dead member its share into its persistent session (and keeps what it
// had unacknowledged), so the restart is what delivers those.
func TestBridgeKilledMidway(t *testing.T) {
	influx := testenv.StartInflux(t, testenv.WithoutFlux())
	broker := testenv.StartMosquitto(t, "")
	bin := testenv.Build(t, "./cmd/mqflux")
	a := startBridge(t, bin, broker.Addr, true, influx, "mqflux-bridge-a", "$share/mqflux/devices/#")
	b := startBridge(t, bin, broker.Addr, true, influx, "mqflux-bridge-b", "$share/mqflux/devices/#")

	const devices, messages = 4, 4000
	done := make(chan error, 1)
	go func() { done <- tryLoad(broker, "bench_kill", devices, messages, 800) }()

	waitMetric(t, a, spooledSample, 2000)
	a.kill()
	select {
	case err := <-done:
		t.Fatalf("the stream ended before the kill (%v): nothing was in flight to lose", err)
	default:
	}
	before := b.metric(t, spooledSample)
	waitMetric(t, b, spooledSample, before+1000) // the stream goes on meanwhile
	a.start(t, true)

	if err := <-done; err != nil {
		t.Fatal(err)
	}
	waitStored(t, influx, "bench_kill", devices*messages, 3*time.Minute)
	got := a.metric(t, spooledSample)
	t.Logf("before the kill bridge a spooled at least 2000; after its restart %d (its session's share), bridge b %d", got, b.metric(t, spooledSample))
	if got == 0 {
		t.Errorf("the restarted bridge spooled nothing: its session's messages were not redelivered to it")
	}
	a.stop(t)
	b.stop(t)
}

func waitMetric(t *testing.T, b *bridgeProc, sample string, atLeast int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for b.metric(t, sample) < atLeast {
		if time.Now().After(deadline) {
			t.Fatalf("%s of %s stayed below %d for 2 minutes", sample, b.clientID, atLeast)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A bridge whose broker does not answer says so (/healthz 503, a log line),
// keeps retrying, and still stops cleanly on SIGTERM.
func TestBridgeWithoutBroker(t *testing.T) {
	influx := testenv.StartInflux(t, testenv.WithoutFlux())
	nowhere := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	br := startBridge(t, testenv.Build(t, "./cmd/mqflux"), nowhere, false, influx, "mqflux-bridge-alone", "devices/#")
	code, body, err := br.get("/healthz")
	if err != nil || code != http.StatusServiceUnavailable || !strings.Contains(body, `"status": "disconnected"`) {
		t.Errorf("/healthz = %d %v %s, want 503 disconnected", code, err, body)
	}
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(br.proc.Log.Tail(20), "broker unreachable, retrying") {
		if time.Now().After(deadline) {
			t.Fatalf("no retry logged within 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if got := br.metric(t, "mqflux_bridge_connected"); got != 0 {
		t.Errorf("mqflux_bridge_connected = %d, want 0", got)
	}
	br.stop(t)
}
