package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mqflux/mqflux/internal/testenv"
)

// Three persistent devices/# sessions whose readers went away, as anyone
// tailing with `mosquitto_sub -c` leaves behind: their queues fill up to
// broker.max_offline_queue, every message past it is counted and logged
// once per session, no device reading is lost or refused, and a session
// that reconnects — before or after a restart — receives its queue in
// order, then live messages.
func TestOfflineSessionsDoNotStopIngest(t *testing.T) {
	const queueLen = 200
	influx := testenv.StartInflux(t)
	srv := testenv.StartServer(t, testenv.ServerOptions{Influx: influx,
		Env: []string{fmt.Sprintf("MQFLUX_BROKER_MAX_OFFLINE_QUEUE=%d", queueLen)}})
	sessions := []string{"tail-1", "tail-2", "tail-3"}
	for _, id := range sessions {
		s := testenv.Subscribe(t, srv.MQTT, testenv.DemoReader, "devices/#", "-q", "1", "-c", "-i", id, "-E")
		if err, stderr := s.Wait(30 * time.Second); err != nil {
			t.Fatalf("creating the persistent session %s: %v %s", id, err, stderr)
		}
	}

	// One device fills the queues, so that the queue's content is known
	// (its first readings) and the moment each fills has no publish racing
	// it; then ten devices publish at once into the full queues.
	acked := runBench(t, srv, influx, 1, 500)
	if acked <= queueLen {
		t.Fatalf("acked %d readings, need more than %d to fill the queues", acked, queueLen)
	}
	acked += runBench(t, srv, influx, 10, 100)
	_, metrics := srv.HTTPGet(t, "/metrics")
	want := float64(len(sessions) * (acked - queueLen))
	if got := metricValue(t, metrics, `mqflux_mqtt_messages_dropped_total{reason="offline_queue_full"}`); got != want {
		t.Errorf("dropped for full offline queues: %v, want %v (3 sessions × (%d acked − %d queued))", got, want, acked, queueLen)
	}
	logged := map[string]int{}
	for _, l := range strings.Split(srv.Log(), "\n") {
		if strings.Contains(l, "offline session queue full") {
			for _, id := range sessions {
				if strings.Contains(l, "client_id="+id+" ") {
					logged[id]++
				}
			}
		}
	}
	for _, id := range sessions {
		if logged[id] != 1 {
			t.Errorf("session %s: its full queue logged %d times, want once", id, logged[id])
		}
	}

	// A reconnect gets the queue in publish order: the device's first
	// readings, none missing.
	checkQueue(t, srv, "tail-1", queueLen)
	// A restart brings the other queues back in the same order.
	srv.Stop(t)
	srv.Start(t)
	checkQueue(t, srv, "tail-2", queueLen)

	// The queue was read: what comes next is live. mosquitto_sub -C may
	// leave before it acknowledges a message it printed, and QoS 1 sends
	// that one again; anything else before the live reading is an error.
	live := testenv.Subscribe(t, srv.MQTT, testenv.DemoReader, "devices/#", "-q", "1", "-c", "-i", "tail-1")
	const reading = "devices/demo-device/sensors/t 21.5"
	if out, err := testenv.Pub(t, srv.MQTT, testenv.DemoDevice, "devices/demo-device/sensors/t", "21.5", "-q", "1"); err != nil {
		t.Fatalf("publish: %v %s", err, out)
	}
	waitFor(t, 30*time.Second, "the live reading at tail-1", func() bool { return slices.Contains(live.Lines(), reading) })
	for _, l := range live.Lines() {
		if l == reading {
			break
		}
		_, payload, _ := strings.Cut(l, " ")
		var r struct{ Value int64 }
		if err := json.Unmarshal([]byte(payload), &r); err != nil || r.Value >= queueLen {
			t.Errorf("tail-1 after reading its queue got %q before the live reading, want at most a redelivery of its queue", l)
		}
	}
}

// runBench publishes devices×messages QoS 1 readings with the load tool
// and returns how many were acknowledged; it fails the test unless every
// one was acknowledged and stored.
func runBench(t *testing.T, srv *testenv.Server, influx *testenv.Influx, devices, messages int) int {
	t.Helper()
	cmd := exec.Command(srv.Bin, "bench",
		"-broker", "tcp://"+srv.MQTT,
		"-username", testenv.DemoGateway.User, "-password", testenv.DemoGateway.Password,
		"-devices", fmt.Sprint(devices), "-messages", fmt.Sprint(messages),
		"-influx", influx.URL, "-bucket", influx.Bucket(), "-token", influx.Token(),
		"-settle", "20s", "-timeout", "2m", "-json", "-progress", "0")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("mqflux bench exited with %v (readings failed or lost)\nstdout: %s\nstderr: %s\nserver log tail:\n%s",
			err, stdout.String(), stderr.String(), srv.Log())
	}
	var rep struct {
		Published, Acked, Failed, Resent int64
		Storage                          *struct{ Stored, Lost int64 }
	}
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, stdout.String())
	}
	if rep.Acked < int64(devices*messages) || rep.Acked != rep.Published || rep.Failed != 0 {
		t.Fatalf("published %d, acked %d, failed %d; want at least %d, all acked", rep.Published, rep.Acked, rep.Failed, devices*messages)
	}
	if rep.Storage == nil || rep.Storage.Stored != rep.Acked || rep.Storage.Lost != 0 {
		t.Fatalf("storage %+v, want all %d acked readings stored", rep.Storage, rep.Acked)
	}
	return int(rep.Acked)
}

// checkQueue reconnects session id and reads its n queued readings: the
// load tool's single device's first n, in the order it sent them (its
// values count from 0).
func checkQueue(t *testing.T, srv *testenv.Server, id string, n int) {
	t.Helper()
	sub := testenv.Subscribe(t, srv.MQTT, testenv.DemoReader, "devices/#", "-q", "1", "-c", "-i", id, "-C", fmt.Sprint(n))
	lines := sub.WaitLines(t, n, 60*time.Second)
	for i, l := range lines {
		_, payload, _ := strings.Cut(l, " ")
		var r struct{ Value int64 }
		if err := json.Unmarshal([]byte(payload), &r); err != nil {
			t.Fatalf("%s message %d: %q: %v", id, i, l, err)
		}
		if r.Value != int64(i) {
			t.Fatalf("%s message %d: value %d, want %d (the device's readings in order, from its first)", id, i, r.Value, i)
		}
	}
}
