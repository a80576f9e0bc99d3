package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/mqflux/mqflux/internal/testenv"
)

// TestFieldTypeConflict: InfluxDB holds "value" of a measurement as a
// float, then a reading brings it as a string, between good readings.
// InfluxDB itself refuses that point: it ends in the dead-letter file with
// InfluxDB's own reason, every good reading is stored exactly, and the
// rejection is counted.
func TestFieldTypeConflict(t *testing.T) {
	in := testenv.StartInflux(t, testenv.WithoutFlux())
	srv := testenv.StartServer(t, testenv.ServerOptions{Influx: in})
	measurement := measurementFor(t)
	topic := "devices/d1/sensors/" + measurement
	at := func(i int) int64 { return t0 + int64(i)*1e9 }
	good := func(i int) string { return fmt.Sprintf(`{"value": %d, "time": %d}`, i, at(i)/1e9) }

	// The first reading makes "value" a float field.
	pubFile(t, srv.MQTT, testenv.DemoGateway, topic, "-m", good(0))
	waitStored(t, in, measurement, 1, time.Minute)

	// One mosquitto_pub, one message per line, published back to back so
	// they most likely share a batch with the conflicting point.
	hot := fmt.Sprintf(`{"value": "hot", "time": %d}`, at(2)/1e9)
	pubLines(t, srv.MQTT, testenv.DemoGateway, topic, good(1), hot, good(3), good(4))

	waitFor(t, time.Minute, "the conflicting point dead-lettered", func() bool {
		return len(deadLetters(t, srv)) > 0
	})
	waitStored(t, in, measurement, 4, time.Minute)

	stored := storedValues(t, in, measurement)
	want := map[int64]int64{0: at(0), 1: at(1), 3: at(3), 4: at(4)}
	if len(stored) != len(want) {
		t.Errorf("InfluxDB holds values %v, want %v", stored, want)
	}
	for v, ts := range want {
		if got, ok := stored[v]; !ok || got != ts {
			t.Errorf("value %d stored at %d (present: %v), want at %d", v, got, ok, ts)
		}
	}

	letters := deadLetters(t, srv)
	if len(letters) != 1 {
		t.Fatalf("%d dead letters, want 1: %+v", len(letters), letters)
	}
	e := letters[0]
	wantLine := fmt.Sprintf("%s,device=d1 value=\"hot\" %d\n", measurement, at(2))
	if e.Source != "influx" || e.Reason != "influx_rejected" || string(e.Payload) != wantLine {
		t.Errorf("dead letter source %q reason %q payload %q; want influx, influx_rejected, %q", e.Source, e.Reason, e.Payload, wantLine)
	}
	// InfluxDB's words, not ours: the operator sees what InfluxDB said.
	if !strings.Contains(e.Detail, "field type conflict") || !strings.Contains(e.Detail, measurement) {
		t.Errorf("dead letter detail %q, want InfluxDB's field type conflict message naming %s", e.Detail, measurement)
	}

	for _, m := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"mqflux_readings_influx_rejected_total", nil, 1},
		{"mqflux_influx_records_rejected_total", nil, 1},
		{"mqflux_dead_letters_total", []string{`source="influx"`}, 1},
		{"mqflux_readings_rejected_total", nil, 0}, // the mapping took every reading
		{"mqflux_readings_spooled_total", []string{`source="mqtt"`}, 5},
		{"mqflux_readings_written_total", nil, 4},
	} {
		if got := metric(t, srv, m.name, m.labels...); got != m.want {
			t.Errorf("%s%v = %v, want %v", m.name, m.labels, got, m.want)
		}
	}
	// A refused point is data, not an outage: InfluxDB stays up.
	if st := healthStatus(t, srv); st != "ok" {
		t.Errorf("/healthz status %q, want ok", st)
	}
}

// pubLines publishes each line as one QoS 1 message with one run of the
// real mosquitto_pub (-l reads messages from standard input).
func pubLines(t *testing.T, addr string, l testenv.Login, topic string, lines ...string) {
	t.Helper()
	bin := testenv.RequireCommand(t, "mosquitto_pub")
	host, port, _ := strings.Cut(addr, ":")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-h", host, "-p", port, "-u", l.User, "-P", l.Password, "-q", "1", "-t", topic, "-l")
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_pub -l -t %s: %v %s", topic, err, out)
	}
}
