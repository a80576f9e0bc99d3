package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/mqflux/mqflux/internal/testenv"
)

// startAgent runs a real mqflux-device process.
func startAgent(t *testing.T, bin, config string) *testenv.Process {
	t.Helper()
	return testenv.StartProcess(t, nil, bin, "-config", config)
}

type point struct {
	time  int64
	value float64
}

// stored returns every point of a measurement in time order.
func stored(t *testing.T, in *testenv.Influx, measurement string) []point {
	t.Helper()
	var out []point
	for _, s := range in.Query(t, `SELECT "value" FROM "`+measurement+`" WHERE "device" = 'demo-device' ORDER BY time ASC`) {
		for _, r := range s.Rows() {
			v, _ := strconv.ParseFloat(fmt.Sprint(r["value"]), 64)
			ts, _ := strconv.ParseInt(fmt.Sprint(r["time"]), 10, 64)
			out = append(out, point{ts, v})
		}
	}
	return out
}

func waitDevicePoints(t *testing.T, in *testenv.Influx, measurement string, atLeast int) {
	t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	for {
		if n := len(stored(t, in, measurement)); n >= atLeast {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("fewer than %d %s points after 90s", atLeast, measurement)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// The Pi agent with counting sim sensors publishes through mqflux serve into
// InfluxDB. The server is stopped for a while and started again, and the
// agent is killed with SIGKILL while readings wait in its queue: in the end
// every reading it took is stored exactly once, with the time it was taken.
func TestDeviceAgentThroughServer(t *testing.T) {
	in := testenv.StartInflux(t, testenv.WithoutFlux())
	srv := testenv.StartServer(t, testenv.ServerOptions{Influx: in})
	bin := testenv.Build(t, "./cmd/mqflux-device")
	dir := t.TempDir()
	config := filepath.Join(dir, "device.yaml")
	yaml := fmt.Sprintf(`device:
  id: demo-device
  broker: tcp://%s
  username: demo-device
  password: demo-device-pass
  max_reconnect_interval: 1s
  queue: {dir: %s, max_bytes: 4MiB, fsync: always}
  sensors:
    - {kind: sim, measurement: a, interval: 100ms, base: 0, step: 1, amplitude: 0, noise: 0}
    - {kind: sim, measurement: b, interval: 150ms, base: 1000, step: 1, amplitude: 0, noise: 0}
`, srv.MQTT, filepath.Join(dir, "queue"))
	if err := os.WriteFile(config, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}

	first := startAgent(t, bin, config)
	waitDevicePoints(t, in, "a", 10)

	// The broker goes away: the agent keeps sampling into its queue.
	srv.Stop(t)
	time.Sleep(3 * time.Second)
	srv.Start(t)
	before := len(stored(t, in, "a"))
	waitDevicePoints(t, in, "a", before+20) // the outage's readings and more

	// Again, and this time the agent dies with readings queued.
	srv.Stop(t)
	queuedFrom := time.Now()
	time.Sleep(2 * time.Second)
	_ = first.Signal(syscall.SIGKILL)
	killedAt := time.Now()
	srv.Start(t)
	second := startAgent(t, bin, config)
	before = len(stored(t, in, "a"))
	waitDevicePoints(t, in, "a", before+20)
	_ = second.Signal(syscall.SIGTERM) // drains what it can, then exits

	// Everything taken is stored: in time order the values count up without
	// a gap, restarting from the base once, where the second agent began.
	time.Sleep(2 * time.Second) // the last batch's flush interval
	for _, m := range []struct {
		name string
		base float64
	}{{"a", 0}, {"b", 1000}} {
		pts := stored(t, in, m.name)
		checkRuns(t, m.name, m.base, pts, 2)
		// The readings the killed agent held in its queue arrived too.
		queued := 0
		for _, p := range pts {
			if p.time > queuedFrom.UnixNano() && p.time < killedAt.UnixNano() {
				queued++
			}
		}
		if queued < 3 {
			t.Errorf("%s: only %d readings taken while the server was down before the kill were stored", m.name, queued)
		}
	}
}

// checkRuns verifies that the points of a counting sensor, in time order,
// form exactly `runs` runs base, base+1, ... (one per agent process) with
// no gap and no repeat.
func checkRuns(t *testing.T, name string, base float64, pts []point, runs int) {
	t.Helper()
	if len(pts) == 0 || pts[0].value != base {
		t.Fatalf("%s: first stored point %v, want value %v", name, pts[:min(1, len(pts))], base)
	}
	got := 1
	for i := 1; i < len(pts); i++ {
		switch {
		case pts[i].value == pts[i-1].value+1:
		case pts[i].value == base:
			got++
		default:
			t.Fatalf("%s: after %v at %d comes %v at %d: a reading is missing or repeated",
				name, pts[i-1].value, pts[i-1].time, pts[i].value, pts[i].time)
		}
	}
	if got != runs {
		t.Fatalf("%s: %d runs of values, want %d (one per agent process)", name, got, runs)
	}
	t.Logf("%s: %d readings stored in %d unbroken runs", name, len(pts), got)
}
