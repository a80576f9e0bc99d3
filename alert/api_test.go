package alert

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/mqflux/mqflux/flow/mapping"
	"github.com/mqflux/mqflux/flow/observe"
	"github.com/mqflux/mqflux/flow/point"
)

// fleet: pi-1 reporting, pi-2 silent, pi-3 offline.
func fleet(t *testing.T) *Service {
	t.Helper()
	clk := &clock{t: t0}
	s, err := Open(Options{Config: DefaultConfig(), Dir: t.TempDir(), Now: clk.Now})
	if err != nil {
		t.Fatal(err)
	}
	observeReading(s, "pi-2", t0)
	clk.Set(t0.Add(20 * time.Minute))
	s.check()
	observeReading(s, "pi-1", clk.Now())
	var set point.Set
	set.Begin(mapping.StatusMeasurement, clk.Now().UnixNano())
	set.Tag("device", "pi-3")
	set.Field(point.BoolField("online", false))
	s.Observe(&observe.Reading{Point: *set.At(0), Source: "mqtt"})
	return s
}

func TestRoutes(t *testing.T) {
	mux := http.NewServeMux()
	fleet(t).Routes(mux, nil)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	cases := []struct {
		path      string
		status    int
		has, lack []string
	}{
		{"/v1/devices", 200, []string{`"device":"pi-1","state":"online"`, `"device":"pi-2","state":"silent"`, `"device":"pi-3","state":"offline"`, `"temperature":{"time":"2026-11-30T12:00:00Z","fields":{"value":21}}`}, nil},
		{"/v1/devices?state=silent", 200, []string{`"pi-2"`}, []string{`"pi-1"`, `"pi-3"`}},
		{"/v1/devices?device=pi-[13]", 200, []string{`"pi-1"`, `"pi-3"`}, []string{`"pi-2"`}},
		{"/v1/devices?rule=offline", 200, []string{`"pi-3"`}, []string{`"pi-1"`, `"pi-2"`}},
		{"/v1/devices?state=sleepy", 400, []string{"state: want online, silent or offline"}, nil},
		{"/v1/devices?device=[", 400, []string{"device: not a pattern"}, nil},
		{"/v1/alerts", 200, []string{`"active":[{"device":"pi-2","rule":"silent"`, `{"device":"pi-3","rule":"offline"`, `"recent":[{"id":"pi-2:silent:firing:`}, nil},
	}
	for _, c := range cases {
		resp, err := http.Get(srv.URL + c.path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != c.status {
			t.Errorf("%s: %d, want %d: %s", c.path, resp.StatusCode, c.status, b)
		}
		for _, h := range c.has {
			if !strings.Contains(string(b), h) {
				t.Errorf("%s lacks %s: %s", c.path, h, b)
			}
		}
		for _, l := range c.lack {
			if strings.Contains(string(b), l) {
				t.Errorf("%s has %s: %s", c.path, l, b)
			}
		}
	}
}

func TestRegistryMetrics(t *testing.T) {
	s := fleet(t)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(s.m)
	const want = `
# HELP mqflux_alerts_active Alerts firing now, by rule.
# TYPE mqflux_alerts_active gauge
mqflux_alerts_active{rule="offline"} 1
mqflux_alerts_active{rule="silent"} 1
# HELP mqflux_devices Devices in the registry, by state (online, silent, offline).
# TYPE mqflux_devices gauge
mqflux_devices{state="offline"} 1
mqflux_devices{state="online"} 1
mqflux_devices{state="silent"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "mqflux_devices", "mqflux_alerts_active"); err != nil {
		t.Error(err)
	}
}
