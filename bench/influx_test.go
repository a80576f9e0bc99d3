package bench

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/mqflux/mqflux/internal/testenv"
)

// TestInfluxCounting checks the queries the storage check relies on against
// a real InfluxDB 1.8, with points written straight to /write.
func TestInfluxCounting(t *testing.T) {
	db := testenv.StartInflux(t, testenv.WithoutFlux())
	ctx := context.Background()
	c := newInfluxQL(db.URL, "telemetry/autogen", "")
	if err := c.ping(ctx); err != nil {
		t.Fatal(err)
	}
	base := time.Now().Add(-time.Minute).UnixNano()
	const m = "bench_count"
	var lines []string
	for i := range 100 { // values 0..99, one point each
		lines = append(lines, fmt.Sprintf("%s,device=d%d value=%d %d", m, i%3, i, base+int64(i)))
	}
	// Value 7 again at another time: a duplicate. A probe in the probe measurement.
	lines = append(lines, fmt.Sprintf("%s,device=d1 value=7 %d", m, base+1000))
	lines = append(lines, fmt.Sprintf("%s_probe,device=d2 value=100 %d", m, base+2000))
	// Another run's measurement must not be counted.
	lines = append(lines, fmt.Sprintf("bench_counter,device=d1 value=1 %d", base))
	db.WriteLines(t, strings.Join(lines, "\n"))

	n, err := c.count(ctx, m)
	if err != nil || n != 102 {
		t.Fatalf("count = %d, %v; want 102", n, err)
	}
	points, distinct, err := c.distinct(ctx, m)
	if err != nil || points != 102 || distinct != 101 {
		t.Fatalf("distinct = %d points, %d distinct, %v; want 102, 101", points, distinct, err)
	}
	values, err := c.probesVisible(ctx, m, base+2000)
	if err != nil || len(values) != 1 || values[0] != 100 {
		t.Fatalf("probes at or after the probe's time = %v, %v; want [100]", values, err)
	}
	if values, err = c.probesVisible(ctx, m, base+2001); err != nil || len(values) != 0 {
		t.Fatalf("probes after the probe's time = %v, %v; want none", values, err)
	}

	t.Run("wait reaches the target", func(t *testing.T) {
		w, err := waitStored(ctx, c, m, 102, 10*time.Second, 5*time.Second, 50*time.Millisecond)
		if err != nil || !w.complete || w.count != 102 {
			t.Fatalf("waitStored = %+v, %v; want complete at 102", w, err)
		}
	})
	t.Run("wait stops when the count stalls", func(t *testing.T) {
		w, err := waitStored(ctx, c, m, 500, 30*time.Second, 300*time.Millisecond, 50*time.Millisecond)
		if err != nil || w.complete || w.count != 102 {
			t.Fatalf("waitStored = %+v, %v; want incomplete at 102", w, err)
		}
	})
	t.Run("probe poller sees probes as they are stored", func(t *testing.T) {
		probes := newProbeLog()
		sentAt := time.Now()
		ts := sentAt.UnixNano()
		probes.add(1001, ts, sentAt)
		probes.add(1002, ts+1, sentAt)
		pctx, cancel := context.WithCancel(ctx)
		done := make(chan struct{})
		go func() {
			defer close(done)
			pollProbes(pctx, c, "bench_poll", probes, 20*time.Millisecond, func(err error) { t.Errorf("poll: %v", err) })
		}()
		db.WriteLines(t, fmt.Sprintf("bench_poll_probe,device=d0 value=1001 %d", ts))
		waitFor(t, "the first probe to be seen", func() bool { _, seen := probes.result(); return len(seen) == 1 })
		db.WriteLines(t, fmt.Sprintf("bench_poll_probe,device=d0 value=1002 %d", ts+1))
		waitFor(t, "the second probe to be seen", func() bool { _, seen := probes.result(); return len(seen) == 2 })
		cancel()
		<-done
		sent, seen := probes.result()
		if sent != 2 || seen[0] <= 0 || seen[1] < seen[0] {
			t.Fatalf("sent %d, latencies %v; want 2 positive, the second no shorter", sent, seen)
		}
		if _, pending := probes.oldest(); pending {
			t.Fatal("probes still pending after both were seen")
		}
	})
	t.Run("query errors name the query", func(t *testing.T) {
		bad := newInfluxQL(db.URL, "nosuchdb/autogen", "")
		if _, err := bad.count(ctx, m); err == nil || !strings.Contains(err.Error(), "nosuchdb") {
			t.Fatalf("count on a missing database = %v, want an error naming it", err)
		}
	})
}

// forwarder stands in for the pipeline: a paho subscriber that writes every
// line-protocol reading it receives into InfluxDB, dropping every dropEvery-th
// ordinary reading (0: none) so a test can provoke loss.
func startForwarder(t *testing.T, brokerAddr string, db *testenv.Influx, dropEvery int) {
	t.Helper()
	lines := make(chan string, 1<<16)
	var mu sync.Mutex
	received := 0
	opts := mqtt.NewClientOptions().AddBroker("tcp://" + brokerAddr).SetClientID("forwarder").SetCleanSession(true)
	opts.SetDefaultPublishHandler(func(_ mqtt.Client, msg mqtt.Message) {
		line := string(msg.Payload())
		mu.Lock()
		received++
		drop := dropEvery > 0 && !strings.Contains(line, "_probe,") && received%dropEvery == 0
		mu.Unlock()
		if !drop {
			lines <- line
		}
	})
	client := mqtt.NewClient(opts)
	if tok := client.Connect(); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("forwarder connect: %v", tok.Error())
	}
	if tok := client.Subscribe("devices/+/sensors/+", 1, nil); !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("forwarder subscribe: %v", tok.Error())
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		var batch []string
		for {
			select {
			case <-ctx.Done():
				return
			case l := <-lines:
				batch = append(batch, l)
				continue
			case <-tick.C:
			}
			if len(batch) > 0 {
				if err := db.TryWriteLines(ctx, strings.Join(batch, "\n")); err != nil && ctx.Err() == nil {
					t.Errorf("forwarder: %v", err)
				}
				batch = batch[:0]
			}
		}
	}()
	t.Cleanup(func() { client.Disconnect(100); cancel(); <-done })
}

// TestLoadWithInflux runs the whole tool with -influx and -pid against real
// mosquitto and InfluxDB, with a forwarder in place of the pipeline.
func TestLoadWithInflux(t *testing.T) {
	tests := []struct {
		name      string
		dropEvery int
		wantLost  bool
	}{
		{"everything stored", 0, false},
		{"every 50th reading dropped", 50, true},
	}
	db := testenv.StartInflux(t, testenv.WithoutFlux())
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			broker := testenv.StartMosquitto(t, "")
			startForwarder(t, broker.Addr, db, tt.dropEvery)
			const devices, messages = 4, 250
			cfg, err := parseFlags([]string{"-broker", broker.Addr, "-devices", strconv.Itoa(devices),
				"-messages", strconv.Itoa(messages), "-rate", "500", "-payload", "line", "-influx", db.URL,
				"-bucket", "telemetry/autogen", "-timeout", "20s", "-settle", "1s", "-probe-every", "20ms",
				"-pid", "mosquitto=" + strconv.Itoa(broker.Pid())}, io.Discard)
			if err != nil {
				t.Fatal(err)
			}
			rep, err := Load(context.Background(), cfg, nil, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			s := rep.Storage
			if rep.Acked != devices*messages || s == nil {
				t.Fatalf("acked %d, storage %+v; want %d acked and a storage report", rep.Acked, s, devices*messages)
			}
			if s.ProbesSent == 0 || s.ProbesSeen != s.ProbesSent || s.LatencyP50ms <= 0 || s.LatencyP99ms < s.LatencyP50ms {
				t.Errorf("probes %d sent %d seen, p50 %.1f ms p99 %.1f ms; want all seen, 0 < p50 <= p99",
					s.ProbesSent, s.ProbesSeen, s.LatencyP50ms, s.LatencyP99ms)
			}
			if s.Duplicates != 0 || s.Stored+s.Lost != rep.Acked {
				t.Errorf("stored %d lost %d duplicates %d; want stored+lost = acked %d, no duplicates", s.Stored, s.Lost, s.Duplicates, rep.Acked)
			}
			if tt.wantLost {
				if s.Lost == 0 || s.Complete || rep.Err() == nil || !strings.Contains(rep.Err().Error(), "lost") {
					t.Errorf("lost %d complete %v err %v; want loss reported and an error", s.Lost, s.Complete, rep.Err())
				}
				return
			}
			if s.Lost != 0 || !s.Complete || rep.Err() != nil {
				t.Errorf("lost %d complete %v err %v; want nothing lost", s.Lost, s.Complete, rep.Err())
			}
			if s.StoredRate <= 0 || s.EndToEndSecs <= 0 {
				t.Errorf("stored rate %.0f over %.2fs; want positive", s.StoredRate, s.EndToEndSecs)
			}
			if len(rep.Processes) != 2 || rep.Processes[1].Name != "mosquitto" || rep.Processes[1].PeakRSSBytes <= 0 ||
				rep.Processes[1].CPUSeconds < 0 {
				t.Errorf("processes %+v; want bench and mosquitto with a peak RSS", rep.Processes)
			}
		})
	}
}
