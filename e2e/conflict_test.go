package e2e

import (
	"context"
	"fmt"
	"io"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/mqflux/mqflux/internal/testenv"
)

// TestFieldTypeConflict: after mqflux started, another writer stores
// "state" of a measurement as a float straight into InfluxDB, then a
// reading brings "state" as a string, between good readings. mqflux has
// never seen "state" (it was not there at start), so only InfluxDB can
// refuse that point: it ends in the dead-letter file with InfluxDB's own
// reason, every good reading is stored exactly, and the rejection is
// counted. (A conflict mqflux can know is refused before the PUBACK: see
// TestFieldTypeConflictRefusedBeforeAck.)
func TestFieldTypeConflict(t *testing.T) {
	in := testenv.StartInflux(t, testenv.WithoutFlux())
	srv := testenv.StartServer(t, testenv.ServerOptions{Influx: in})
	measurement := measurementFor(t)
	topic := "devices/d1/sensors/" + measurement
	at := func(i int) int64 { return t0 + int64(i)*1e9 }
	good := func(i int) string { return fmt.Sprintf(`{"value": %d, "time": %d}`, i, at(i)/1e9) }

	// The first reading makes "value" a float field; another writer makes
	// "state" one, behind mqflux's back.
	pubFile(t, srv.MQTT, testenv.DemoGateway, topic, "-m", good(0))
	in.WriteLines(t, fmt.Sprintf("%s,device=other state=1.5 %d\n", measurement, at(0)))
	waitStored(t, in, measurement, 1, time.Minute)

	// One mosquitto_pub, one message per line, published back to back so
	// they most likely share a batch with the conflicting point.
	hot := fmt.Sprintf(`{"state": "hot", "time": %d}`, at(2)/1e9)
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
	wantLine := fmt.Sprintf("%s,device=d1 state=\"hot\" %d\n", measurement, at(2))
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

// TestFieldTypeConflictRefusedBeforeAck: devices share a measurement whose
// "value" InfluxDB holds as a float (stored from the first device's
// readings, so confirmed); one device writes a string into it. mqflux
// refuses the string reading before its PUBACK (field_type_conflict,
// naming the field and both types) and dead-letters it; every other
// reading is stored.
func TestFieldTypeConflictRefusedBeforeAck(t *testing.T) {
	in := testenv.StartInflux(t, testenv.WithoutFlux())
	srv := testenv.StartServer(t, testenv.ServerOptions{Influx: in})
	measurement := measurementFor(t)
	at := func(i int) int64 { return t0/1e9 + int64(i) }
	reading := func(i int) string { return fmt.Sprintf(`{"value": %d, "time": %d}`, i, at(i)) }

	pubLines(t, srv.MQTT, testenv.DemoGateway, "devices/d1/sensors/"+measurement, reading(0), reading(1), reading(2))
	// A type learnt from readings refuses nothing until InfluxDB, having
	// stored it, confirms it.
	waitStored(t, in, measurement, 3, time.Minute)
	waitFor(t, time.Minute, "the float confirmed by InfluxDB", func() bool {
		return metric(t, srv, "mqflux_field_types_provisional") == 0 && metric(t, srv, "mqflux_field_types_known") > 0
	})
	hot := fmt.Sprintf(`{"value": "hot", "time": %d}`, at(100))
	pubLines(t, srv.MQTT, testenv.DemoGateway, "devices/evil/sensors/"+measurement, hot)
	pubLines(t, srv.MQTT, testenv.DemoGateway, "devices/d2/sensors/"+measurement, reading(3), reading(4), reading(5))
	waitStored(t, in, measurement, 6, time.Minute)

	stored := storedValues(t, in, measurement)
	for i := 0; i < 6; i++ {
		if ts, ok := stored[int64(i)]; !ok || ts != at(i)*1e9 {
			t.Errorf("value %d stored at %d (present: %v), want at %d", i, ts, ok, at(i)*1e9)
		}
	}
	if len(stored) != 6 {
		t.Errorf("InfluxDB holds values %v, want 0..5", stored)
	}
	letters := deadLetters(t, srv)
	if len(letters) != 1 {
		t.Fatalf("%d dead letters, want 1: %+v", len(letters), letters)
	}
	e := letters[0]
	wantDetail := fmt.Sprintf(`field "value" of measurement %q is float, this reading has string`, measurement)
	if e.Source != "mqtt" || e.Reason != "field_type_conflict" || e.Device != "evil" || e.Detail != wantDetail || string(e.Payload) != hot {
		t.Errorf("dead letter %+v\nwant source mqtt, reason field_type_conflict, device evil, detail %q, payload %q", e, wantDetail, hot)
	}
	for _, m := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"mqflux_readings_rejected_total", []string{`reason="field_type_conflict"`}, 1},
		{"mqflux_readings_spooled_total", []string{`source="mqtt"`}, 6},
		{"mqflux_readings_influx_rejected_total", nil, 0}, // never reached InfluxDB
	} {
		if got := metric(t, srv, m.name, m.labels...); got != m.want {
			t.Errorf("%s%v = %v, want %v", m.name, m.labels, got, m.want)
		}
	}
}

// TestFieldTypesLearntAtStart: InfluxDB already holds "value" as a float
// when mqflux starts, so the very first reading bringing a string is
// refused before its PUBACK, and a float reading after it is stored.
func TestFieldTypesLearntAtStart(t *testing.T) {
	in := testenv.StartInflux(t, testenv.WithoutFlux())
	measurement := measurementFor(t)
	in.WriteLines(t, fmt.Sprintf("%s,device=old value=1.5 %d\n", measurement, t0))
	srv := testenv.StartServer(t, testenv.ServerOptions{Influx: in})
	topic := "devices/d1/sensors/" + measurement

	hot := fmt.Sprintf(`{"value": "hot", "time": %d}`, int64(t0/1e9)+1)
	pubLines(t, srv.MQTT, testenv.DemoGateway, topic, hot, fmt.Sprintf(`{"value": 7, "time": %d}`, int64(t0/1e9)+2))
	waitStored(t, in, measurement, 2, time.Minute)

	letters := deadLetters(t, srv)
	if len(letters) != 1 {
		t.Fatalf("%d dead letters, want 1: %+v", len(letters), letters)
	}
	if e := letters[0]; e.Source != "mqtt" || e.Reason != "field_type_conflict" || string(e.Payload) != hot ||
		!strings.Contains(e.Detail, "is float, this reading has string") {
		t.Errorf("dead letter %+v, want source mqtt, reason field_type_conflict, the payload, float and string named", e)
	}
	if got := storedValues(t, in, measurement)[7]; got != int64(t0+2e9) {
		t.Errorf("value 7 stored at %d, want %d", got, int64(t0+2e9))
	}
	if got := metric(t, srv, "mqflux_readings_influx_rejected_total"); got != 0 {
		t.Errorf("InfluxDB refused %v points, want none", got)
	}
}

// pubLines publishes each line as one QoS 1 message with one run of the
// real mosquitto_pub (-l reads messages from standard input).
func pubLines(t *testing.T, addr string, l testenv.Login, topic string, lines ...string) {
	t.Helper()
	pubFrom(t, addr, l, topic, strings.NewReader(strings.Join(lines, "\n")+"\n"))
}

// pubFrom publishes each line read from r as one QoS 1 message with one
// run of the real mosquitto_pub -l, as fast as r gives them.
func pubFrom(t *testing.T, addr string, l testenv.Login, topic string, r io.Reader) {
	t.Helper()
	bin := testenv.RequireCommand(t, "mosquitto_pub")
	host, port, _ := strings.Cut(addr, ":")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-h", host, "-p", port, "-u", l.User, "-P", l.Password, "-q", "1", "-t", topic, "-l")
	cmd.Stdin = r
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("mosquitto_pub -l -t %s: %v %s", topic, err, out)
	}
}
