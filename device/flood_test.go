package device

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqflux/mqflux/device/hostlogs"
	"github.com/mqflux/mqflux/device/queue"
	"github.com/mqflux/mqflux/internal/testenv"
)

// floodReadings is the backlog each run drains; FLOOD_READINGS changes it
// for BENCHMARKS.md.
func floodReadings() int {
	if n, err := strconv.Atoi(os.Getenv("FLOOD_READINGS")); err == nil && n > 0 {
		return n
	}
	return 20000
}

// A followed file written at 10,000 lines a second does not cost the
// readings: a backlog of readings left by an outage drains through a real
// mosquitto with and without the flood, every reading arrives (seen by
// mosquitto_sub), and the log lines are held to max_per_second with the
// excess reported. The drain rates are logged for BENCHMARKS.md; the test
// asserts no rate, only that nothing is lost.
func TestReadingsUnderLogFlood(t *testing.T) {
	if testing.Short() {
		t.Skip("drains a backlog of readings twice")
	}
	b := testenv.StartMosquitto(t, "")
	n := floodReadings()
	rounds := 1
	if r, err := strconv.Atoi(os.Getenv("FLOOD_ROUNDS")); err == nil && r > 0 {
		rounds = r
	}
	rates := map[bool][]float64{}
	for range rounds {
		for _, flood := range []bool{false, true} {
			rates[flood] = append(rates[flood], drainBacklog(t, b, n, flood))
		}
	}
	for _, flood := range []bool{false, true} {
		rs := slices.Clone(rates[flood])
		slices.Sort(rs)
		t.Logf("flood=%v: %d readings drained at %v readings/s (median %.0f)", flood, n, rates[flood], rs[len(rs)/2])
	}
}

// drainBacklog queues n readings, starts the agent against b (with a
// 10,000 lines/s flood on its followed file when flood is set) and returns
// the readings acknowledged per second until mosquitto_sub saw them all.
func drainBacklog(t *testing.T, b *testenv.Mosquitto, n int, flood bool) float64 {
	t.Helper()
	dir := t.TempDir()
	id := fmt.Sprintf("flood-%d", time.Now().UnixNano())
	cfg := Default()
	cfg.ID, cfg.ClientID, cfg.Broker = id, "mqflux-device-"+id, "tcp://"+b.Addr
	cfg.Queue.Dir = filepath.Join(dir, "queue")
	cfg.Queue.MaxBytes = 64 << 20
	cfg.HomeAssistant.Discovery = false
	cfg.SummaryInterval = time.Hour
	cfg.Sensors = []Sensor{{Kind: "sim", Measurement: "live", Interval: time.Second}}
	logFile := filepath.Join(dir, "flood.log")
	if err := os.WriteFile(logFile, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg.Logs.Files = []hostlogs.File{{Path: logFile, Unit: "flood", Level: "info"}}
	cfg.fillDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	q, err := queue.Open(queue.Options{Dir: cfg.Queue.Dir, MaxBytes: int64(cfg.Queue.MaxBytes)})
	if err != nil {
		t.Fatal(err)
	}
	backlog := "devices/" + id + "/sensors/backlog"
	for i := range n {
		if _, err := q.Append(encodeRecord(backlog, fmt.Appendf(nil, `{"value": %d, "time": "2026-12-06T12:00:00Z"}`, i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := q.Close(); err != nil {
		t.Fatal(err)
	}
	sub := testenv.Subscribe(t, b.Addr, testenv.Login{}, backlog, "-q", "1")
	logs := testenv.Subscribe(t, b.Addr, testenv.Login{}, "devices/"+id+"/logs", "-q", "1")
	time.Sleep(300 * time.Millisecond) // the subscriptions are made

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	written := 0
	var floodFor time.Duration
	if flood {
		wg.Go(func() { written, floodFor = floodFile(ctx, t, logFile) })
	}
	time.Sleep(200 * time.Millisecond) // the flood is on before the drain starts
	start := time.Now()
	wg.Go(func() {
		if err := Run(ctx, cfg, slog.New(slog.DiscardHandler)); err != nil {
			t.Error(err)
		}
	})
	lines := sub.WaitLines(t, n, 5*time.Minute)
	took := time.Since(start)
	if flood {
		// A second's report of the lines over the rate.
		testenv.WaitFor(t, time.Minute, "the report of lines over max_per_second", func() bool {
			return slices.ContainsFunc(logs.Lines(), func(l string) bool { return strings.Contains(l, "over device.logs.max_per_second") })
		})
	}
	cancel()
	wg.Wait()
	seen := make([]bool, n)
	for _, l := range lines {
		var v int
		if _, err := fmt.Sscanf(l, backlog+` {"value":%d`, &v); err != nil || v < 0 || v >= n {
			t.Fatalf("mosquitto_sub printed %q", l)
		}
		seen[v] = true
	}
	if i := slices.Index(seen, false); i >= 0 {
		t.Fatalf("reading %d never arrived", i)
	}
	rate := float64(n) / took.Seconds()
	if flood {
		t.Logf("flood: %d lines written to the followed file in %s (%.0f/s); %d log messages published",
			written, floodFor.Round(time.Millisecond), float64(written)/floodFor.Seconds(), len(logs.Lines()))
	}
	return float64(int(rate))
}

// floodFile appends 100 lines every 10ms (10,000 a second) until ctx is
// done and returns how many it wrote and for how long.
func floodFile(ctx context.Context, t *testing.T, path string) (int, time.Duration) {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		t.Error(err)
		return 0, 0
	}
	defer f.Close()
	start := time.Now()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	var buf []byte
	n := 0
	for {
		select {
		case <-ctx.Done():
			return n, time.Since(start)
		case <-tick.C:
		}
		buf = buf[:0]
		for range 100 {
			buf = fmt.Appendf(buf, "%s kernel: [%d] usb 1-1.4: device descriptor read/64, error -71 (flood line)\n", time.Now().Format(time.StampMicro), n)
			n++
		}
		if _, err := f.Write(buf); err != nil {
			t.Error(err)
			return n, time.Since(start)
		}
	}
}
