package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mqflux/mqflux/flow/deadletter"
	"github.com/mqflux/mqflux/internal/testenv"
)

// TestFieldTypePoisoningDuringOutage: InfluxDB holds "value" of victim as a
// float, then goes down, and mqflux starts without it, so it knows the
// field's type only from readings. dev1 sends "hot" first, then dev2 sends
// floats. The string must not fix the field's type for everyone: every
// float of dev2 is acknowledged and, once InfluxDB is back, stored exactly
// once; InfluxDB refuses dev1's string, which is dead-lettered with
// InfluxDB's own reason; later floats of dev2 are stored without a
// restart, and once InfluxDB confirmed the float, a string is refused
// before its PUBACK.
func TestFieldTypePoisoningDuringOutage(t *testing.T) {
	in := testenv.StartInflux(t, testenv.WithoutFlux())
	const measurement = "victim"
	sec := func(i int) int64 { return t0/1e9 + int64(i) }
	in.WriteLines(t, fmt.Sprintf("%s,device=old value=1.5 %d\n", measurement, sec(0)*1e9))
	in.Stop(t)

	srv := testenv.StartServer(t, testenv.ServerOptions{Influx: in})
	dev1, dev2 := "devices/dev1/sensors/"+measurement, "devices/dev2/sensors/"+measurement
	floats := func(from, n int) []string {
		var out []string
		for i := from; i < from+n; i++ {
			out = append(out, fmt.Sprintf(`{"value": %d.5, "time": %d}`, i, sec(100+i)))
		}
		return out
	}
	hot := fmt.Sprintf(`{"value": "hot", "time": %d}`, sec(1))
	pubLines(t, srv.MQTT, testenv.DemoGateway, dev1, hot)
	const n = 20
	pubLines(t, srv.MQTT, testenv.DemoGateway, dev2, floats(0, n)...) // returns once all are acknowledged
	for _, e := range deadLetters(t, srv) {
		t.Errorf("dead-lettered while InfluxDB is down, on a type learnt from a reading: %+v", e)
	}

	in.Start(t)
	waitFor(t, 2*time.Minute, fmt.Sprintf("%d floats of dev2 stored", n), func() bool { return deviceCount(in, measurement, "dev2") >= n })
	waitFor(t, time.Minute, "dev1's string dead-lettered", func() bool { return len(deadLetters(t, srv)) > 0 })

	// Later floats of dev2 are stored, with no restart.
	pubLines(t, srv.MQTT, testenv.DemoGateway, dev2, floats(n, 5)...)
	waitFor(t, time.Minute, "later floats of dev2 stored", func() bool { return deviceCount(in, measurement, "dev2") >= n+5 })

	// InfluxDB's verdict is now mqflux's: the float is confirmed, and a
	// string is refused before its PUBACK, with mqflux's reason.
	waitFor(t, time.Minute, "the float confirmed", func() bool {
		return metric(t, srv, "mqflux_field_types_provisional") == 0 && metric(t, srv, "mqflux_field_types_known") > 0
	})
	hot2 := fmt.Sprintf(`{"value": "hotter", "time": %d}`, sec(2))
	pubLines(t, srv.MQTT, testenv.DemoGateway, dev1, hot2)
	waitFor(t, time.Minute, "the second string dead-lettered", func() bool { return len(deadLetters(t, srv)) > 1 })

	if got := deviceCount(in, measurement, "dev2"); got != n+5 {
		t.Errorf("InfluxDB holds %d values of dev2, want %d (each exactly once)", got, n+5)
	}
	if got := deviceCount(in, measurement, "dev1"); got != 0 {
		t.Errorf("InfluxDB holds %d values of dev1, want none", got)
	}
	letters := deadLetters(t, srv)
	if len(letters) != 2 {
		t.Fatalf("%d dead letters, want 2: %+v", len(letters), letters)
	}
	wantLine := fmt.Sprintf("%s,device=dev1 value=\"hot\" %d\n", measurement, sec(1)*1e9)
	if e := letters[0]; e.Source != "influx" || e.Reason != "influx_rejected" || string(e.Payload) != wantLine ||
		!strings.Contains(e.Detail, "field type conflict") {
		t.Errorf("dead letter %+v\nwant InfluxDB's refusal (source influx, reason influx_rejected, a field type conflict) of %q", e, wantLine)
	}
	wantDetail := fmt.Sprintf(`field "value" of measurement %q is float, this reading has string`, measurement)
	if e := letters[1]; e.Source != "mqtt" || e.Reason != "field_type_conflict" || e.Device != "dev1" || e.Detail != wantDetail || string(e.Payload) != hot2 {
		t.Errorf("dead letter %+v\nwant mqflux's refusal (source mqtt, field_type_conflict, %q) of %q", e, wantDetail, hot2)
	}
	if got := metric(t, srv, "mqflux_field_types_corrected_total"); got != 1 {
		t.Errorf("mqflux_field_types_corrected_total = %v, want 1 (string replaced by float)", got)
	}
}

// TestFieldTypeDeadLettersReplayedOnceConfirmed: the dead-letter file holds
// float readings that mqflux refused before their PUBACK because it took
// the field for a string (as a release that trusted types learnt from
// readings did while InfluxDB was away), next to other dead letters. Once
// InfluxDB confirms the field is a float, those readings are replayed on
// their own, with their original time, and leave the file; the others
// stay.
func TestFieldTypeDeadLettersReplayedOnceConfirmed(t *testing.T) {
	in := testenv.StartInflux(t, testenv.WithoutFlux())
	measurement := measurementFor(t)
	sec := func(i int) int64 { return t0/1e9 + int64(i) }
	in.WriteLines(t, fmt.Sprintf("%s,device=old value=1.5 %d\n%s_other,device=old value=1.5 %d\n", measurement, sec(0)*1e9, measurement, sec(0)*1e9))
	srv := testenv.StartServer(t, testenv.ServerOptions{Influx: in})
	srv.Stop(t)

	topic := func(dev, m string) string { return "devices/" + dev + "/sensors/" + m }
	conflict := func(m, known, got string) string {
		return fmt.Sprintf(`field "value" of measurement %q is %s, this reading has %s`, m, known, got)
	}
	guessed := []deadletter.Entry{ // refused under a wrong guess: replayed
		{Source: "mqtt", Device: "dev2", Topic: topic("dev2", measurement), Reason: "field_type_conflict",
			Detail: conflict(measurement, "string", "float"), Payload: []byte(fmt.Sprintf(`{"value": 2.5, "time": %d}`, sec(2)))},
		{Source: "http", Device: "dev3", Topic: topic("dev3", measurement), Reason: "field_type_conflict",
			Detail: conflict(measurement, "string", "float"), Payload: []byte(fmt.Sprintf(`{"value": 3.5, "time": %d}`, sec(3)))},
	}
	kept := []deadletter.Entry{ // refused rightly, or for something else: kept
		{Source: "mqtt", Device: "dev1", Topic: topic("dev1", measurement), Reason: "field_type_conflict",
			Detail: conflict(measurement, "float", "string"), Payload: []byte(fmt.Sprintf(`{"value": "hot", "time": %d}`, sec(4)))},
		{Source: "mqtt", Device: "dev2", Topic: topic("dev2", measurement), Reason: "bad_payload",
			Detail: "not JSON", Payload: []byte(`{"value": 5.5`)},
	}
	f, err := deadletter.Open(filepath.Join(srv.DataDir, "dead-letter.jsonl"), 1<<20, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range append(append([]deadletter.Entry{}, guessed...), kept...) {
		e.Time = time.Unix(sec(0), 0)
		if err := f.Add(e); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}

	srv.Start(t)
	waitFor(t, time.Minute, "the readings refused under a wrong guess stored", func() bool {
		return deviceCount(in, measurement, "dev2") == 1 && deviceCount(in, measurement, "dev3") == 1
	})
	waitFor(t, time.Minute, "the replayed readings gone from the dead-letter file", func() bool {
		return len(deadLetters(t, srv)) == len(kept)
	})
	stored := storedValues(t, in, measurement)
	if stored[2] != sec(2)*1e9 || stored[3] != sec(3)*1e9 {
		t.Errorf("InfluxDB holds %v, want 2.5 and 3.5 at their original times", stored)
	}
	for i, e := range deadLetters(t, srv) {
		if e.Reason != kept[i].Reason || e.Detail != kept[i].Detail || string(e.Payload) != string(kept[i].Payload) {
			t.Errorf("dead letter %d: %+v, want %+v", i, e, kept[i])
		}
	}
	if got := deviceCount(in, measurement, "dev1"); got != 0 {
		t.Errorf("InfluxDB holds %d values of dev1, want none", got)
	}
}

// deviceCount is what Grafana would ask: SELECT count(value) of one
// device's series; 0 while InfluxDB does not answer or holds nothing.
func deviceCount(in *testenv.Influx, measurement, device string) int64 {
	q := fmt.Sprintf(`SELECT count(value) FROM %q WHERE "device"::tag='%s'`, measurement, device)
	ss, err := in.TryQuery(context.Background(), q)
	if err != nil || len(ss) == 0 || len(ss[0].Values) == 0 {
		return 0
	}
	n, _ := ss[0].Values[0][1].(json.Number).Int64()
	return n
}

// TestFieldTypeNewFieldRaceOutputDecides: two devices bring a field that
// neither InfluxDB nor mqflux knows, one as a string, one as a float. Both
// readings are acknowledged and spooled: InfluxDB stores whichever it gets
// first and refuses the other, which is dead-lettered with InfluxDB's
// reason. mqflux's table then follows InfluxDB's verdict: a later reading
// of the losing type is refused before its PUBACK, one of the winning type
// is stored.
func TestFieldTypeNewFieldRaceOutputDecides(t *testing.T) {
	in := testenv.StartInflux(t, testenv.WithoutFlux())
	srv := testenv.StartServer(t, testenv.ServerOptions{Influx: in})
	measurement := measurementFor(t)
	sec := func(i int) int64 { return t0/1e9 + int64(i) }
	topic := func(dev string) string { return "devices/" + dev + "/sensors/" + measurement }
	payload := map[string]string{"string": `{"value": "hot", "time": %d}`, "float": `{"value": 1.5, "time": %d}`}
	device := map[string]string{"string": "dev1", "float": "dev2"}

	pubLines(t, srv.MQTT, testenv.DemoGateway, topic("dev1"), fmt.Sprintf(payload["string"], sec(1)))
	pubLines(t, srv.MQTT, testenv.DemoGateway, topic("dev2"), fmt.Sprintf(payload["float"], sec(2)))
	waitFor(t, time.Minute, "one reading stored, the other refused by InfluxDB", func() bool {
		return len(deadLetters(t, srv)) > 0 && deviceCount(in, measurement, "dev1")+deviceCount(in, measurement, "dev2") > 0
	})
	var winner string
	for _, s := range in.Query(t, fmt.Sprintf("SHOW FIELD KEYS FROM %q", measurement)) {
		for _, row := range s.Values {
			if row[0] == "value" {
				winner, _ = row[1].(string)
			}
		}
	}
	loser := map[string]string{"string": "float", "float": "string"}[winner]
	if loser == "" {
		t.Fatalf("InfluxDB holds value as %q", winner)
	}
	t.Logf("InfluxDB stored the %s first", winner)
	if got := deviceCount(in, measurement, device[winner]); got != 1 {
		t.Errorf("InfluxDB holds %d readings of %s (the %s), want 1", got, device[winner], winner)
	}
	letters := deadLetters(t, srv)
	if len(letters) != 1 || letters[0].Source != "influx" || letters[0].Reason != "influx_rejected" ||
		!strings.Contains(letters[0].Detail, "field type conflict") || !strings.Contains(string(letters[0].Payload), "device="+device[loser]) {
		t.Fatalf("dead letters %+v\nwant one: InfluxDB's refusal of %s's %s", letters, device[loser], loser)
	}

	waitFor(t, time.Minute, "InfluxDB's type confirmed", func() bool {
		return metric(t, srv, "mqflux_field_types_provisional") == 0 && metric(t, srv, "mqflux_field_types_known") > 0
	})
	pubLines(t, srv.MQTT, testenv.DemoGateway, topic(device[loser]), fmt.Sprintf(payload[loser], sec(3)))
	pubLines(t, srv.MQTT, testenv.DemoGateway, topic(device[winner]), fmt.Sprintf(payload[winner], sec(4)))
	waitFor(t, time.Minute, "the winner's second reading stored", func() bool { return deviceCount(in, measurement, device[winner]) == 2 })
	letters = deadLetters(t, srv)
	wantDetail := fmt.Sprintf(`field "value" of measurement %q is %s, this reading has %s`, measurement, winner, loser)
	if len(letters) != 2 || letters[1].Source != "mqtt" || letters[1].Reason != "field_type_conflict" || letters[1].Detail != wantDetail {
		t.Fatalf("dead letters %+v\nwant a second one: mqflux's refusal, %q", letters, wantDetail)
	}
	if got := deviceCount(in, measurement, device[loser]); got != 0 {
		t.Errorf("InfluxDB holds %d readings of %s, want none", got, device[loser])
	}
}
