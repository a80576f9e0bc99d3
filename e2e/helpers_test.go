package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqflux/mqflux/bench"
	"github.com/mqflux/mqflux/flow/deadletter"
	"github.com/mqflux/mqflux/internal/testenv"
)

// gatewayLoad is a bench run as the demo gateway against srv: JSON payloads
// carrying their own time, QoS 1, and a ledger of every acknowledged
// reading. A measurement of its own per test keeps counts exact.
func gatewayLoad(t *testing.T, srv *testenv.Server, devices, messages int) bench.Config {
	t.Helper()
	return bench.Config{
		Broker:       srv.MQTT,
		Devices:      devices,
		Messages:     messages,
		Inflight:     32,
		QoS:          1,
		Payload:      "json",
		Topic:        "devices/{device}/sensors/{measurement}",
		DevicePrefix: "gw-",
		Measurement:  measurementFor(t),
		Username:     testenv.DemoGateway.User,
		Password:     testenv.DemoGateway.Password,
		ConnectRate:  0,
		AckTimeout:   10 * time.Second,
		// Outages in these tests last tens of seconds; a device must outlast them.
		GiveUp:     3 * time.Minute,
		KeepAlive:  time.Minute,
		ProbeEvery: 100 * time.Millisecond,
		Ledger:     bench.NewLedger(),
	}
}

// measurementFor names a measurement after the test (letters, digits, _).
func measurementFor(t *testing.T) string {
	var b strings.Builder
	b.WriteString("e2e_")
	for _, r := range strings.ToLower(t.Name()) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
	}
	return b.String()
}

// load is a bench run going on in the background.
type load struct {
	cfg  bench.Config
	done chan struct{}
	rep  *bench.Report
	err  error
}

// startLoad runs bench.Load in the background; finish waits for it.
func startLoad(t *testing.T, cfg bench.Config) *load {
	t.Helper()
	l := &load{cfg: cfg, done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.NewTextHandler(&testLog{t: t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	go func() {
		defer close(l.done)
		l.rep, l.err = bench.Load(ctx, cfg, nil, log)
	}()
	t.Cleanup(func() {
		cancel()
		<-l.done
	})
	return l
}

// finish waits for the run and fails the test unless every reading was
// acknowledged.
func (l *load) finish(t *testing.T, within time.Duration) *bench.Report {
	t.Helper()
	select {
	case <-l.done:
	case <-time.After(within):
		t.Fatalf("bench run not finished after %s (%d readings acknowledged)", within, l.cfg.Ledger.Len())
	}
	if l.err != nil {
		t.Fatalf("bench run: %v", l.err)
	}
	r := l.rep
	t.Logf("bench: published %d, acked %d, failed %d, resent %d after %d reconnects, ack rate %.0f/s",
		r.Published, r.Acked, r.Failed, r.Resent, r.Reconnects, r.AckRate)
	want := int64(l.cfg.Devices * l.cfg.Messages)
	if l.cfg.Messages == 0 { // a run for a duration: every reading published
		want = r.Published
	}
	if r.Failed != 0 || r.DevicesGaveUp != 0 || r.Published != want || r.Acked != want {
		t.Fatalf("bench: published %d, acked %d, failed %d, %d devices gave up; want %d published and acked",
			r.Published, r.Acked, r.Failed, r.DevicesGaveUp, want)
	}
	if n := l.cfg.Ledger.Len(); n != int(want) {
		t.Fatalf("ledger holds %d acknowledged readings, the report says %d", n, want)
	}
	return r
}

// testLog passes the load tool's warnings to the test log while it runs.
type testLog struct {
	t  *testing.T
	mu sync.Mutex
}

func (w *testLog) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// waitFor polls cond until it holds or within passes.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, within)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// count is SELECT count(value) of a measurement; 0 while InfluxDB does not
// answer or holds nothing.
func count(in *testenv.Influx, measurement string) int64 {
	ss, err := in.TryQuery(context.Background(), fmt.Sprintf(`SELECT count("value") FROM %q`, measurement))
	if err != nil || len(ss) == 0 || len(ss[0].Values) == 0 {
		return 0
	}
	n, _ := ss[0].Values[0][1].(json.Number).Int64()
	return n
}

// waitStored waits until InfluxDB holds want points of the measurement.
func waitStored(t *testing.T, in *testenv.Influx, measurement string, want int, within time.Duration) {
	t.Helper()
	var last int64
	deadline := time.Now().Add(within)
	for {
		if last = count(in, measurement); last >= int64(want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("InfluxDB holds %d points of %s after %s, want %d", last, measurement, within, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// checkStored compares InfluxDB with the ledger point by point: the count,
// the distinct values and every (device, value, time) must be exactly the
// acknowledged readings; a reading stored twice, lost, moved in time or
// given to another device fails the test.
func checkStored(t *testing.T, in *testenv.Influx, measurement string, ledger *bench.Ledger) {
	t.Helper()
	want := ledger.Readings()
	counts := in.Query(t, fmt.Sprintf(`SELECT count("value"), count(distinct("value")) FROM %q`, measurement))
	var points, distinct int64
	if len(counts) > 0 && len(counts[0].Values) > 0 {
		points, _ = counts[0].Values[0][1].(json.Number).Int64()
		distinct, _ = counts[0].Values[0][2].(json.Number).Int64()
	}
	if points != int64(len(want)) || distinct != int64(len(want)) {
		t.Fatalf("InfluxDB: %d points, %d distinct values of %s; want %d acknowledged readings, each once",
			points, distinct, measurement, len(want))
	}

	type stored struct {
		device string
		time   int64
	}
	got := make(map[int64]stored, len(want))
	for _, s := range in.Query(t, fmt.Sprintf(`SELECT "value" FROM %q GROUP BY "device"`, measurement)) {
		for _, row := range s.Values {
			ts, err := row[0].(json.Number).Int64()
			if err != nil {
				t.Fatalf("time %v: %v", row[0], err)
			}
			f, err := row[1].(json.Number).Float64()
			if err != nil || f != math.Trunc(f) {
				t.Fatalf("value %v is not a whole number (%v)", row[1], err)
			}
			v := int64(f)
			if prev, dup := got[v]; dup {
				t.Fatalf("value %d stored twice: %s at %d and %s at %d", v, prev.device, prev.time, s.Tags["device"], ts)
			}
			got[v] = stored{s.Tags["device"], ts}
		}
	}
	bad := 0
	for _, r := range want {
		g, ok := got[r.Value]
		switch {
		case !ok:
			t.Errorf("acknowledged reading %d of %s at %d is not in InfluxDB", r.Value, r.Device, r.Time)
		case g.device != r.Device || g.time != r.Time:
			t.Errorf("reading %d stored as %s at %d, sent by %s at %d", r.Value, g.device, g.time, r.Device, r.Time)
		default:
			continue
		}
		if bad++; bad >= 10 {
			t.Fatalf("... and maybe more")
		}
	}
	if len(got) != len(want) {
		t.Fatalf("InfluxDB holds %d readings, %d were acknowledged", len(got), len(want))
	}
}

// metric sums the samples of a metric family whose labels contain every
// given name="value" pair, from the server's /metrics.
func metric(t *testing.T, srv *testenv.Server, name string, labels ...string) float64 {
	t.Helper()
	code, body := srv.HTTPGet(t, "/metrics")
	if code != 200 {
		t.Fatalf("GET /metrics: %d", code)
	}
	return metricSum(t, body, name, labels...)
}

// metricSum is metric over a /metrics page already fetched (with a login,
// for a server beyond loopback).
func metricSum(t *testing.T, body, name string, labels ...string) float64 {
	t.Helper()
	var sum float64
	sc := bufio.NewScanner(strings.NewReader(body))
	for sc.Scan() {
		line := sc.Text()
		rest, ok := strings.CutPrefix(line, name)
		if !ok || (rest[0] != ' ' && rest[0] != '{') {
			continue
		}
		sp := strings.LastIndexByte(rest, ' ')
		series := rest[:sp]
		match := true
		for _, l := range labels {
			match = match && strings.Contains(series, l)
		}
		if !match {
			continue
		}
		v, err := strconv.ParseFloat(rest[sp+1:], 64)
		if err != nil {
			t.Fatalf("/metrics line %q: %v", line, err)
		}
		sum += v
	}
	return sum
}

// healthStatus is the "status" of /healthz: ok or degraded.
func healthStatus(t *testing.T, srv *testenv.Server) string {
	t.Helper()
	code, body := srv.HTTPGet(t, "/healthz")
	var h struct {
		Status string `json:"status"`
	}
	if err := json.Unmarshal([]byte(body), &h); err != nil || code != 200 {
		t.Fatalf("GET /healthz = %d %q: %v", code, body, err)
	}
	return h.Status
}

// deadLetters reads data_dir/dead-letter.jsonl of the server.
func deadLetters(t *testing.T, srv *testenv.Server) []deadletter.Entry {
	t.Helper()
	f, err := os.Open(deadletter.PathIn(srv.DataDir))
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []deadletter.Entry
	r := deadletter.NewReader(f)
	for {
		e, err := r.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return out
			}
			t.Fatalf("dead-letter file: %v", err)
		}
		out = append(out, e)
	}
}

// storedValues maps each stored value of a measurement to its time.
func storedValues(t *testing.T, in *testenv.Influx, measurement string) map[int64]int64 {
	t.Helper()
	out := map[int64]int64{}
	for _, s := range in.Query(t, fmt.Sprintf(`SELECT "value" FROM %q`, measurement)) {
		for _, row := range s.Values {
			ts, err1 := row[0].(json.Number).Int64()
			f, err2 := row[1].(json.Number).Float64()
			if err1 != nil || err2 != nil {
				t.Fatalf("row %v: %v %v", row, err1, err2)
			}
			out[int64(f)] = ts
		}
	}
	return out
}
