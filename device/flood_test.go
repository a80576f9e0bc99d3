package device

import (
	"context"
	"encoding/json"
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
// excess reported. The drain rates and the readings' queue delays (from
// entering the queue to their PUBACK) are logged for BENCHMARKS.md; the
// test asserts no rate or delay, only that nothing is lost.
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
	runs := map[bool][]drain{}
	for range rounds {
		for _, flood := range []bool{false, true} {
			d := drainBacklog(t, b, n, flood)
			t.Logf("flood=%v: %.0f readings/s; queue delay of the backlog %s, of live readings after it %s", flood, d.rate, d.backlog, d.live)
			runs[flood] = append(runs[flood], d)
		}
	}
	for _, flood := range []bool{false, true} {
		var rates []float64
		for _, d := range runs[flood] {
			rates = append(rates, d.rate)
		}
		rs := slices.Clone(rates)
		slices.Sort(rs)
		t.Logf("flood=%v: %d readings drained at %v readings/s (median %.0f)", flood, n, rates, rs[len(rs)/2])
	}
}

// drain is one run of drainBacklog: the readings acknowledged per second
// and the queue delays of the backlog and of the live readings sampled
// after the backlog had drained.
type drain struct {
	rate          float64
	backlog, live delays
}

// delays are the times readings spent from entering the queue to their
// PUBACK.
type delays []time.Duration

func (d delays) String() string {
	if len(d) == 0 {
		return "(none)"
	}
	s := slices.Clone(d)
	slices.Sort(s)
	// To 0.1ms: a live reading's delay is often under a millisecond.
	at := func(q float64) time.Duration { return s[int(q*float64(len(s)-1))].Round(100 * time.Microsecond) }
	return fmt.Sprintf("p50 %s p99 %s max %s (%d readings)", at(0.5), at(0.99), at(1), len(s))
}

// ackLog collects the queue delays of the readings the agent got a PUBACK
// for: each body's "time" is when it entered the queue (the sample time of
// a live reading, the append time of a backlog one).
type ackLog struct {
	t             *testing.T
	mu            sync.Mutex
	start         time.Time // readings queued before it are the backlog
	drainedAt     time.Time // live readings sampled after it are counted in live
	backlog, live delays
}

func (a *ackLog) acked(body []byte, at time.Time) {
	var r struct {
		Time time.Time `json:"time"`
	}
	if err := json.Unmarshal(body, &r); err != nil {
		a.t.Errorf("acknowledged body %q: %v", body, err)
		return
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case r.Time.Before(a.start):
		a.backlog = append(a.backlog, at.Sub(r.Time))
	case !a.drainedAt.IsZero() && r.Time.After(a.drainedAt):
		a.live = append(a.live, at.Sub(r.Time))
	}
}

func (a *ackLog) drained() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.drainedAt = time.Now()
}

func (a *ackLog) result() drain {
	a.mu.Lock()
	defer a.mu.Unlock()
	return drain{backlog: slices.Clone(a.backlog), live: slices.Clone(a.live)}
}

// drainBacklog queues n readings, starts the agent against b (with a
// 10,000 lines/s flood on its followed file when flood is set) and returns
// the readings acknowledged per second until mosquitto_sub saw them all,
// with the queue delays of those and of 50 live readings after them.
func drainBacklog(t *testing.T, b *testenv.Mosquitto, n int, flood bool) drain {
	t.Helper()
	dir := t.TempDir()
	id := fmt.Sprintf("flood-%d", time.Now().UnixNano())
	cfg := Default()
	cfg.ID, cfg.ClientID, cfg.Broker = id, "mqflux-device-"+id, "tcp://"+b.Addr
	cfg.Queue.Dir = filepath.Join(dir, "queue")
	cfg.Queue.MaxBytes = 64 << 20
	cfg.HomeAssistant.Discovery = false
	cfg.SummaryInterval = time.Hour
	cfg.Sensors = []Sensor{{Kind: "sim", Measurement: "live", Interval: 100 * time.Millisecond}}
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
		if _, err := q.Append(encodeRecord(backlog, fmt.Appendf(nil, `{"value": %d, "time": %q}`, i, time.Now().Format(time.RFC3339Nano)))); err != nil {
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
	acks := &ackLog{t: t, start: start}
	wg.Go(func() {
		if err := run(ctx, cfg, slog.New(slog.DiscardHandler), acks.acked); err != nil {
			t.Error(err)
		}
	})
	lines := sub.WaitLines(t, n, 5*time.Minute)
	took := time.Since(start)
	acks.drained()
	testenv.WaitFor(t, time.Minute, "50 live readings acknowledged after the backlog", func() bool { return len(acks.result().live) >= 50 })
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
	d := acks.result()
	d.rate = float64(int(float64(n) / took.Seconds()))
	if flood {
		t.Logf("flood: %d lines written to the followed file in %s (%.0f/s); %d log messages published",
			written, floodFor.Round(time.Millisecond), float64(written)/floodFor.Seconds(), len(logs.Lines()))
	}
	return d
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
