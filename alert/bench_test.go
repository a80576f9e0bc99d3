package alert

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/mqflux/mqflux/flow/observe"
	"github.com/mqflux/mqflux/flow/point"
)

// fleet is the registry's size in BENCHMARKS.md: 10,000 devices with five
// measurements each, as the Pi agent's default sensors send.
const fleetDevices, fleetMeasurements = 10_000, 5

// BenchmarkRegistryMemory measures the heap the registry of a fleet holds,
// and what saving it costs (the state file is rewritten on every
// transition and every save interval).
func BenchmarkRegistryMemory(b *testing.B) {
	measurements := []string{"temperature", "humidity", "pressure", "cpu_temperature", "disk_used_percent"}
	for range b.N {
		s, err := Open(Options{Config: DefaultConfig(), Dir: b.TempDir()})
		if err != nil {
			b.Fatal(err)
		}
		var set point.Set
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for d := range fleetDevices {
			name := fmt.Sprintf("pi-%05d", d)
			for _, m := range measurements[:fleetMeasurements] {
				set.Reset()
				set.Begin(m, t0.UnixNano())
				set.Tag("device", name)
				set.Field(point.FloatField("value", 21.5))
				s.Observe(&observe.Reading{Point: *set.At(0), Received: t0, Source: "mqtt"})
			}
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
		b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/fleetDevices, "heap-B/device")
		start := time.Now()
		if err := s.saveNow(); err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(time.Since(start).Milliseconds()), "save-ms")
		if fi, err := os.Stat(filepath.Join(s.o.Dir, stateFile)); err == nil {
			b.ReportMetric(float64(fi.Size())/fleetDevices, "file-B/device")
		}
		st, err := load(s.o.Dir)
		if err != nil || len(st.Devices) != fleetDevices {
			b.Fatalf("saved %d devices (%v)", len(st.Devices), err)
		}
		runtime.KeepAlive(s)
	}
}

// Observing a reading costs the observer's goroutine this much.
func BenchmarkObserve(b *testing.B) {
	cfg := DefaultConfig()
	v := 90.0
	cfg.Rules = []Rule{{Name: "disk-full", Measurement: "disk_used_percent", Above: &v}}
	s, err := Open(Options{Config: cfg, Dir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	var set point.Set
	set.Begin("disk_used_percent", t0.UnixNano())
	set.Tag("device", "pi-1")
	set.Field(point.FloatField("value", 50))
	r := &observe.Reading{Point: *set.At(0), Received: t0, Source: "mqtt"}
	b.ReportAllocs()
	for range b.N {
		s.Observe(r)
	}
}
