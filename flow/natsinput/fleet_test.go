package natsinput

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/mqflux/mqflux/alert"
	"github.com/mqflux/mqflux/flow/observe"
	"github.com/mqflux/mqflux/flow/point"
	"github.com/mqflux/mqflux/internal/testenv"
)

func stateKV(t *testing.T) (*nats.Conn, jetstream.KeyValue) {
	t.Helper()
	srv := testenv.StartNATSServer(t)
	nc, err := nats.Connect(srv.ClientURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := StateBucket(context.Background(), js, "fleet", 1)
	if err != nil {
		t.Fatal(err)
	}
	return nc, kv
}

// observeFleet has svc see devices×5 readings with varied values and
// times, as a fleet's registry holds them.
func observeFleet(svc *alert.Service, devices int) {
	measurements := []string{"temperature", "humidity", "pressure", "cpu_temperature", "disk_used_percent"}
	rng := rand.New(rand.NewPCG(1, 2))
	t0 := time.Date(2026, 12, 6, 12, 0, 0, 0, time.UTC)
	var set point.Set
	for d := range devices {
		name := fmt.Sprintf("pi-%05d", d)
		for i, m := range measurements {
			at := t0.Add(time.Duration(d*5+i) * 137 * time.Millisecond)
			set.Reset()
			set.Begin(m, at.UnixNano())
			set.Tag("device", name)
			set.Field(point.FloatField("value", float64(rng.IntN(100000))/100))
			svc.Observe(&observe.Reading{Point: *set.At(0), Received: at, Source: "nats"})
		}
	}
}

// The alert state of 10,000 devices (five measurements each) goes into
// the fleet bucket as one value, under NATS's default 1 MiB max_payload,
// and comes back as the same registry. The numbers are in BENCHMARKS.md.
func TestFleetStateTenThousandDevices(t *testing.T) {
	nc, kv := stateKV(t)
	const devices = 10_000
	store := &kvStore{kv: kv, max: nc.MaxPayload(), timeout: 30 * time.Second}
	svc, err := alert.Open(alert.Options{Config: alert.DefaultConfig(), Store: store})
	if err != nil {
		t.Fatal(err)
	}
	observeFleet(svc, devices)
	start := time.Now()
	if err := svc.Stop(); err != nil { // saves
		t.Fatal(err)
	}
	saved := time.Since(start)
	start = time.Now()
	var parts [][]byte
	size, largest := 0, 0
	for i := range stateShards {
		e, err := kv.Get(context.Background(), stateKey(i))
		if err != nil {
			t.Fatal(err)
		}
		size, largest = size+len(e.Value()), max(largest, len(e.Value()))
		b, err := unzip(e.Value())
		if err != nil {
			t.Fatal(err)
		}
		parts = append(parts, b)
	}
	v, err := alert.ParseView(parts, "test")
	if err != nil {
		t.Fatal(err)
	}
	parsed := time.Since(start)
	t.Logf("%d devices: state %d bytes gzipped in %d keys (%.1f per device, the largest key %d; max_payload %d); saved in %v, read back in %v",
		devices, size, stateShards, float64(size)/devices, largest, nc.MaxPayload(), saved.Round(time.Millisecond), parsed.Round(time.Millisecond))
	if v.Len() != devices {
		t.Fatalf("view holds %d devices, want %d", v.Len(), devices)
	}
	if got := v.Devices(alert.DeviceFilter{Device: "pi-01234"}); len(got) != 1 || len(got[0].Latest) != 5 {
		t.Errorf("pi-01234 in the view: %+v", got)
	}
}

// A new holder claims the state: the previous holder's next save is
// refused, so it cannot overwrite what its successor saves; the
// successor loads what the previous saved.
func TestFleetStateClaimFencesPreviousHolder(t *testing.T) {
	_, kv := stateKV(t)
	old := &kvStore{kv: kv, timeout: 10 * time.Second}
	svc, err := alert.Open(alert.Options{Config: alert.DefaultConfig(), Store: old})
	if err != nil {
		t.Fatal(err)
	}
	observeFleet(svc, 3)
	if err := svc.Stop(); err != nil {
		t.Fatal(err)
	}
	next := &kvStore{kv: kv, timeout: 10 * time.Second}
	svc2, err := alert.Open(alert.Options{Config: alert.DefaultConfig(), Store: next})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(svc2.Devices(alert.DeviceFilter{})); n != 3 {
		t.Errorf("the next holder loaded %d devices, want 3", n)
	}
	empty := make([][]byte, stateShards)
	for i := range empty {
		empty[i] = []byte(`{"version":1}`)
	}
	err = old.Save(empty)
	if err == nil || !strings.Contains(err.Error(), "no longer holds the lease") {
		t.Errorf("save of the previous holder after the claim: %v, want refused", err)
	}
	if !old.fenced.Load() {
		t.Error("the previous holder's store does not know it was fenced")
	}
	if err := next.Save(empty); err != nil {
		t.Errorf("save of the holder: %v", err)
	}
}

// What is in the state keys comes from whoever may write to the bucket:
// a value that is not gzip, gzip of something other than the state, or
// a cut one leaves every instance serving the last good state, and a
// new holder that finds it starts without that key's devices instead of
// not alerting at all. Nothing panics.
func TestFleetStateHostileValues(t *testing.T) {
	_, kv := stateKV(t)
	f := &fleet{log: slog.New(slog.DiscardHandler), m: newFleetMetrics()}
	f.m.fleet = f
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); f.follow(ctx, kv) }()
	defer func() { cancel(); <-done }()

	good := &kvStore{kv: kv, timeout: 10 * time.Second}
	svc, err := alert.Open(alert.Options{Config: alert.DefaultConfig(), Store: good})
	if err != nil {
		t.Fatal(err)
	}
	observeFleet(svc, 40) // in every key
	if err := svc.Stop(); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 10*time.Second, "the view of 40 devices", func() bool { return f.Health().Devices == 40 })

	notJSON, _ := gzipped([]byte("not json"))
	otherVersion, _ := gzipped([]byte(`{"version": 99, "devices": []}`))
	for i, bad := range [][]byte{[]byte("not gzip"), notJSON, otherVersion, {0x1f, 0x8b}} {
		before := testutil.ToFloat64(f.m.unreadable)
		if _, err := kv.Put(context.Background(), stateKey(3), bad); err != nil {
			t.Fatal(err)
		}
		testenv.WaitFor(t, 10*time.Second, fmt.Sprintf("bad value %d seen", i), func() bool { return testutil.ToFloat64(f.m.unreadable) > before })
		if got := f.Health().Devices; got != 40 {
			t.Errorf("after %q the view holds %d devices, want the last good state's 40", bad, got)
		}
		s, err := alert.Open(alert.Options{Config: alert.DefaultConfig(), Store: &kvStore{kv: kv, timeout: 10 * time.Second}})
		if err != nil {
			t.Errorf("holder loading %q: %v, want it to start afresh", bad, err)
			continue
		}
		if n := len(s.Devices(alert.DeviceFilter{})); n == 0 || n >= 40 {
			t.Errorf("holder loading %q in one key: %d devices, want those of the other keys", bad, n)
		}
	}
}
