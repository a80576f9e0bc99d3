package influxwriter

import (
	"strings"
	"testing"

	"github.com/mqflux/mqflux/internal/configfile"
	"github.com/prometheus/client_golang/prometheus"
)

// TestAPIAndBucketChecks: the api must be known and the bucket fit it, in
// New and in the configuration file alike.
func TestAPIAndBucketChecks(t *testing.T) {
	tests := []struct {
		name, api, bucket string
		wantKey           string // "" when valid
	}{
		{"default api", "", "telemetry/autogen", ""},
		{"v2 bucket", "v2", "telemetry", ""},
		{"v1 database", "v1", "telemetry", ""},
		{"v1 database and policy", "v1", "telemetry/autogen", ""},
		{"v3 database", "v3", "sensors", ""},
		{"unknown api", "v4", "telemetry", "api"},
		{"v1 empty policy", "v1", "telemetry/", "bucket"},
		{"v1 no database", "v1", "/autogen", "bucket"},
		{"v1 two slashes", "v1", "a/b/c", "bucket"},
		{"v3 with a policy", "v3", "sensors/autogen", "bucket"},
		{"no bucket", "v3", "", "bucket"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := DefaultConfig("http://127.0.0.1:8086", tc.bucket)
			cfg.API = tc.api
			w, err := New(cfg, nil)
			if (err == nil) != (tc.wantKey == "") {
				t.Fatalf("New = %v, want an error: %t", err, tc.wantKey != "")
			}
			if w != nil {
				_ = w.Close()
			}
			o := DefaultOptions()
			o.API, o.Bucket = tc.api, tc.bucket
			var v configfile.Validator
			o.Validate(v.Section("influx"))
			err = v.Err()
			if tc.wantKey == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "influx."+tc.wantKey) {
				t.Fatalf("Validate = %v, want a problem of influx.%s", err, tc.wantKey)
			}
		})
	}
}

// TestMetricsNameTheOutput: two writers register in one registry, each
// metric labelled with its output's name.
func TestMetricsNameTheOutput(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	for _, name := range []string{"", "victoria"} {
		cfg := DefaultConfig("http://127.0.0.1:1", "db/rp")
		cfg.Name = name
		w, err := New(cfg, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer w.Close()
		for _, c := range w.Collectors() {
			if err := reg.Register(c); err != nil {
				t.Fatalf("register the metrics of output %q: %v", name, err)
			}
		}
		w.metrics.points.Add(1)
	}
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	outputs := map[string]bool{}
	for _, f := range families {
		if f.GetName() != "mqflux_influx_points_written_total" {
			continue
		}
		for _, m := range f.Metric {
			for _, l := range m.Label {
				if l.GetName() == "output" {
					outputs[l.GetValue()] = true
				}
			}
		}
	}
	if !outputs[DefaultName] || !outputs["victoria"] || len(outputs) != 2 {
		t.Fatalf("points_written_total outputs = %v, want %s and victoria", outputs, DefaultName)
	}
}
