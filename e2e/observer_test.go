package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"testing"
	"time"

	"github.com/mqflux/mqflux/flow/observe"
	"github.com/mqflux/mqflux/internal/configfile"
	"github.com/mqflux/mqflux/internal/testenv"
	"github.com/mqflux/mqflux/server"
)

// stalled is an observer that does not return until gate is closed: a
// /v1/latest store stuck behind a lock, say. It sits behind the real
// hand-off, in place of the observer it wraps.
type stalled struct {
	observe.Observer
	gate <-chan struct{}
}

func (s stalled) Observe(r *observe.Reading) {
	<-s.gate
	s.Observer.Observe(r)
}

// Watchers that never read hold up no device: with a /v1/stream client that
// sent its request and reads nothing, and the /v1/latest observer stalled,
// a device's QoS 1 readings are all acknowledged and all stored in
// InfluxDB, and what the stalled observer missed is counted in /metrics.
//
// The server runs in the test process (the shipped config.yaml, a real
// InfluxDB, the load tool as the device) because stalling an observer takes
// an option a config file does not offer.
func TestObserverStalledIngestUnchanged(t *testing.T) {
	in := testenv.StartInflux(t, testenv.WithoutFlux())
	gate := make(chan struct{})
	srv, stop := startInProcess(t, in, server.WrapObservers(func(o observe.Observer) observe.Observer {
		if o.Name() == "latest" {
			return stalled{o, gate}
		}
		return o
	}))
	defer stop()
	defer close(gate) // before stop: the server's shutdown lets observers finish

	// A raw socket: the request goes out, nothing is ever read back.
	sse, err := net.Dial("tcp", srv.HTTP)
	if err != nil {
		t.Fatal(err)
	}
	defer sse.Close()
	if _, err := fmt.Fprintf(sse, "GET /v1/stream HTTP/1.1\r\nHost: %s\r\n\r\n", srv.HTTP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "the stream client to be connected", func() bool {
		return metric(t, srv, "mqflux_stream_clients") == 1
	})

	// More readings than an observer's queue holds, so that the stalled
	// one must drop.
	const devices, each = 2, 2 * observe.DefaultQueue
	cfg := gatewayLoad(t, srv, devices, each)
	startLoad(t, cfg).finish(t, 3*time.Minute)
	waitStored(t, in, cfg.Measurement, devices*each, 2*time.Minute)
	checkStored(t, in, cfg.Measurement, cfg.Ledger)

	if n := metric(t, srv, "mqflux_observer_dropped_total", `observer="latest"`); n <= 0 {
		t.Errorf("mqflux_observer_dropped_total{observer=\"latest\"} = %v, want > 0", n)
	}
	if n := metric(t, srv, "mqflux_readings_spooled_total", `source="mqtt"`); n != devices*each {
		t.Errorf("mqflux_readings_spooled_total{source=\"mqtt\"} = %v, want %d", n, devices*each)
	}
	t.Logf("dropped: latest %v, stream %v; stream events dropped for slow clients %v",
		metric(t, srv, "mqflux_observer_dropped_total", `observer="latest"`),
		metric(t, srv, "mqflux_observer_dropped_total", `observer="stream"`),
		metric(t, srv, "mqflux_stream_dropped_events_total"))
}

// startInProcess runs `mqflux serve` as the command does, from the shipped
// config.yaml with the test's settings as MQFLUX_ overrides, inside the test
// process. stop shuts it down and fails the test if that was not clean.
func startInProcess(t *testing.T, in *testenv.Influx, opts ...server.Option) (*testenv.Server, func()) {
	t.Helper()
	srv := &testenv.Server{
		DataDir: t.TempDir(),
		MQTT:    fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)),
		HTTP:    fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)),
		Config:  filepath.Join(testenv.ModuleRoot(t), "config.yaml"),
	}
	env := []string{
		"MQFLUX_DATA_DIR=" + srv.DataDir,
		"MQFLUX_BROKER_TCP=" + srv.MQTT,
		"MQFLUX_HTTP_ADDRESS=" + srv.HTTP,
		"MQFLUX_INFLUX_URL=" + in.URL,
		"MQFLUX_INFLUX_BUCKET=" + in.Bucket(),
		"MQFLUX_INFLUX_DRAIN_TIMEOUT=30s",
	}
	cfg := server.DefaultConfig()
	if _, err := configfile.LoadFile(srv.Config, &cfg, env); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(&testLog{t: t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := server.New(cfg, log, opts...)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan struct{}), make(chan error, 1)
	go func() { done <- s.Run(ctx, func() { close(ready) }) }()
	select {
	case <-ready:
	case err := <-done:
		cancel()
		t.Fatalf("mqflux serve ended while starting: %v", err)
	}
	return srv, func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("mqflux serve: %v", err)
		}
	}
}
