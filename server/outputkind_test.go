package server

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mqflux/mqflux/internal/configfile"
	"github.com/mqflux/mqflux/internal/testenv"
)

// memOutputsYAML is the outputs: list of the tests below: one entry of the
// test-only kind with its own keys.
const memOutputsYAML = `
outputs:
  - name: shelf
    kind: memtest
    label: shelf-1
    capacity: 50
    fail_first: 2
`

// startMemServer runs a server of the shipped config.yaml with the
// memtest output (memOutputsYAML) until the test ends; it returns the
// server, its MQTT and its HTTP address. env adds MQFLUX_ overrides.
func startMemServer(t *testing.T, env ...string) (*Server, string, string) {
	t.Helper()
	shipped, err := os.ReadFile("../config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, append(shipped, memOutputsYAML...), 0o600); err != nil {
		t.Fatal(err)
	}
	mqtt := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	httpAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cfg := DefaultConfig()
	env = append([]string{"MQFLUX_DATA_DIR=" + t.TempDir(), "MQFLUX_BROKER_TCP=" + mqtt, "MQFLUX_HTTP_ADDRESS=" + httpAddr}, env...)
	if _, err := configfile.LoadFile(path, &cfg, env); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	srv, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan struct{}), make(chan error, 1)
	go func() { done <- srv.Run(ctx, func() { close(ready) }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("Run ended before it was ready: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("server not ready after 60s")
	}
	return srv, mqtt, httpAddr
}

// A kind registered from a test file is configured from YAML with its own
// keys, fed the readings a device publishes to the real broker, and shown
// in /healthz and /v1/pipeline with what it says of itself. /v1/pipeline's
// numbers are the pipeline's and the output's Stats, the same counts
// /metrics shows.
func TestOutputKindRegisteredInATest(t *testing.T) {
	_, mqtt, httpAddr := startMemServer(t)

	if out, err := testenv.Pub(t, mqtt, testenv.DemoGateway, "devices/shelf-dev/sensors/temperature", "21.5", "-q", "1"); err != nil {
		t.Fatalf("mosquitto_pub: %v\n%s", err, out)
	}
	v, _ := memOutputs.Load("shelf-1")
	mem, ok := v.(*memOutput)
	if !ok {
		t.Fatal("the memtest kind built no output for label shelf-1")
	}
	testenv.WaitFor(t, 30*time.Second, "the reading in the test-only output", func() bool { return len(mem.Records()) == 1 })
	if got := mem.Records()[0]; !strings.Contains(got, "temperature") || !strings.Contains(got, "shelf-dev") {
		t.Errorf("stored %q, want the temperature of shelf-dev", got)
	}

	var health struct {
		Outputs []outputH `json:"outputs"`
	}
	getJSON(t, "http://"+httpAddr+"/healthz", &health)
	want := outputH{outputState: outputState{Name: "shelf", Kind: memKind, Target: "memory:shelf-1", Details: map[string]string{"capacity": "50"}, Required: true, Up: true}}
	if len(health.Outputs) != 1 || !sameOutputH(health.Outputs[0], want) {
		t.Errorf("/healthz outputs = %+v, want %+v", health.Outputs, want)
	}

	var pipe struct {
		Outputs []outputView `json:"outputs"`
	}
	testenv.WaitFor(t, 30*time.Second, "/v1/pipeline to count the reading written", func() bool {
		getJSON(t, "http://"+httpAddr+"/v1/pipeline", &pipe)
		return len(pipe.Outputs) == 1 && pipe.Outputs[0].Written == 1
	})
	o := pipe.Outputs[0]
	if o.Name != "shelf" || o.Kind != memKind || o.Target != "memory:shelf-1" || o.Details["capacity"] != "50" || !o.Up {
		t.Errorf("/v1/pipeline output = %+v, want shelf, %s, memory:shelf-1, capacity 50, up", o, memKind)
	}
	if o.Retries["not_yet"] != 2 || o.Retries[writeFailed] != 2 {
		t.Errorf("/v1/pipeline retries = %v, want not_yet 2 (the output's own count) and %s 2 (the pipeline's)", o.Retries, writeFailed)
	}

	metrics := getText(t, "http://"+httpAddr+"/metrics")
	for _, line := range []string{
		`mqflux_readings_received_total{source="mqtt"} 1`,
		`mqflux_readings_written_total 1`,
		`mqflux_output_written_total{output="shelf"} 1`,
		`mqflux_output_retries_total{output="shelf"} 2`,
	} {
		if !strings.Contains(metrics, "\n"+line+"\n") {
			t.Errorf("/metrics lacks %q", line)
		}
	}
	var totals struct {
		Received, Written float64
	}
	getJSON(t, "http://"+httpAddr+"/v1/pipeline", &totals)
	if totals.Received != 1 || totals.Written != 1 {
		t.Errorf("/v1/pipeline received %v, written %v; want 1 and 1 as /metrics", totals.Received, totals.Written)
	}
}

func getText(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(body)
}

func sameOutputH(a, b outputH) bool {
	return a.Name == b.Name && a.Kind == b.Kind && a.Target == b.Target && a.Required == b.Required && a.Up == b.Up &&
		len(a.Details) == len(b.Details) && a.Details["capacity"] == b.Details["capacity"]
}

func getJSON(t *testing.T, url string, into any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(body, into); err != nil {
		t.Fatalf("GET %s: %v\n%s", url, err, body)
	}
}

// check-config's errors for a kind: an unknown one lists the registered
// kinds, and a kind's own keys are checked by the kind, each problem with
// its file, line, column and full key.
func TestOutputKindConfigErrors(t *testing.T) {
	cases := []struct {
		name, yaml string
		want       []string
	}{
		{"unknown kind", "outputs:\n  - name: a\n    kind: nosuch\n    label: x\n",
			[]string{"config.yaml:3:11: outputs[0].kind", `"nosuch" is not an output kind`, "influxdb", memKind}},
		{"a key the kind does not have", "outputs:\n  - name: a\n    kind: memtest\n    lable: x\n",
			[]string{"config.yaml:4:5: outputs[0].lable: unknown key", "known keys here: capacity, fail_first, label; and in every entry: kind, max_lag, name, required"}},
		{"a key of another kind", "outputs:\n  - name: a\n    kind: memtest\n    url: http://x:8086\n",
			[]string{"config.yaml:4:5: outputs[0].url: unknown key"}},
		{"a bad value of the kind's key", "outputs:\n  - name: a\n    kind: memtest\n    capacity: lots\n",
			[]string{"config.yaml:4:15: outputs[0].capacity", "lots"}},
		{"the kind's Validate", "outputs:\n  - name: a\n    kind: memtest\n    label: x\n    capacity: 0\n",
			[]string{"outputs[0].capacity", "1 to 1000"}},
		{"the kind's Validate, from the environment", "",
			[]string{"outputs[0].label"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := DefaultConfig()
			var env []string
			if tc.yaml == "" {
				env = []string{"MQFLUX_OUTPUTS=[{name: a, kind: memtest, label: \"\"}]"}
			}
			_, err := configfile.Load([]byte(tc.yaml), "config.yaml", &c, env)
			if err == nil {
				err = c.Validate()
			}
			if err == nil {
				t.Fatalf("accepted:\n%s", tc.yaml)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\nlacks %q", err, w)
				}
			}
		})
	}
}

// Each output kind's folder holds a sample.yaml; every one loads and
// validates as it is.
func TestOutputKindSamples(t *testing.T) {
	samples, err := filepath.Glob("../flow/*/sample.yaml")
	if err != nil || len(samples) == 0 {
		t.Fatalf("no sample.yaml under flow/: %v", err)
	}
	for _, path := range samples {
		c := DefaultConfig()
		if _, err := configfile.LoadFile(path, &c, nil); err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		if err := c.Validate(); err != nil {
			t.Errorf("%s: %v", path, err)
		}
	}
}
