package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mqflux/mqflux/bench"
	"github.com/mqflux/mqflux/internal/testenv"
)

// The delivery contract (README, "What a PUBACK (or a 2xx) means") end to end: real `mqflux serve`
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

// TestFullSpoolPushesBack: with InfluxDB down and a 1 MiB spool, publishers
// fill the spool; then an MQTT 3.1.1 publisher gets no PUBACK (and its
// connection is closed, so that it resends), an MQTT 5 publisher gets
// PUBACK reason 0x97 (quota exceeded), and the pushed-back counter grows. Once InfluxDB is back the spool drains, the resent
// readings are acknowledged, and every acknowledged reading is stored once.
func TestFullSpoolPushesBack(t *testing.T) {
	for _, tc := range []struct {
		name, maxBytes, segmentBytes string
		limit                        float64
		devices, messages            int
	}{
		{"1MiB in 64KiB segments", "1MiB", "64KiB", 1 << 20, 10, 2000}, // about twice what the spool holds
		// One segment as large as the spool: it must still drain and take more.
		{"one 1MiB segment", "1MiB", "1MiB", 1 << 20, 10, 2000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			testFullSpool(t, tc.maxBytes, tc.segmentBytes, tc.limit, tc.devices, tc.messages)
		})
	}
}

func testFullSpool(t *testing.T, maxBytes, segmentBytes string, limit float64, devices, messages int) {
	in := testenv.StartInflux(t, testenv.WithoutFlux())
	in.Stop(t)
	srv := testenv.StartServer(t, testenv.ServerOptions{Influx: in, Env: []string{
		"MQFLUX_SPOOL_MAX_BYTES=" + maxBytes, "MQFLUX_SPOOL_SEGMENT_BYTES=" + segmentBytes,
	}})
	cfg := gatewayLoad(t, srv, devices, messages)
	cfg.AckTimeout = 2 * time.Second // resend soon after a withheld PUBACK
	l := startLoad(t, cfg)

	pushedBack := func() float64 { return metric(t, srv, "mqflux_readings_pushed_back_total", `source="mqtt"`) }
	waitFor(t, 2*time.Minute, "readings pushed back by a full spool", func() bool { return pushedBack() > 0 })
	if spool := metric(t, srv, "mqflux_spool_bytes"); spool > limit || spool < limit/2 {
		t.Errorf("mqflux_spool_bytes = %.0f with a full %s spool", spool, maxBytes)
	}
	if acked := cfg.Ledger.Len(); acked >= devices*messages {
		t.Fatalf("all %d readings acknowledged with a full spool", acked)
	}

	// The same refusal seen by hand-written clients of both versions.
	raw := cfg.Measurement + "_raw"
	topic := "devices/raw-v5/sensors/" + raw
	payload5 := []byte(`{"value": 5, "time": "2026-11-23T18:00:05.5Z"}`)
	v5 := dialRaw(t, srv.MQTT, 5, "raw-v5", testenv.DemoGateway.User, testenv.DemoGateway.Password)
	if code, err := v5.publish(t, 1, topic, payload5, false, 30*time.Second); err != nil || code != 0x97 {
		t.Fatalf("MQTT 5 publish into a full spool: PUBACK reason %#x, %v; want 0x97", code, err)
	}
	topic4 := "devices/raw-v4/sensors/" + raw
	payload4 := []byte(`{"value": 4, "time": "2026-11-23T18:00:04.25Z"}`)
	v4 := dialRaw(t, srv.MQTT, 4, "raw-v4", testenv.DemoGateway.User, testenv.DemoGateway.Password)
	// A 3.1.1 client resends only after reconnecting, so the server closes
	// the connection instead of answering.
	if code, err := v4.publish(t, 1, topic4, payload4, false, 30*time.Second); err != errClosed {
		t.Fatalf("MQTT 3.1.1 publish into a full spool: PUBACK %#x, %v; want no PUBACK and the connection closed", code, err)
	}
	before := pushedBack()
	waitFor(t, time.Minute, "pushed-back counter growing while publishers resend", func() bool { return pushedBack() > before })
	if n := metric(t, srv, "mqflux_mqtt_publish_refused_total", `reason="spool_full"`); n < 2 {
		t.Errorf("mqflux_mqtt_publish_refused_total{reason=spool_full} = %.0f, want the refusals counted", n)
	}
	ackedWhileFull := cfg.Ledger.Len()

	in.Start(t)
	// Both raw publishers resend, as their protocol says, until acknowledged.
	for _, c := range []struct {
		version byte
		id      string
		topic   string
		payload []byte
	}{{5, "raw-v5", topic, payload5}, {4, "raw-v4", topic4, payload4}} {
		deadline := time.Now().Add(3 * time.Minute)
		for {
			cl := dialRaw(t, srv.MQTT, c.version, c.id, testenv.DemoGateway.User, testenv.DemoGateway.Password)
			code, err := cl.publish(t, 1, c.topic, c.payload, true, 5*time.Second)
			cl.conn.Close()
			if err == nil && code == 0 {
				break
			}
			if err != nil && err != errNoPuback && err != errClosed {
				t.Fatalf("MQTT %d resend: %v", c.version, err)
			}
			if time.Now().After(deadline) {
				t.Fatalf("MQTT %d resend still refused (reason %#x, %v) 3 minutes after InfluxDB came back", c.version, code, err)
			}
			time.Sleep(time.Second)
		}
	}

	rep := l.finish(t, 4*time.Minute)
	if rep.Resent == 0 {
		t.Errorf("no reading was resent, yet PUBACKs were withheld")
	}
	t.Logf("%d readings acknowledged while the spool was full; %d pushed back", ackedWhileFull, int(pushedBack()))
	waitStored(t, in, cfg.Measurement, devices*messages, 2*time.Minute)
	checkStored(t, in, cfg.Measurement, cfg.Ledger)

	waitStored(t, in, raw, 2, time.Minute)
	got := in.Query(t, `SELECT "value" FROM "`+raw+`" GROUP BY "device"`)
	want := map[string][2]string{"raw-v4": {"1795456804250000000", "4"}, "raw-v5": {"1795456805500000000", "5"}}
	for _, s := range got {
		w := want[s.Tags["device"]]
		if len(s.Values) != 1 || fmt.Sprint(s.Values[0][0]) != w[0] || fmt.Sprint(s.Values[0][1]) != w[1] {
			t.Errorf("device %s: stored %v, want one point at %s with value %s", s.Tags["device"], s.Values, w[0], w[1])
		}
		delete(want, s.Tags["device"])
	}
	if len(want) > 0 {
		t.Errorf("not stored: %v", want)
	}
}

// TestSigtermDrains: SIGTERM in the middle of a stream. With InfluxDB up,
// every reading acknowledged before the exit is in InfluxDB once the
// process has exited. With InfluxDB down and a 1 s drain, the readings stay
// in the spool and are written after the next start. Either way the
// publishers resend what had no PUBACK to the restarted server, and in the
// end every acknowledged reading is stored once.
func TestSigtermDrains(t *testing.T) {
	t.Run("influx up", func(t *testing.T) {
		const devices, messages = 20, 1000
		in := testenv.StartInflux(t, testenv.WithoutFlux())
		srv := testenv.StartServer(t, testenv.ServerOptions{Influx: in})
		cfg := gatewayLoad(t, srv, devices, messages)
		cfg.Rate = 200 // per device: 4,000 readings/s, about 5 s of stream
		l := startLoad(t, cfg)

		waitFor(t, time.Minute, "5000 readings acknowledged", func() bool { return cfg.Ledger.Len() >= 5000 })
		srv.Stop(t) // SIGTERM; returns after the graceful exit
		acked := cfg.Ledger.Readings()
		if len(acked) >= devices*messages {
			t.Fatalf("the stream ended before SIGTERM")
		}
		if strings.Contains(srv.Log(), "drain time over") {
			t.Fatalf("drain ran out of time with InfluxDB up")
		}
		// No waiting: the exit itself promises these are stored.
		stored := storedValues(t, in, cfg.Measurement)
		missing := 0
		for _, r := range acked {
			if ts, ok := stored[r.Value]; !ok || ts != r.Time {
				missing++
			}
		}
		if missing > 0 {
			t.Fatalf("%d of %d readings acknowledged before SIGTERM are not in InfluxDB after the exit", missing, len(acked))
		}
		t.Logf("%d readings acknowledged before SIGTERM, all stored at exit", len(acked))

		srv.Start(t)
		l.finish(t, 3*time.Minute)
		waitStored(t, in, cfg.Measurement, devices*messages, 2*time.Minute)
		checkStored(t, in, cfg.Measurement, cfg.Ledger)
	})

	t.Run("influx down, drain times out", func(t *testing.T) {
		const devices, messages = 10, 500
		in := testenv.StartInflux(t, testenv.WithoutFlux())
		in.Stop(t)
		srv := testenv.StartServer(t, testenv.ServerOptions{Influx: in, Env: []string{"MQFLUX_INFLUX_DRAIN_TIMEOUT=1s"}})
		cfg := gatewayLoad(t, srv, devices, messages)
		cfg.Rate = 100
		l := startLoad(t, cfg)

		waitFor(t, time.Minute, "1000 readings acknowledged", func() bool { return cfg.Ledger.Len() >= 1000 })
		srv.Stop(t)
		acked := cfg.Ledger.Len()
		if acked >= devices*messages {
			t.Fatalf("the stream ended before SIGTERM")
		}
		if !strings.Contains(srv.Log(), "drain time over: readings kept in the spool") {
			t.Fatalf("no log line saying the readings stay in the spool")
		}

		in.Start(t)
		if n := count(in, cfg.Measurement); n != 0 {
			t.Fatalf("InfluxDB holds %d points though it was down the whole time", n)
		}
		srv.Start(t)
		l.finish(t, 3*time.Minute)
		waitStored(t, in, cfg.Measurement, devices*messages, 2*time.Minute)
		checkStored(t, in, cfg.Measurement, cfg.Ledger)
		t.Logf("%d readings acknowledged before SIGTERM waited in the spool and were stored after the restart", acked)
	})
}
