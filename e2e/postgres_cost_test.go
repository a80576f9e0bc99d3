package e2e

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mqflux/mqflux/internal/testenv"
)

// TestOutputCostInfluxPostgres measures, in one run on one machine, what
// storing the same load costs with InfluxDB alone, PostgreSQL alone and
// both as outputs: readings stored per second end to end, and the CPU
// seconds per million readings of mqflux and of each store (BENCHMARKS.md,
// "PostgreSQL output beside InfluxDB"). It only reports; run it with
// MQFLUX_OUTPUT_COST=1 (MQFLUX_OUTPUT_COST_MESSAGES per device, 1000 by
// default, 50 devices).
func TestOutputCostInfluxPostgres(t *testing.T) {
	if os.Getenv("MQFLUX_OUTPUT_COST") == "" {
		t.Skip("set MQFLUX_OUTPUT_COST=1 to measure")
	}
	devices, messages := 50, 1000
	fmt.Sscan(os.Getenv("MQFLUX_OUTPUT_COST_MESSAGES"), &messages)
	in := testenv.StartInflux(t, testenv.WithoutFlux())
	pg := testenv.StartPostgres(t)
	influxOut := fmt.Sprintf("  - {name: influx, kind: influxdb, api: v2, url: %q, bucket: %q}\n", in.URL, in.Bucket())
	pgOut := fmt.Sprintf("  - {name: pg, kind: postgres, url: %q}\n", pg.URL())
	for _, run := range []struct {
		name       string
		outputs    string
		influx, pg bool
	}{
		{"influxdb", influxOut, true, false},
		{"postgres", pgOut, false, true},
		{"both", influxOut + pgOut, true, true},
	} {
		t.Run(run.name, func(t *testing.T) {
			srv := startWithOutputs(t, "outputs:\n"+run.outputs, "MQFLUX_LOG_LEVEL=info")
			cfg := gatewayLoad(t, srv, devices, messages)
			cfg.TimeStep = time.Microsecond
			cpu := func() map[string]float64 {
				return map[string]float64{"mqflux": procCPU(t, srv.Pid()), "influxd": procCPU(t, in.Pid()), "postgres": pg.CPUSeconds(t)}
			}
			before := cpu()
			start := time.Now()
			l := startLoad(t, cfg)
			rep := l.finish(t, 10*time.Minute)
			sent := devices * messages
			if run.influx {
				waitStored(t, in, cfg.Measurement, sent, 5*time.Minute)
			}
			if run.pg {
				waitFor(t, 5*time.Minute, "PostgreSQL holding every reading", func() bool {
					rows, err := pg.TryQuery(t.Context(), fmt.Sprintf(`SELECT count(*) FROM %q`, cfg.Measurement))
					return err == nil && rows[0][0].(int64) >= int64(sent)
				})
			}
			elapsed := time.Since(start)
			after := cpu()
			t.Logf("%s: %d readings stored in %.1fs: %.0f readings/s (acked at %.0f/s)",
				run.name, sent, elapsed.Seconds(), float64(sent)/elapsed.Seconds(), rep.AckRate)
			for _, name := range []string{"mqflux", "influxd", "postgres"} {
				if (name == "influxd" && !run.influx) || (name == "postgres" && !run.pg) {
					continue
				}
				s := after[name] - before[name]
				t.Logf("%s: cpu %s %.2fs, %.1f s per million readings", run.name, name, s, s/float64(sent)*1e6)
			}
		})
	}
}

// procCPU is utime+stime of a process, in seconds.
func procCPU(t *testing.T, pid int) float64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[strings.LastIndexByte(string(b), ')')+1:]))
	var utime, stime float64
	fmt.Sscan(f[11], &utime)
	fmt.Sscan(f[12], &stime)
	return (utime + stime) / 100 // USER_HZ
}
