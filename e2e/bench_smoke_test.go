package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os/exec"
	"testing"

	"github.com/mqflux/mqflux/internal/testenv"
)

// A short `mqflux bench` run against a real `mqflux serve` and a real
// InfluxDB: every reading acknowledged is stored, the tool says so with its
// exit status, and its report accounts for the server's CPU. This is the
// load behind `make bench-compare` and BENCHMARKS.md, kept small.
func TestBenchSmoke(t *testing.T) {
	influx := testenv.StartInflux(t)
	srv := testenv.StartServer(t, testenv.ServerOptions{Influx: influx})

	const devices, messages = 10, 40
	cmd := exec.Command(srv.Bin, "bench",
		"-broker", "tcp://"+srv.MQTT,
		"-username", testenv.DemoGateway.User, "-password", testenv.DemoGateway.Password,
		"-devices", fmt.Sprint(devices), "-messages", fmt.Sprint(messages),
		"-influx", influx.URL, "-bucket", influx.Bucket(), "-token", influx.Token(),
		"-settle", "20s", "-timeout", "1m",
		"-pid", fmt.Sprintf("mqflux=%d", srv.Pid()),
		"-json", "-progress", "0")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("mqflux bench exited with %v (readings failed or lost)\nstdout: %s\nstderr: %s\nserver log tail:\n%s",
			err, stdout.String(), stderr.String(), srv.Log())
	}

	var rep struct {
		Published, Acked, Failed int64
		Storage                  *struct {
			Stored, Lost int64
			Complete     bool
		}
		Processes []struct {
			Name       string
			CPUSeconds float64 `json:"cpu_seconds"`
		}
	}
	if err := json.Unmarshal(stdout.Bytes(), &rep); err != nil {
		t.Fatalf("report is not JSON: %v\n%s", err, stdout.String())
	}
	// Latency probes are extra readings, so at least devices×messages.
	if rep.Acked < devices*messages || rep.Acked != rep.Published || rep.Failed != 0 {
		t.Errorf("published %d, acked %d, failed %d; want at least %d, all acked", rep.Published, rep.Acked, rep.Failed, devices*messages)
	}
	if rep.Storage == nil {
		t.Fatalf("report has no storage section:\n%s", stdout.String())
	}
	if rep.Storage.Stored != rep.Acked || rep.Storage.Lost != 0 || !rep.Storage.Complete {
		t.Errorf("stored %d of %d acked, lost %d, complete %v", rep.Storage.Stored, rep.Acked, rep.Storage.Lost, rep.Storage.Complete)
	}
	var sawServer bool
	for _, p := range rep.Processes {
		if p.Name == "mqflux" {
			sawServer = p.CPUSeconds > 0
		}
	}
	if !sawServer {
		t.Errorf("report has no CPU seconds for mqflux: %+v", rep.Processes)
	}
}
