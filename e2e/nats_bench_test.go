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
	bin := testenv.Build(t, "./cmd/mqflux")
	run := func(t *testing.T, broker string, influx *testenv.Influx, pids map[string]int) {
		args := []string{"bench", "-broker", "tcp://" + broker, "-devices", devices, "-duration", duration,
			"-influx", influx.URL, "-bucket", influx.Bucket(), "-settle", "20s", "-timeout", "3m", "-json", "-progress", "0"}
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
		var rep struct {
			Acked   int64 `json:"acked"`
			Storage struct {
				Stored     int64   `json:"stored"`
				Lost       int64   `json:"lost"`
				StoredRate float64 `json:"stored_rate"`
				P99        float64 `json:"latency_p99_ms"`
			} `json:"storage"`
			Processes []struct {
				Name string  `json:"name"`
				CPU  float64 `json:"cpu_seconds"`
			} `json:"processes"`
		}
		if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
			t.Fatalf("report: %v\n%s", err, stdout.String())
		}
		var cpu float64
		line := ""
		for _, p := range rep.Processes {
			cpu += p.CPU
			line += fmt.Sprintf(" %s=%.1fs", p.Name, p.CPU)
		}
		if rep.Storage.Lost != 0 || rep.Storage.Stored != rep.Acked {
			t.Errorf("stored %d of %d acknowledged, lost %d", rep.Storage.Stored, rep.Acked, rep.Storage.Lost)
		}
		t.Logf("RESULT %s: stored %d at %.0f/s, p99 %.0f ms, CPU %.1f s per million over all processes (%s)",
			t.Name(), rep.Storage.Stored, rep.Storage.StoredRate, rep.Storage.P99, cpu/float64(rep.Storage.Stored)*1e6, line)
	}

	t.Run("single-binary", func(t *testing.T) {
		influx := testenv.StartInflux(t, testenv.WithoutFlux())
		srv := testenv.StartServer(t, testenv.ServerOptions{Influx: influx})
		run(t, srv.MQTT, influx, map[string]int{"mqflux": srv.Pid()})
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
			run(t, cluster.Nodes[0].MQTTAddr, influx, pids)
		})
	}
}

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}
