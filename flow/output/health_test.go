package output

import (
	"bytes"
	"log/slog"
	"maps"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Health's state machine, as the InfluxDB writer (a slowed state, a gauge)
// and the PostgreSQL writer (neither) use it: each change of state logged
// once, the newest error kept after recovery, failures counted by reason.
func TestHealth(t *testing.T) {
	type step struct{ reason, message string } // reason "" is Reached
	for _, tc := range []struct {
		name      string
		slowed    string
		steps     []step
		up        bool
		gauge     float64
		lastErr   string
		retries   map[string]int64
		logLevels []string // one per logged change of state
	}{
		{name: "no answer yet", gauge: -1, retries: map[string]int64{}},
		{name: "up", steps: []step{{}}, up: true, gauge: 1, retries: map[string]int64{}},
		{name: "failing, logged once", steps: []step{{"network", "refused"}, {"network", "refused again"}},
			gauge: 0, lastErr: "network: refused again", retries: map[string]int64{"network": 2}, logLevels: []string{"ERROR"}},
		{name: "a new reason is a new state", steps: []step{{"network", "a"}, {"unauthorized", "b"}},
			gauge: 0, lastErr: "unauthorized: b", retries: map[string]int64{"network": 1, "unauthorized": 1}, logLevels: []string{"ERROR", "ERROR"}},
		{name: "recovered keeps the last error", steps: []step{{}, {"server_error", "boom"}, {}, {}},
			up: true, gauge: 1, lastErr: "server_error: boom", retries: map[string]int64{"server_error": 1}, logLevels: []string{"ERROR", "INFO"}},
		{name: "slowed is up", slowed: "throttled", steps: []step{{}, {"throttled", "slow down"}},
			up: true, gauge: 1, lastErr: "throttled: slow down", retries: map[string]int64{"throttled": 1}, logLevels: []string{"WARN"}},
		{name: "throttled is a failure where nothing is slowed", steps: []step{{}, {"throttled", "slow down"}},
			gauge: 0, lastErr: "throttled: slow down", retries: map[string]int64{"throttled": 1}, logLevels: []string{"ERROR"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			gauge := prometheus.NewGauge(prometheus.GaugeOpts{Name: "up"})
			gauge.Set(-1)
			h := NewHealth(HealthOptions{Log: slog.New(slog.NewTextHandler(&buf, nil)), Store: "store", Slowed: tc.slowed,
				Gauge: gauge, Hint: func(r string) string { return "check " + r }})
			for _, s := range tc.steps {
				if s.reason == "" {
					h.Reached()
				} else {
					h.Failed(s.reason, s.message)
				}
			}
			if h.Up() != tc.up {
				t.Errorf("Up = %v, want %v", h.Up(), tc.up)
			}
			if g := testutil.ToFloat64(gauge); g != tc.gauge {
				t.Errorf("gauge = %v, want %v", g, tc.gauge)
			}
			if msg, at := h.LastError(); msg != tc.lastErr || (msg != "") == at.IsZero() {
				t.Errorf("LastError = %q at %v, want %q", msg, at, tc.lastErr)
			}
			if r := h.Retries(); !maps.Equal(r, tc.retries) {
				t.Errorf("Retries = %v, want %v", r, tc.retries)
			}
			var levels []string
			for _, line := range strings.Split(strings.TrimSpace(buf.String()), "\n") {
				if _, rest, ok := strings.Cut(line, "level="); ok {
					levels = append(levels, strings.Fields(rest)[0])
				}
			}
			if strings.Join(levels, " ") != strings.Join(tc.logLevels, " ") {
				t.Errorf("logged %v, want one line per change of state %v:\n%s", levels, tc.logLevels, buf.String())
			}
			if strings.Contains(buf.String(), "level=ERROR") && !strings.Contains(buf.String(), "check=") {
				t.Errorf("a failure's log line lacks its hint:\n%s", buf.String())
			}
		})
	}
}

// A store without a gauge (PostgreSQL's) works the same.
func TestHealthWithoutGauge(t *testing.T) {
	h := NewHealth(HealthOptions{Log: slog.New(slog.DiscardHandler), Store: "postgres"})
	h.Failed("network", "refused")
	h.Reached()
	if !h.Up() {
		t.Error("not up after Reached")
	}
}
