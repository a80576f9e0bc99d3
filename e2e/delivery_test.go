package e2e

import (
	"testing"
	"time"

	"github.com/mqflux/mqflux/bench"
	"github.com/mqflux/mqflux/internal/testenv"
)

// The delivery contract (DESIGN.md) end to end: real `mqflux serve`
// processes, a real InfluxDB 1.8, the load tool as the publisher. Every
// test compares InfluxDB with the ledger of acknowledged readings point by
// point: value, device and the timestamp the payload carried.

// TestLoadStoredExactly: 100 devices × 1000 QoS 1 readings through the
// broker become exactly 100,000 points, each with the value, device and
// time it was sent with. It logs the end-to-end rate BENCHMARKS.md quotes.
func TestLoadStoredExactly(t *testing.T) {
	const devices, messages = 100, 1000
	in := testenv.StartInflux(t, testenv.WithoutFlux())
	srv := testenv.StartServer(t, testenv.ServerOptions{Influx: in})
	cfg := gatewayLoad(t, srv, devices, messages)
	cfg.PIDs = []bench.NamedPID{{Name: "mqflux", PID: srv.Pid()}}

	start := time.Now()
	l := startLoad(t, cfg)
	rep := l.finish(t, 5*time.Minute)
	waitStored(t, in, cfg.Measurement, devices*messages, 2*time.Minute)
	elapsed := time.Since(start)
	t.Logf("end to end: %d readings stored in %.2fs: %.0f readings/s (acked at %.0f/s)",
		devices*messages, elapsed.Seconds(), float64(devices*messages)/elapsed.Seconds(), rep.AckRate)
	for _, p := range rep.Processes {
		t.Logf("cpu %s: %.2fs, %.2f s per million acked readings", p.Name, p.CPUSeconds, p.CPUPerMillion)
	}
	checkStored(t, in, cfg.Measurement, cfg.Ledger)
}

// TestInfluxOutage: InfluxDB stops for more than 20 s in the middle of a
// stream. Publishers keep getting PUBACKs (the spool holds the readings),
// /healthz says degraded, and once InfluxDB is back every acknowledged
// reading is stored exactly once.
func TestInfluxOutage(t *testing.T) {
	const devices, messages = 20, 1500
	in := testenv.StartInflux(t, testenv.WithoutFlux())
	srv := testenv.StartServer(t, testenv.ServerOptions{Influx: in})
	cfg := gatewayLoad(t, srv, devices, messages)
	cfg.Rate = 40 // per device: 800 readings/s, the stream lasts about 37 s
	l := startLoad(t, cfg)

	waitFor(t, time.Minute, "2000 readings acknowledged", func() bool { return cfg.Ledger.Len() >= 2000 })
	waitFor(t, time.Minute, "readings stored before the outage", func() bool { return count(in, cfg.Measurement) > 0 })
	if s := healthStatus(t, srv); s != "ok" {
		t.Fatalf("/healthz before the outage: %s, want ok", s)
	}
	in.Stop(t)
	down := time.Now()
	ackedAtStop := cfg.Ledger.Len()
	waitFor(t, time.Minute, "/healthz degraded while InfluxDB is down", func() bool { return healthStatus(t, srv) == "degraded" })
	time.Sleep(time.Until(down.Add(21 * time.Second)))
	if s := healthStatus(t, srv); s != "degraded" {
		t.Fatalf("/healthz after %s of outage: %s, want degraded", time.Since(down).Round(time.Second), s)
	}
	ackedInOutage := cfg.Ledger.Len() - ackedAtStop
	if ackedInOutage <= 0 {
		t.Fatalf("no reading acknowledged during the outage; the spool should take them")
	}
	if cfg.Ledger.Len() >= devices*messages {
		t.Fatalf("the stream ended during the outage; the test wants InfluxDB back before the end")
	}
	in.Start(t)
	t.Logf("InfluxDB down %.1fs; %d readings acknowledged meanwhile", time.Since(down).Seconds(), ackedInOutage)

	l.finish(t, 3*time.Minute)
	waitStored(t, in, cfg.Measurement, devices*messages, 3*time.Minute)
	checkStored(t, in, cfg.Measurement, cfg.Ledger)
	waitFor(t, time.Minute, "/healthz ok again", func() bool { return healthStatus(t, srv) == "ok" })
}

// TestServerKilled: the server dies by SIGKILL in the middle of a stream
// and starts again on the same data directory. Publishers reconnect and
// resend what had no PUBACK; every acknowledged reading is stored once.
func TestServerKilled(t *testing.T) {
	const devices, messages = 50, 1000
	in := testenv.StartInflux(t, testenv.WithoutFlux())
	srv := testenv.StartServer(t, testenv.ServerOptions{Influx: in})
	cfg := gatewayLoad(t, srv, devices, messages)
	cfg.Rate = 200 // per device: 10,000 readings/s, about 5 s of stream
	l := startLoad(t, cfg)

	waitFor(t, time.Minute, "15000 readings acknowledged", func() bool { return cfg.Ledger.Len() >= 15000 })
	srv.Kill(t)
	acked := cfg.Ledger.Len()
	if acked >= devices*messages {
		t.Fatalf("the stream ended before the kill")
	}
	srv.Start(t)
	rep := l.finish(t, 3*time.Minute)
	if rep.Reconnects == 0 {
		t.Errorf("no device reconnected after the kill")
	}
	t.Logf("killed after %d acknowledged readings; %d resent after the restart", acked, rep.Resent)
	waitStored(t, in, cfg.Measurement, devices*messages, 2*time.Minute)
	checkStored(t, in, cfg.Measurement, cfg.Ledger)
}
