package e2e

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqflux/mqflux/bench/mqttwire"
	"github.com/mqflux/mqflux/internal/testenv"
)

// TestLogIngestBench measures what storing journal lines costs `mqflux
// serve`: gateways publish log lines (mapping.logs_template, the payload
// of TestDeviceLogs) QoS 1 to devices/{device}/logs, a window of PUBLISHes
// in flight each, until InfluxDB holds every one; it reports lines stored
// per second and the CPU seconds per million lines of mqflux and influxd,
// then the same for as many numeric readings (BENCHMARKS.md, "Journal
// lines"). It runs only with MQFLUX_BENCH=logs;
// MQFLUX_BENCH_DEVICES (20 connections, a device each) and
// MQFLUX_BENCH_LINES (5,000 per device) change the load.
func TestLogIngestBench(t *testing.T) {
	if os.Getenv("MQFLUX_BENCH") != "logs" {
		t.Skip("a benchmark: set MQFLUX_BENCH=logs")
	}
	devices, _ := strconv.Atoi(envOr("MQFLUX_BENCH_DEVICES", "20"))
	perDevice, _ := strconv.Atoi(envOr("MQFLUX_BENCH_LINES", "5000"))
	// The same harness with a numeric reading a message, for comparison
	// in the same run.
	for _, kind := range []struct{ name, topic, measurement, field string }{
		{"journal", "devices/%s/logs", "logs", "message"},
		{"readings", "devices/%s/sensors/bench", "bench", "value"},
	} {
		t.Run(kind.name, func(t *testing.T) {
			in := testenv.StartInflux(t, testenv.WithoutFlux())
			srv := testenv.StartServer(t, testenv.ServerOptions{Influx: in,
				Env: []string{"MQFLUX_MAPPING_LOGS_TEMPLATE=devices/{device}/logs", "MQFLUX_LOG_LEVEL=info"}})
			total := devices * perDevice
			clients := make([]*rawClient, devices)
			for d := range clients {
				clients[d] = dialRaw(t, srv.MQTT, 4, fmt.Sprintf("log-bench-%d", d), testenv.DemoGateway.User, testenv.DemoGateway.Password)
			}
			cpu := func() (float64, float64) { return procCPU(t, srv.Pid()), procCPU(t, in.Pid()) }
			mq0, in0 := cpu()
			start := time.Now()
			var acked atomic.Int64
			errs := make(chan error, devices)
			var wg sync.WaitGroup
			for d, c := range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					topic := fmt.Sprintf(kind.topic, fmt.Sprintf("pi-log-%d", d))
					if err := publishWindowed(c, topic, perDevice, start, kind.name == "journal", &acked); err != nil {
						errs <- fmt.Errorf("device %d: %w", d, err)
					}
				}()
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Fatal(err)
			}
			ackedIn := time.Since(start)
			waitFor(t, 10*time.Minute, "every message in InfluxDB", func() bool { return in.Count(t, kind.measurement, kind.field) >= total })
			elapsed := time.Since(start)
			mq1, in1 := cpu()
			if n := in.Count(t, kind.measurement, kind.field); n != total || acked.Load() != int64(total) {
				t.Errorf("InfluxDB holds %d, %d acknowledged; want %d", n, acked.Load(), total)
			}
			perMillion := func(s float64) float64 { return s / float64(total) * 1e6 }
			t.Logf("RESULT %s: %d messages from %d devices: acknowledged in %.1fs, stored in %.1fs: %.0f/s stored; "+
				"CPU per million: mqflux %.1f s, influxd %.1f s",
				kind.name, total, devices, ackedIn.Seconds(), elapsed.Seconds(), float64(total)/elapsed.Seconds(), perMillion(mq1-mq0), perMillion(in1-in0))
		})
	}
}

// logWindow is how many PUBLISHes a bench connection keeps unacknowledged.
const logWindow = 64

// publishWindowed sends n messages to topic on c, QoS 1, at most
// logWindow unacknowledged, each with its own time (from base, a
// microsecond apart, so InfluxDB keeps every one), and waits for every
// PUBACK. A message is a journal line (journal) or a numeric reading.
func publishWindowed(c *rawClient, topic string, n int, base time.Time, journal bool, acked *atomic.Int64) error {
	window := make(chan struct{}, logWindow)
	readErr := make(chan error, 1)
	go func() {
		for got := 0; got < n; got++ {
			_ = c.conn.SetReadDeadline(time.Now().Add(2 * time.Minute))
			p, err := c.r.Next()
			if err != nil {
				readErr <- fmt.Errorf("read PUBACK %d of %d: %w", got+1, n, err)
				return
			}
			if p.Type != mqttwire.PUBACK {
				readErr <- fmt.Errorf("got %s, want PUBACK", p.Type)
				return
			}
			acked.Add(1)
			<-window
		}
		readErr <- nil
	}()
	units := []string{"sshd", "systemd", "kernel", "cron"}
	levels := []string{"info", "info", "notice", "err"}
	var pkt []byte
	for i := range n {
		select {
		case window <- struct{}{}:
		case err := <-readErr:
			return errors.Join(err, errors.New("reader stopped before every PUBACK"))
		}
		at := base.Add(-time.Hour).Add(time.Duration(i) * time.Microsecond).UTC().Format(time.RFC3339Nano)
		payload := fmt.Appendf(nil, `{"value": %d, "time": %q}`, i, at)
		if journal {
			payload = fmt.Appendf(payload[:0], `{"message": "Accepted publickey for pi from 10.0.%d.%d port %d ssh2: ED25519 SHA256:kq3mYd0vGz1xQ8o", `+
				`"pid": %d, "time": %q, "tags": {"unit": %q, "level": %q}}`, i/256%256, i%256, 40000+i%20000, 800+i%50, at, units[i%4], levels[i%4])
		}
		var err error
		pkt, err = mqttwire.AppendPublish(pkt[:0], mqttwire.Publish{Topic: topic, Payload: payload, QoS: 1, PacketID: uint16(i%65535 + 1)})
		if err != nil {
			return err
		}
		if _, err := c.conn.Write(pkt); err != nil {
			return fmt.Errorf("write PUBLISH %d: %w", i, err)
		}
	}
	return <-readErr
}
