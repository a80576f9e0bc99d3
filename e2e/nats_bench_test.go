package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"testing"

	"github.com/mqflux/mqflux/internal/testenv"
)

// TestClusterBench measures the single binary against the cluster tier
// (three NATS nodes, one and two `mqflux bridge`) with the same load: the
// load tool's devices publishing QoS 1 to one MQTT listener, every
// acknowledged reading checked in InfluxDB, CPU of every process counted.
// It runs only with MQFLUX_BENCH=cluster (BENCHMARKS.md, "Beyond one
// machine"); MQFLUX_BENCH_DURATION and MQFLUX_BENCH_DEVICES change the load.
func TestClusterBench(t *testing.T) {
	if os.Getenv("MQFLUX_BENCH") != "cluster" {
		t.Skip("a benchmark: set MQFLUX_BENCH=cluster")
	}
	duration, devices := envOr("MQFLUX_BENCH_DURATION", "20s"), envOr("MQFLUX_BENCH_DEVICES", "50")
	eachTier(t, nil, func(t *testing.T, bin, broker string, influx *testenv.Influx, pids map[string]int) {
		rep := clusterBenchRun(t, bin, broker, influx, pids, "-devices", devices, "-duration", duration)
		t.Logf("RESULT %s: stored %d at %.0f/s, publish→queryable p50 %.0f ms, p99 %.0f ms, max %.0f ms (%d probes), CPU %.1f s per million over all processes (%s)",
			t.Name(), rep.Storage.Stored, rep.Storage.StoredRate, rep.Storage.P50, rep.Storage.P99, rep.Storage.Max,
			rep.Storage.ProbesSeen, rep.cpu()/float64(rep.Storage.Stored)*1e6, rep.cpuLine())
	})
}

// TestClusterLatencyBench measures how long a reading takes from its MQTT
// PUBLISH until a query of InfluxDB returns it, for `mqflux serve` and for
// the cluster tier with one and two bridges, under a steady load every
// tier holds (by default 50 devices x 20 readings/s for 30 s, 1,000/s):
// every 50 ms the next reading goes to a probe measurement, and a poller
// asks InfluxDB every 20 ms which probes became visible (bench/README.md,
// "Latency probes"). Every probe must be seen; the times are only logged.
// It runs only with MQFLUX_BENCH=cluster; MQFLUX_BENCH_DURATION,
// MQFLUX_BENCH_DEVICES and MQFLUX_BENCH_RATE (readings per device per
// second) change the load.
func TestClusterLatencyBench(t *testing.T) {
	if os.Getenv("MQFLUX_BENCH") != "cluster" {
		t.Skip("a benchmark: set MQFLUX_BENCH=cluster")
	}
	duration, devices, rate := envOr("MQFLUX_BENCH_DURATION", "30s"), envOr("MQFLUX_BENCH_DEVICES", "50"), envOr("MQFLUX_BENCH_RATE", "20")
	// Both tiers flush to InfluxDB as often, so they differ in the broker
	// path alone.
	serveEnv := []string{"MQFLUX_INFLUX_FLUSH_INTERVAL=100ms"}
	eachTier(t, serveEnv, func(t *testing.T, bin, broker string, influx *testenv.Influx, pids map[string]int) {
		rep := clusterBenchRun(t, bin, broker, influx, pids, "-devices", devices, "-duration", duration, "-rate", rate,
			"-probe-every", "50ms", "-probe-poll", "20ms")
		if rep.Storage.ProbesSent == 0 || rep.Storage.ProbesSeen != rep.Storage.ProbesSent {
			t.Errorf("%d of %d probes seen in InfluxDB", rep.Storage.ProbesSeen, rep.Storage.ProbesSent)
		}
		t.Logf("RESULT %s: %d readings stored at %.0f/s; publish→queryable p50 %.0f ms, p99 %.0f ms, max %.0f ms over %d probes; CPU %.1f s per million (%s)",
			t.Name(), rep.Storage.Stored, rep.Storage.StoredRate, rep.Storage.P50, rep.Storage.P99, rep.Storage.Max,
			rep.Storage.ProbesSeen, rep.cpu()/float64(rep.Storage.Stored)*1e6, rep.cpuLine())
	})
}

// eachTier runs bench as a subtest against `mqflux serve` (serveEnv added
// to its environment) and against three NATS nodes with one and with two
// `mqflux bridge`, each on a fresh InfluxDB; broker is the MQTT listener
// the load goes to (node n1 for the cluster), pids the processes to
// account for.
func eachTier(t *testing.T, serveEnv []string, bench func(t *testing.T, bin, broker string, influx *testenv.Influx, pids map[string]int)) {
	bin := testenv.Build(t, "./cmd/mqflux")
	t.Run("single-binary", func(t *testing.T) {
		influx := testenv.StartInflux(t, testenv.WithoutFlux())
		srv := testenv.StartServer(t, testenv.ServerOptions{Influx: influx, Env: serveEnv})
		bench(t, bin, srv.MQTT, influx, map[string]int{"mqflux": srv.Pid()})
	})
	for _, n := range []int{1, 2} {
		t.Run(fmt.Sprintf("cluster-%d-bridges", n), func(t *testing.T) {
			cluster := testenv.StartNATSCluster(t, "")
			influx := testenv.StartInflux(t, testenv.WithoutFlux())
			pids := map[string]int{}
			for i, node := range cluster.Nodes {
				pids[fmt.Sprintf("nats-%d", i+1)] = node.Pid()
			}
			for i := range n {
				b := startNATSBridge(t, bin, cluster, influx, fmt.Sprintf("bench-bridge-%d", i+1), true)
				pids[fmt.Sprintf("mqflux-%d", i+1)] = b.proc.Pid()
			}
			bench(t, bin, cluster.Nodes[0].MQTTAddr, influx, pids)
		})
	}
}

// benchReport is the part of `mqflux bench -json` the benchmarks read.
type benchReport struct {
	Acked   int64   `json:"acked"`
	AckRate float64 `json:"ack_rate"`
	Storage struct {
		Stored     int64   `json:"stored"`
		Lost       int64   `json:"lost"`
		StoredRate float64 `json:"stored_rate"`
		ProbesSent int     `json:"probes_sent"`
		ProbesSeen int     `json:"probes_seen"`
		P50        float64 `json:"latency_p50_ms"`
		P99        float64 `json:"latency_p99_ms"`
		Max        float64 `json:"latency_max_ms"`
	} `json:"storage"`
	Processes []struct {
		Name string  `json:"name"`
		CPU  float64 `json:"cpu_seconds"`
	} `json:"processes"`
}

func (r *benchReport) cpu() float64 {
	var s float64
	for _, p := range r.Processes {
		s += p.CPU
	}
	return s
}

func (r *benchReport) cpuLine() string {
	line := ""
	for _, p := range r.Processes {
		line += fmt.Sprintf(" %s=%.1fs", p.Name, p.CPU)
	}
	return line
}

// clusterBenchRun runs `mqflux bench` (its own process, so its CPU is not
// the test's) against broker with InfluxDB checking, and fails the test
// unless every acknowledged reading was stored.
func clusterBenchRun(t *testing.T, bin, broker string, influx *testenv.Influx, pids map[string]int, load ...string) *benchReport {
	t.Helper()
	args := []string{"bench", "-broker", "tcp://" + broker,
		"-influx", influx.URL, "-bucket", influx.Bucket(), "-settle", "20s", "-timeout", "3m", "-json", "-progress", "0"}
	args = append(args, load...)
	pids["influxd"] = influx.Pid()
	for name, pid := range pids {
		args = append(args, "-pid", fmt.Sprintf("%s=%d", name, pid))
	}
	// The demo gateway of mqflux serve; nats-server without an
	// authorization block takes any login.
	args = append(args, "-username", testenv.DemoGateway.User, "-password", testenv.DemoGateway.Password)
	cmd := exec.Command(bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("mqflux bench: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	var rep benchReport
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("report: %v\n%s", err, stdout.String())
	}
	if rep.Storage.Lost != 0 || rep.Storage.Stored != rep.Acked {
		t.Errorf("stored %d of %d acknowledged, lost %d", rep.Storage.Stored, rep.Acked, rep.Storage.Lost)
	}
	return &rep
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
