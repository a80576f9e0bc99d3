package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/mqflux/mqflux/bench"
	"github.com/mqflux/mqflux/internal/testenv"
)

// PostgreSQL as a second output (README, "PostgreSQL / TimescaleDB"): a
// real `mqflux serve` with InfluxDB 1.8 first and PostgreSQL 15 second,
// both required, the load tool as the publisher and its ledger of
// acknowledged readings as the truth.

// TestPostgresOutput: 40,000 readings stored in both outputs while
// PostgreSQL is stopped for 20 s in the middle of the stream; afterwards
// PostgreSQL holds every acknowledged reading exactly once, with its
// device and time, compared point by point with the ledger. Readings
// bringing new fields and tags mid-stream (during the outage) become
// columns, a string into a double precision column is dead-lettered with
// PostgreSQL's words, and the password never shows in /healthz or
// /v1/pipeline.
func TestPostgresOutput(t *testing.T) {
	const devices, messages = 20, 2000
	in := testenv.StartInflux(t, testenv.WithoutFlux())
	pg := testenv.StartPostgres(t)
	cfg := bench.Config{}
	m := measurementFor(t)
	// A table an operator made beforehand, whose column level is a double:
	// InfluxDB has never seen the field, so it takes a string there, and
	// PostgreSQL refuses it.
	pg.Exec(t, fmt.Sprintf(`CREATE TABLE %s_conflict (time timestamptz NOT NULL, device text, level double precision)`, m))

	srv := startWithOutputs(t, fmt.Sprintf(`outputs:
  - {name: influx, kind: influxdb, api: v2, url: %q, bucket: %q, required: true, drain_timeout: 30s}
  - {name: pg, kind: postgres, url: %q, schema: public, required: true, max_backoff: 500ms, drain_timeout: 30s}
`, in.URL, in.Bucket(), pg.URL()))
	cfg = gatewayLoad(t, srv, devices, messages)
	cfg.TimeStep = time.Microsecond // PostgreSQL keeps microseconds
	cfg.Rate = 40                   // per device: 800 readings/s, the stream lasts about 50 s
	l := startLoad(t, cfg)

	pgRows := func(table string) int64 {
		rows, err := pg.TryQuery(t.Context(), fmt.Sprintf(`SELECT count(*) FROM %q`, table))
		if err != nil {
			return -1
		}
		return rows[0][0].(int64)
	}
	waitFor(t, time.Minute, "2000 readings acknowledged", func() bool { return cfg.Ledger.Len() >= 2000 })
	waitFor(t, time.Minute, "readings in both outputs before the outage", func() bool {
		return count(in, cfg.Measurement) > 0 && pgRows(cfg.Measurement) > 0
	})
	fields := m + "_fields"
	pub := func(topic, payload string) {
		t.Helper()
		if out, err := testenv.Pub(t, srv.MQTT, testenv.DemoGateway, topic, payload, "-q", "1"); err != nil {
			t.Fatalf("mosquitto_pub %s: %v\n%s", topic, err, out)
		}
	}
	pub("devices/pi-f/sensors/"+fields, `{"temperature": 21.5, "time": "2026-11-23T18:00:00Z"}`)
	waitFor(t, time.Minute, "the first reading of "+fields+" in PostgreSQL", func() bool { return pgRows(fields) == 1 })

	pg.Stop(t)
	down := time.Now()
	ackedAtStop := cfg.Ledger.Len()
	// New fields and a new tag while PostgreSQL is away: they wait in the
	// spool and become columns once it is back.
	pub("devices/pi-f/sensors/"+fields, `{"temperature": 21.75, "humidity": 40.5, "time": "2026-11-23T18:00:01Z"}`)
	pub("devices/pi-f/sensors/"+fields, `{"fields": {"fw": "1.4.2", "on_battery": false}, "tags": {"room": "attic"}, "time": "2026-11-23T18:00:02Z"}`)
	pub("devices/pi-c/sensors/"+m+"_conflict", `{"level": 2.5, "time": "2026-11-23T18:00:00Z"}`)
	pub("devices/pi-c/sensors/"+m+"_conflict", `{"level": "high", "time": "2026-11-23T18:00:01Z"}`)
	waitFor(t, time.Minute, "/healthz naming pg as down", func() bool {
		h := outputsHealth(t, srv)
		return h.Status == "degraded" && !h.output(t, "pg").Up && h.output(t, "influx").Up && strings.Contains(h.Readiness, "pg")
	})
	time.Sleep(time.Until(down.Add(20 * time.Second)))
	if acked := cfg.Ledger.Len() - ackedAtStop; acked <= 0 {
		t.Fatalf("no reading acknowledged while PostgreSQL was down")
	}
	if cfg.Ledger.Len() >= devices*messages {
		t.Fatalf("the stream ended while PostgreSQL was down; the test wants it back before the end")
	}
	pg.Start(t)
	t.Logf("PostgreSQL down %.1fs; %d readings acknowledged meanwhile", time.Since(down).Seconds(), cfg.Ledger.Len()-ackedAtStop)

	l.finish(t, 3*time.Minute)
	sent := devices * messages
	waitStored(t, in, cfg.Measurement, sent, 2*time.Minute)
	checkStored(t, in, cfg.Measurement, cfg.Ledger)
	waitFor(t, 3*time.Minute, "PostgreSQL holding every reading", func() bool { return pgRows(cfg.Measurement) >= int64(sent) })
	checkPostgresStored(t, pg, cfg.Measurement, cfg.Ledger)

	waitFor(t, time.Minute, fields+" complete", func() bool { return pgRows(fields) == 3 })
	// Columns come in the order they were added, which depends on how
	// the readings were batched; their names and types do not.
	cols := pg.Query(t, `SELECT string_agg(column_name || ' ' || data_type, ', ' ORDER BY column_name)
		FROM information_schema.columns WHERE table_name = $1`, fields)
	if got, want := cols[0][0], "device text, fw text, humidity double precision, on_battery boolean, room text, temperature double precision, time timestamp with time zone"; got != want {
		t.Errorf("columns of %s:\n got %s\nwant %s", fields, got, want)
	}
	if rows := pg.Query(t, fmt.Sprintf(`SELECT count(*) FROM %q WHERE room = 'attic' AND fw = '1.4.2' AND NOT on_battery`, fields)); rows[0][0] != int64(1) {
		t.Errorf("the reading with new fields and a tag is not stored whole: %v", pg.Query(t, fmt.Sprintf(`SELECT * FROM %q`, fields)))
	}

	var found bool
	waitFor(t, time.Minute, "the conflicting reading dead-lettered by pg", func() bool {
		for _, e := range deadLetters(t, srv) {
			if e.Source == "pg" && e.Reason == "pg_rejected" && strings.Contains(string(e.Payload), "high") {
				found = true
				if !strings.Contains(e.Detail, `column "level" is of type double precision but expression is of type text`) {
					t.Errorf("dead letter detail %q, want PostgreSQL's words", e.Detail)
				}
			}
		}
		return found
	})
	if rows := pg.Query(t, fmt.Sprintf(`SELECT level FROM %q`, m+"_conflict")); len(rows) != 1 || rows[0][0] != 2.5 {
		t.Errorf("%s_conflict holds %v, want the one double", m, rows)
	}
	if n := metric(t, srv, "mqflux_output_rejected_total", `output="pg"`); n != 1 {
		t.Errorf("mqflux_output_rejected_total{output=pg} = %.0f, want 1", n)
	}

	waitFor(t, time.Minute, "/healthz ok again", func() bool { return healthStatus(t, srv) == "ok" })
	for _, path := range []string{"/healthz", "/v1/pipeline"} {
		code, body := srv.HTTPGet(t, path)
		if code != 200 || strings.Contains(body, pg.Password()) {
			t.Errorf("GET %s = %d, shows the password: %v", path, code, strings.Contains(body, pg.Password()))
		}
		if want := fmt.Sprintf(`"postgres://127.0.0.1:%d/telemetry"`, pg.Port); !strings.Contains(body, want) {
			t.Errorf("GET %s has no %s:\n%.2000s", path, want, body)
		}
	}
}

// checkPostgresStored compares a PostgreSQL table with the ledger point by
// point: each acknowledged reading once, with its device and its time to
// the microsecond, and nothing else.
func checkPostgresStored(t *testing.T, pg *testenv.Postgres, table string, ledger *bench.Ledger) {
	t.Helper()
	want := ledger.Readings()
	rows := pg.Query(t, fmt.Sprintf(`SELECT device, value, (extract(epoch FROM time) * 1000000)::bigint FROM %q`, table))
	if len(rows) != len(want) {
		t.Fatalf("PostgreSQL holds %d rows of %s, %d readings were acknowledged", len(rows), table, len(want))
	}
	type stored struct {
		device string
		micros int64
	}
	got := make(map[int64]stored, len(rows))
	for _, r := range rows {
		v := int64(r[1].(float64))
		if prev, dup := got[v]; dup {
			t.Fatalf("value %d stored twice: %v and %v", v, prev, r)
		}
		got[v] = stored{r[0].(string), r[2].(int64)}
	}
	bad := 0
	for _, r := range want {
		g, ok := got[r.Value]
		switch {
		case !ok:
			t.Errorf("acknowledged reading %d of %s at %d is not in PostgreSQL", r.Value, r.Device, r.Time)
		case g.device != r.Device || g.micros != r.Time/1000:
			t.Errorf("reading %d stored as %s at %d µs, sent by %s at %d ns", r.Value, g.device, g.micros, r.Device, r.Time)
		default:
			continue
		}
		if bad++; bad >= 10 {
			t.Fatalf("... and maybe more")
		}
	}
}

// TestPostgresFirstOutputHistory: with PostgreSQL as the only (so the
// first) output, the console's /v1/history answers from SQL in the
// shape it answers from InfluxDB (raw readings, statistics).
func TestPostgresFirstOutputHistory(t *testing.T) {
	pg := testenv.StartPostgres(t)
	srv := startWithOutputs(t, fmt.Sprintf("outputs:\n  - {name: pg, kind: postgres, url: %q}\n", pg.URL()))
	m := measurementFor(t)
	now := time.Now().UTC().Truncate(time.Minute).Add(-5 * time.Minute)
	for i, v := range []float64{20, 22, 30} {
		ts := now.Add(time.Duration(i/2) * time.Minute).Add(time.Duration(i%2) * time.Second)
		payload := fmt.Sprintf(`{"value": %g, "time": %q}`, v, ts.Format(time.RFC3339Nano))
		if out, err := testenv.Pub(t, srv.MQTT, testenv.DemoGateway, "devices/pi-h/sensors/"+m, payload, "-q", "1"); err != nil {
			t.Fatalf("mosquitto_pub: %v\n%s", err, out)
		}
	}
	waitFor(t, time.Minute, "three rows in PostgreSQL", func() bool {
		rows, err := pg.TryQuery(t.Context(), fmt.Sprintf(`SELECT count(*) FROM %q`, m))
		return err == nil && rows[0][0] == int64(3)
	})
	code, body := srv.HTTPGet(t, "/v1/history?device=pi-h&measurement="+m+"&field=value&range=1h")
	var got struct {
		Points [][2]float64 `json:"points"`
		Raw    bool         `json:"raw"`
		Stats  *struct {
			Count int64   `json:"count"`
			Mean  float64 `json:"mean"`
		} `json:"stats"`
	}
	// Three readings in the range: the readings themselves, as InfluxDB's
	// answer gives them.
	want := [][2]float64{{float64(now.UnixMilli()), 20}, {float64(now.Add(time.Second).UnixMilli()), 22},
		{float64(now.Add(time.Minute).UnixMilli()), 30}}
	if err := json.Unmarshal([]byte(body), &got); err != nil || code != 200 || fmt.Sprint(got.Points) != fmt.Sprint(want) ||
		!got.Raw || got.Stats == nil || got.Stats.Count != 3 || got.Stats.Mean != 24 {
		t.Errorf("GET /v1/history = %d %s (%v), want raw points %v, 3 readings of mean 24", code, body, err, want)
	}
}
