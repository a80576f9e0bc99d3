package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mqflux/mqflux/internal/testenv"
)

// Several outputs fed from one spool (README, "Outputs"): a real InfluxDB
// 1.8 as the required output and a real VictoriaMetrics as an optional
// one, the load tool as the publisher, a ledger of acknowledged readings.

// TestOutputDownOthersGoOn: VictoriaMetrics stops for 30 s in the middle of
// a stream. InfluxDB keeps receiving, publishers keep getting PUBACKs,
// /healthz names the output that is down; once VictoriaMetrics is back it
// catches up, and both end with every acknowledged reading exactly once.
func TestOutputDownOthersGoOn(t *testing.T) {
	const devices, messages = 20, 2000
	in := testenv.StartInflux(t, testenv.WithoutFlux())
	vm := testenv.StartVictoria(t)
	srv := startWithOutputs(t, outputsConfig(in, vm, ""))
	cfg := gatewayLoad(t, srv, devices, messages)
	cfg.TimeStep = time.Millisecond // VictoriaMetrics keeps milliseconds
	cfg.Rate = 40                   // per device: 800 readings/s, the stream lasts about 50 s
	l := startLoad(t, cfg)

	waitFor(t, time.Minute, "2000 readings acknowledged", func() bool { return cfg.Ledger.Len() >= 2000 })
	waitFor(t, time.Minute, "readings in both outputs before the outage", func() bool {
		return count(in, cfg.Measurement) > 0 && vmCount(t, vm, cfg.Measurement) > 0
	})
	vm.Stop(t)
	down := time.Now()
	ackedAtStop, inAtStop := cfg.Ledger.Len(), count(in, cfg.Measurement)
	waitFor(t, time.Minute, "/healthz naming vm as down", func() bool {
		h := outputsHealth(t, srv)
		return h.Status == "degraded" && !h.output(t, "vm").Up && h.output(t, "influx").Up &&
			strings.Contains(h.Readiness, "vm")
	})
	time.Sleep(time.Until(down.Add(30 * time.Second)))
	if got := count(in, cfg.Measurement); got <= inAtStop {
		t.Fatalf("InfluxDB held %d points when vm stopped and %d after 30 s: it must keep receiving", inAtStop, got)
	}
	if acked := cfg.Ledger.Len() - ackedAtStop; acked <= 0 {
		t.Fatalf("no reading acknowledged while vm was down")
	}
	if cfg.Ledger.Len() >= devices*messages {
		t.Fatalf("the stream ended while vm was down; the test wants it back before the end")
	}
	vm.Start(t)

	l.finish(t, 3*time.Minute)
	sent := devices * messages
	waitStored(t, in, cfg.Measurement, sent, 2*time.Minute)
	checkStored(t, in, cfg.Measurement, cfg.Ledger)
	last := 0
	waitFor(t, 3*time.Minute, "vm holding every reading", func() bool {
		if n := vmCount(t, vm, cfg.Measurement); n != last {
			t.Logf("VictoriaMetrics holds %d of %d readings", n, sent)
			last = n
		}
		return last >= sent
	})
	if n := vm.Count(t, cfg.Measurement, "value"); n != sent {
		t.Errorf("VictoriaMetrics holds %d readings, %d were acknowledged", n, sent)
	}
	if n := metric(t, srv, "mqflux_output_skipped_total", `output="vm"`); n != 0 {
		t.Errorf("vm skipped %.0f readings within its max_lag", n)
	}
	waitFor(t, time.Minute, "/healthz ok again", func() bool { return healthStatus(t, srv) == "ok" })
}

// TestOptionalOutputSkipsAhead: VictoriaMetrics, optional with a 1 MiB
// max_lag, stays down while several MiB are published into a 2 MiB spool.
// It skips ahead and counts what it skipped: what it ends with plus what it
// skipped is what was sent. InfluxDB, the required output, has every
// reading, and the optional output never pushes a publisher back.
func TestOptionalOutputSkipsAhead(t *testing.T) {
	const devices, messages = 40, 1000 // about 4 MiB of spool records
	in := testenv.StartInflux(t, testenv.WithoutFlux())
	vm := testenv.StartVictoria(t)
	vm.Stop(t)
	srv := startWithOutputs(t, outputsConfig(in, vm, "1MiB"),
		"MQFLUX_SPOOL_MAX_BYTES=2MiB", "MQFLUX_SPOOL_SEGMENT_BYTES=64KiB")
	cfg := gatewayLoad(t, srv, devices, messages)
	cfg.TimeStep = time.Millisecond // VictoriaMetrics keeps milliseconds
	cfg.Rate = 50                   // per device: 2,000 readings/s, well within what InfluxDB takes
	l := startLoad(t, cfg)

	l.finish(t, 3*time.Minute)
	sent := devices * messages
	waitStored(t, in, cfg.Measurement, sent, 2*time.Minute)
	checkStored(t, in, cfg.Measurement, cfg.Ledger)
	if n := metric(t, srv, "mqflux_readings_pushed_back_total"); n != 0 {
		t.Errorf("%.0f readings pushed back; an optional output must never cause that", n)
	}
	skipped := metric(t, srv, "mqflux_output_skipped_total", `output="vm"`)
	if skipped <= 0 {
		t.Fatalf("vm fell %d readings behind a 1MiB max_lag and skipped none", sent)
	}
	if h := outputsHealth(t, srv).output(t, "vm"); float64(h.Skipped) != skipped {
		t.Errorf("/healthz says vm skipped %d, /metrics %.0f", h.Skipped, skipped)
	}

	vm.Start(t)
	waitFor(t, 2*time.Minute, "vm caught up", func() bool {
		o := outputsHealth(t, srv).output(t, "vm")
		return o.Up && o.LagRecords == 0
	})
	want := sent - int(skipped)
	waitFor(t, 2*time.Minute, "vm holding what it did not skip", func() bool { return vmCount(t, vm, cfg.Measurement) >= want })
	if n := vm.Count(t, cfg.Measurement, "value"); n+int(skipped) != sent {
		t.Errorf("VictoriaMetrics holds %d readings and vm skipped %.0f: %d, %d were sent", n, skipped, n+int(skipped), sent)
	}
	if n := count(in, cfg.Measurement); n != int64(sent) {
		t.Errorf("InfluxDB holds %d readings after vm caught up, want %d", n, sent)
	}
}

// TestOneOutputFromTheList: an outputs: list of one InfluxDB, named as the
// operator likes, stores readings as influx: did, and /healthz and
// /v1/pipeline report it by that name (the influx object stays, as the
// first output).
func TestOneOutputFromTheList(t *testing.T) {
	in := testenv.StartInflux(t, testenv.WithoutFlux())
	srv := startWithOutputs(t, fmt.Sprintf("outputs:\n  - {name: store, api: v2, url: %q, bucket: %q}\n", in.URL, in.Bucket()))
	m := measurementFor(t)
	if out, err := testenv.Pub(t, srv.MQTT, testenv.DemoGateway, "devices/pi-one/sensors/"+m, `{"value": 7}`, "-q", "1"); err != nil {
		t.Fatalf("mosquitto_pub: %v\n%s", err, out)
	}
	waitStored(t, in, m, 1, time.Minute)

	h := outputsHealth(t, srv)
	if o := h.output(t, "store"); len(h.Outputs) != 1 || !o.Required || !o.Up {
		t.Errorf("/healthz outputs = %+v, want store alone, required and up", h.Outputs)
	}
	code, body := srv.HTTPGet(t, "/healthz")
	var legacy struct {
		Influx struct {
			URL string `json:"url"`
			Up  bool   `json:"up"`
		} `json:"influx"`
	}
	if err := json.Unmarshal([]byte(body), &legacy); err != nil || code != 200 || legacy.Influx.URL != in.URL || !legacy.Influx.Up {
		t.Errorf("/healthz influx = %+v (%d %v), want the first output, %s, up", legacy.Influx, code, err, in.URL)
	}
	var p struct {
		Outputs []struct {
			Name    string  `json:"name"`
			Target  string  `json:"target"`
			Written float64 `json:"written"`
		} `json:"outputs"`
	}
	code, body = srv.HTTPGet(t, "/v1/pipeline")
	if err := json.Unmarshal([]byte(body), &p); err != nil || code != 200 {
		t.Fatalf("GET /v1/pipeline = %d %q: %v", code, body, err)
	}
	if len(p.Outputs) != 1 || p.Outputs[0].Name != "store" || p.Outputs[0].Target != in.URL || p.Outputs[0].Written < 1 {
		t.Errorf("/v1/pipeline outputs = %+v, want store at %s with the reading written", p.Outputs, in.URL)
	}
}

// outputsConfig is the outputs: list of these tests: InfluxDB required
// (write API v2, which 1.8 offers), VictoriaMetrics optional on its /write
// (API v1), with maxLag as its max_lag when not "".
func outputsConfig(in *testenv.Influx, vm *testenv.Victoria, maxLag string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "outputs:\n")
	fmt.Fprintf(&b, "  - {name: influx, kind: influxdb, api: v2, url: %q, bucket: %q, required: true, drain_timeout: 30s}\n", in.URL, in.Bucket())
	fmt.Fprintf(&b, "  - {name: vm, kind: influxdb, api: v1, url: %q, bucket: telemetry, required: false, max_backoff: 500ms", vm.URL)
	if maxLag != "" {
		fmt.Fprintf(&b, ", max_lag: %s", maxLag)
	}
	b.WriteString("}\n")
	return b.String()
}

// startWithOutputs starts `mqflux serve` from the shipped config.yaml (its
// demo users) with the outputs: list appended. It does not use
// testenv.StartServer, which sets influx.* for a single output.
func startWithOutputs(t *testing.T, outputs string, env ...string) *testenv.Server {
	t.Helper()
	root := testenv.ModuleRoot(t)
	base, err := os.ReadFile(filepath.Join(root, "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, append(base, "\n"+outputs...), 0o600); err != nil {
		t.Fatal(err)
	}
	s := &testenv.Server{
		Bin:     testenv.Build(t, "./cmd/mqflux"),
		DataDir: t.TempDir(),
		MQTT:    fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)),
		HTTP:    fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)),
		Config:  path,
	}
	s.Env = append([]string{
		"MQFLUX_DATA_DIR=" + s.DataDir,
		"MQFLUX_BROKER_TCP=" + s.MQTT,
		"MQFLUX_HTTP_ADDRESS=" + s.HTTP,
		"MQFLUX_LOG_LEVEL=debug",
	}, env...)
	s.Start(t)
	return s
}

// vmCount is how many points of the measurement VictoriaMetrics holds; 0
// while it does not answer.
func vmCount(t *testing.T, vm *testenv.Victoria, measurement string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, err := vm.TryCount(ctx, measurement, "value")
	if err != nil {
		t.Logf("counting in VictoriaMetrics: %v", err)
		return 0
	}
	return n
}

// healthOutputs is what these tests read of /healthz.
type healthOutputs struct {
	Status    string         `json:"status"`
	Readiness string         `json:"readiness"`
	Outputs   []healthOutput `json:"outputs"`
}

type healthOutput struct {
	Name       string `json:"name"`
	Required   bool   `json:"required"`
	Up         bool   `json:"up"`
	LagRecords int64  `json:"lag_records"`
	Skipped    int64  `json:"skipped"`
}

func outputsHealth(t *testing.T, srv *testenv.Server) healthOutputs {
	t.Helper()
	code, body := srv.HTTPGet(t, "/healthz")
	var h healthOutputs
	if err := json.Unmarshal([]byte(body), &h); err != nil || code != 200 {
		t.Fatalf("GET /healthz = %d %q: %v", code, body, err)
	}
	return h
}

func (h healthOutputs) output(t *testing.T, name string) healthOutput {
	t.Helper()
	for _, o := range h.Outputs {
		if o.Name == name {
			return o
		}
	}
	t.Fatalf("/healthz lists no output %q: %+v", name, h.Outputs)
	return healthOutput{}
}
