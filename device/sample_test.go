package device

import (
	"context"
	"errors"
	"log/slog"
	"math"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqflux/mqflux/device/queue"
	"github.com/mqflux/mqflux/device/sensor"
	"github.com/mqflux/mqflux/internal/backoff"
	"github.com/mqflux/mqflux/internal/testenv"
)

// flaky fails its first reads, then returns NaN once, then works. A fake
// is enough here: the real sensors have their own tests.
type flaky struct {
	mu    sync.Mutex
	calls int
}

func (f *flaky) Name() string { return "flaky" }

func (f *flaky) Read(ctx context.Context) ([]sensor.Reading, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	switch {
	case f.calls <= 2:
		return nil, errors.New("flaky: no answer")
	case f.calls == 3:
		return []sensor.Reading{{Measurement: "t", Value: math.NaN(), Time: time.Now()}}, nil
	}
	return []sensor.Reading{{Measurement: "t", Value: float64(f.calls), Time: time.Now()}}, nil
}

func TestSamplerLogsStateChangesAndRecovers(t *testing.T) {
	q, err := queue.Open(queue.Options{Dir: t.TempDir(), MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	var logs testenv.SyncBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	h := newHealth()
	cfg := Default()
	cfg.ID = "pi"
	tp, err := cfg.topics()
	if err != nil {
		t.Fatal(err)
	}
	app := &appender{q: q, topics: tp, log: log}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		sample(ctx, &flaky{}, 100*time.Millisecond, backoff.Policy{Min: 10 * time.Millisecond, Max: 50 * time.Millisecond}, app, h, log)
		close(done)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for q.Stats().Records < 3 {
		if time.Now().After(deadline) {
			t.Fatalf("no readings queued; log:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	<-done
	out := logs.String()
	for want, n := range map[string]int{
		`msg="sensor failing; retrying with backoff" sensor=flaky err="flaky: no answer"`: 1,
		`err="flaky: t is NaN, which cannot be stored"`:                                   1,
		`msg="sensor recovered" sensor=flaky`:                                             1,
	} {
		if got := strings.Count(out, want); got != n {
			t.Errorf("log has %q %d times, want %d; log:\n%s", want, got, n, out)
		}
	}
	if len(h.failingNames()) != 0 {
		t.Errorf("sensor still failing after recovery: %v", h.failingNames())
	}
	r, ok, err := q.Next()
	topic, body, derr := decodeRecord(r.Data)
	if !ok || err != nil || derr != nil || topic != "devices/pi/sensors/t" || !strings.HasPrefix(string(body), `{"value":4,"time":"`) {
		t.Fatalf("first queued record %q %q (%v %v %v)", topic, body, ok, err, derr)
	}
}
