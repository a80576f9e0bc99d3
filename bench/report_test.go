package bench

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
	"time"
)

func TestRate(t *testing.T) {
	tests := []struct {
		n    int64
		d    time.Duration
		want float64
	}{
		{1000, time.Second, 1000},
		{1500, 500 * time.Millisecond, 3000},
		{10, 0, 0},
		{10, -time.Second, 0},
		{0, time.Second, 0},
	}
	for _, tt := range tests {
		if got := rate(tt.n, tt.d); got != tt.want {
			t.Errorf("rate(%d, %s) = %g, want %g", tt.n, tt.d, got, tt.want)
		}
	}
}

func TestPercentile(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = 100 - i // 100..1, unsorted on purpose
	}
	tests := []struct {
		name string
		in   []time.Duration
		p    float64
		want time.Duration
	}{
		{"empty", nil, 50, 0},
		{"one", ms(7), 99, 7 * time.Millisecond},
		{"median of odd", ms(5, 1, 3), 50, 3 * time.Millisecond},
		{"median of even is the lower", ms(4, 1, 3, 2), 50, 2 * time.Millisecond},
		{"p99 of 100", ms(hundred...), 99, 99 * time.Millisecond},
		{"p50 of 100", ms(hundred...), 50, 50 * time.Millisecond},
		{"max", ms(hundred...), 100, 100 * time.Millisecond},
		{"p1", ms(hundred...), 1, time.Millisecond},
	}
	for _, tt := range tests {
		in := append([]time.Duration(nil), tt.in...)
		if got := percentile(tt.in, tt.p); got != tt.want {
			t.Errorf("%s: percentile(p%g) = %s, want %s", tt.name, tt.p, got, tt.want)
		}
		for i := range in {
			if in[i] != tt.in[i] {
				t.Fatalf("%s: percentile reordered its input", tt.name)
			}
		}
	}
}

func TestLossAndCost(t *testing.T) {
	tests := []struct {
		expected, stored, wantLost int64
	}{
		{1000, 1000, 0},
		{1000, 990, 10},
		{1000, 1003, 0}, // unacked readings that got stored anyway are not negative loss
		{0, 0, 0},
	}
	for _, tt := range tests {
		if got := lost(tt.expected, tt.stored); got != tt.wantLost {
			t.Errorf("lost(%d, %d) = %d, want %d", tt.expected, tt.stored, got, tt.wantLost)
		}
	}
	if got := perMillion(2.5, 500_000); got != 5 {
		t.Errorf("perMillion(2.5s, 500k) = %g, want 5", got)
	}
	if got := perMillion(2.5, 0); got != 0 {
		t.Errorf("perMillion(2.5s, 0) = %g, want 0", got)
	}
}

func TestStorageReport(t *testing.T) {
	first := time.Unix(1000, 0)
	probes := newProbeLog()
	for i, lat := range []time.Duration{30, 10, 20, 40} {
		probes.add(int64(i), int64(i), first)
		probes.visible([]int64{int64(i)}, first.Add(lat*time.Millisecond))
	}
	probes.add(99, 99, first) // never seen
	w := storedWait{count: 9_990, lastGrew: first.Add(2 * time.Second)}
	s := storageReport(10_000, 9_995, 9_990, w, first, 3*time.Second, probes)
	want := Storage{Stored: 9_990, Points: 9_995, Duplicates: 5, Lost: 10, EndToEndSecs: 2, StoredRate: 4_995,
		ProbesSent: 5, ProbesSeen: 4, LatencyP50ms: 20, LatencyP99ms: 40, LatencyMaxms: 40, StoreWaitSecs: 3}
	if *s != want {
		t.Errorf("storageReport =\n%+v\nwant\n%+v", *s, want)
	}
}

func TestReportErrAndOutput(t *testing.T) {
	tests := []struct {
		name    string
		r       Report
		wantErr string
	}{
		{"clean", Report{Published: 10, Acked: 10, Storage: &Storage{Stored: 10, Complete: true}}, ""},
		{"failed", Report{Published: 10, Acked: 8, Failed: 2}, "2 readings failed, 0 lost"},
		{"lost", Report{Published: 10, Acked: 10, Storage: &Storage{Stored: 7, Lost: 3}}, "0 readings failed, 3 lost"},
		{"gave up", Report{DevicesGaveUp: 1}, "1 devices gave up"},
	}
	for _, tt := range tests {
		err := tt.r.Err()
		if (err == nil) != (tt.wantErr == "") || (err != nil && !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("%s: Err() = %v, want %q", tt.name, err, tt.wantErr)
		}
	}
	r := Report{Measurement: "bench_x", Devices: 2, QoS: 1, Published: 10, Acked: 10, PublishRate: 5,
		Storage: &Storage{Stored: 10, Complete: true}, Processes: []Process{{Name: "mqflux", PID: 1, CPUSeconds: 1.5}}}
	var text, js bytes.Buffer
	if err := r.write(&text, false); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"published     10", "acked         10", "stored        10 (complete", "cpu mqflux"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("text report lacks %q:\n%s", want, text.String())
		}
	}
	if err := r.write(&js, true); err != nil {
		t.Fatal(err)
	}
	var back Report
	if err := json.Unmarshal(js.Bytes(), &back); err != nil || back.Storage == nil || back.Storage.Stored != 10 || back.Processes[0].CPUSeconds != 1.5 {
		t.Errorf("JSON report does not round-trip: %v\n%s", err, js.String())
	}
}

func TestProcParsing(t *testing.T) {
	stat := "4242 (my (odd) cmd) S 1 2 3 4 5 6 7 8 9 10 250 150 0 0 20 0 1 0 100 2000 300\n"
	if cpu, err := parseStatCPU([]byte(stat), 100); err != nil || cpu != 4 {
		t.Errorf("parseStatCPU = %g, %v; want 4 (400 ticks at 100 Hz)", cpu, err)
	}
	for _, bad := range []string{"4242 no parens", "4242 (x) S 1 2"} {
		if _, err := parseStatCPU([]byte(bad), 100); err == nil {
			t.Errorf("parseStatCPU(%q) accepted bad input", bad)
		}
	}
	status := "Name:\tx\nVmPeak:\t  9000 kB\nVmHWM:\t    1536 kB\nVmRSS:\t 1000 kB\n"
	if rss, err := parseStatusHWM([]byte(status)); err != nil || rss != 1536*1024 {
		t.Errorf("parseStatusHWM = %d, %v; want %d", rss, err, 1536*1024)
	}
	if _, err := parseStatusHWM([]byte("Name:\tkthreadd\n")); err == nil || !strings.Contains(err.Error(), "no VmHWM") {
		t.Errorf("parseStatusHWM without VmHWM = %v", err)
	}
	// This very process, through the real /proc.
	s, err := readProc(os.Getpid(), clockTicks())
	if err != nil || s.peakRSS <= 0 || s.cpuSeconds < 0 {
		t.Errorf("readProc(self) = %+v, %v", s, err)
	}
	if _, err := readProc(1<<30, 100); err == nil {
		t.Error("readProc of a missing pid succeeded")
	}
	if hz := clockTicks(); hz <= 0 {
		t.Errorf("clockTicks = %g", hz)
	}
}

func TestPayloadFormats(t *testing.T) {
	ts := time.Date(2026, 11, 23, 18, 0, 0, 123456789, time.UTC).UnixNano()
	tests := []struct {
		kind, want string
	}{
		{"number", "42"},
		{"json", `{"value":42,"time":"2026-11-23T18:00:00.123456789Z"}`},
		{"line", "bench_x,device=bench-3 value=42 1795456800123456789"},
	}
	for _, tt := range tests {
		if got := string(payloadFormat{tt.kind}.append(nil, "bench_x", "bench-3", 42, ts)); got != tt.want {
			t.Errorf("%s payload = %s, want %s", tt.kind, got, tt.want)
		}
	}
	if got := expandTopic("devices/{device}/sensors/{measurement}", "bench-3", "bench_x"); got != "devices/bench-3/sensors/bench_x" {
		t.Errorf("expandTopic = %s", got)
	}
}
