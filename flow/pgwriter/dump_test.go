package pgwriter

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mqflux/mqflux/flow/dump"
	"github.com/mqflux/mqflux/flow/influx"
	"github.com/mqflux/mqflux/internal/testenv"
)

// dayLines are readings in and around 2026-12-05 in Berlin (23:00 UTC
// the day before to 23:00 UTC): the midnight that starts the day and its
// last microsecond (in), the next midnight and the microsecond before
// the day (out), n readings through the day, a measurement with every
// field type and a missing field, and one with readings on another day
// only. PostgreSQL keeps microseconds, so every time is a whole one.
func dayLines(n int) (dump.Day, []string) {
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		panic(err)
	}
	day, err := dump.ParseDay("2026-12-05", loc)
	if err != nil {
		panic(err)
	}
	start, end := day.Start.UnixNano(), day.End.UnixNano()
	lines := []string{
		fmt.Sprintf("temperature,device=edge,room=attic value=1 %d", start),
		fmt.Sprintf("temperature,device=edge,room=attic value=2 %d", end-1000),
		fmt.Sprintf("temperature,device=edge,room=attic value=3 %d", end),
		fmt.Sprintf("temperature,device=edge,room=attic value=4 %d", start-1000),
		fmt.Sprintf(`board,device=pi-1 uptime=86400i,fw="1.4.2 \"beta\"",on_battery=true,volts=5.1 %d`, start+int64(time.Hour)),
		fmt.Sprintf(`board,device=pi-2 uptime=7i,fw="1.5",on_battery=false %d`, start+int64(2*time.Hour)),
		fmt.Sprintf("other,device=pi-1 value=9 %d", end+int64(time.Hour)),
	}
	step := int64(24*time.Hour) / int64(n+1) / 1000 * 1000
	for i := 1; i <= n; i++ {
		lines = append(lines, fmt.Sprintf("temperature,device=pi-%d,room=r%d value=%d.5 %d", i%7, i%3, i, start+int64(i)*step))
	}
	return day, lines
}

// sqlCount is PostgreSQL's own count of a table's rows in day.
func sqlCount(t testing.TB, pg *testenv.Postgres, table string, d dump.Day) int64 {
	t.Helper()
	rows := pg.Query(t, fmt.Sprintf(`SELECT count(*) FROM %s WHERE time >= $1 AND time < $2`, quote(table)), d.Start, d.End)
	return rows[0][0].(int64)
}

func duckRows(t testing.TB, sql string, args ...any) []map[string]any {
	t.Helper()
	return testenv.DuckDB(t, fmt.Sprintf(sql, args...))
}

func duckInt(t testing.TB, v any) int64 {
	t.Helper()
	switch n := v.(type) {
	case float64:
		return int64(n)
	case string:
		var i int64
		if _, err := fmt.Sscan(n, &i); err == nil {
			return i
		}
	}
	t.Fatalf("DuckDB: not a number: %#v", v)
	return 0
}

func runDump(t testing.TB, src dump.Source, dir string, day dump.Day, measurements ...string) dump.Manifest {
	t.Helper()
	target, err := dump.ParseTarget("file://" + dir)
	if err != nil {
		t.Fatal(err)
	}
	m, err := dump.Run(context.Background(), dump.Options{Source: src, Target: target, Version: "test", Measurements: measurements}, day)
	if err != nil {
		t.Fatalf("dump: %v", err)
	}
	return m
}

// Readings written through the writer, a day dumped from PostgreSQL to
// file://, read back by DuckDB: each file holds PostgreSQL's count(*) of
// the day, the day runs from its midnight in to the next one out (in
// Berlin, not UTC), values and types are what was written, and
// index.json lists the day.
func TestDumpFromPostgres(t *testing.T) {
	pg := testenv.StartPostgres(t)
	w := newWriter(t, pg)
	day, lines := dayLines(500)
	if rej := write(t, w, records(lines...)); len(rej) > 0 {
		t.Fatalf("refused: %+v", rej)
	}
	pg.Exec(t, `CREATE TABLE notes (id int, body text)`) // an operator's table, no readings
	dir := t.TempDir()
	cfg := w.cfg
	m := runDump(t, cfg.DumpSource(), dir, day)
	byName := map[string]dump.File{}
	for _, f := range m.Files {
		byName[f.Measurement] = f
	}
	if len(m.Files) != 2 {
		t.Fatalf("files %+v, want temperature and board only (other has no row that day, notes is no measurement)", m.Files)
	}
	for _, name := range []string{"temperature", "board"} {
		f := byName[name]
		want := sqlCount(t, pg, name, day)
		got := duckInt(t, duckRows(t, "SELECT count(*) AS n FROM read_parquet('%s')", filepath.Join(dir, f.Key))[0]["n"])
		if f.Rows != want || got != want || want == 0 {
			t.Errorf("%s: manifest %d rows, DuckDB %d, PostgreSQL count(*) %d", name, f.Rows, got, want)
		}
	}
	if got := byName["temperature"].Rows; got != 502 {
		t.Errorf("temperature: %d rows, want 502 (the day's midnight and last microsecond in, the next midnight and the microsecond before out)", got)
	}
	temp := filepath.Join(dir, "2026-12-05", "temperature.parquet")
	r := duckRows(t, `SELECT epoch_ns(min(time))::VARCHAR AS lo, epoch_ns(max(time))::VARCHAR AS hi, sum(value) AS s,
		sum(value) FILTER (WHERE device = 'edge') AS edge, count(DISTINCT device) AS devices FROM read_parquet('%s')`, temp)[0]
	if r["lo"] != fmt.Sprint(day.Start.UnixNano()) || r["hi"] != fmt.Sprint(day.End.UnixNano()-1000) {
		t.Errorf("time range %v..%v, want %d..%d", r["lo"], r["hi"], day.Start.UnixNano(), day.End.UnixNano()-1000)
	}
	sum := pg.Query(t, `SELECT sum(value) FROM temperature WHERE time >= $1 AND time < $2`, day.Start, day.End)[0][0].(float64)
	if r["s"] != sum || r["edge"] != 3.0 || duckInt(t, r["devices"]) != 8 {
		t.Errorf("DuckDB: sum %v (PostgreSQL %v), edge %v (want 1+2), devices %v (want 8)", r["s"], sum, r["edge"], r["devices"])
	}
	board := filepath.Join(dir, "2026-12-05", "board.parquet")
	types := map[string]string{}
	for _, r := range duckRows(t, "DESCRIBE SELECT * FROM read_parquet('%s')", board) {
		types[r["column_name"].(string)] = r["column_type"].(string)
	}
	want := map[string]string{"time": "TIMESTAMP WITH TIME ZONE", "device": "VARCHAR", "fw": "VARCHAR", "on_battery": "BOOLEAN", "uptime": "BIGINT", "volts": "DOUBLE"}
	if len(types) != len(want) {
		t.Errorf("board columns %v, want %v", types, want)
	}
	for k, v := range want {
		if types[k] != v {
			t.Errorf("board column %s is %s, want %s (all: %v)", k, types[k], v, types)
		}
	}
	b := duckRows(t, "SELECT device, fw, volts, uptime::VARCHAR AS up, on_battery FROM read_parquet('%s') ORDER BY device", board)
	if len(b) != 2 || b[0]["fw"] != `1.4.2 "beta"` || b[0]["volts"] != 5.1 || b[0]["up"] != "86400" || b[0]["on_battery"] != true ||
		b[1]["volts"] != nil || b[1]["on_battery"] != false {
		t.Errorf("board values: %v", b)
	}
	meta := duckRows(t, "SELECT path_in_schema AS col, compression, encodings FROM parquet_metadata('%s')", temp)
	for _, r := range meta {
		if r["compression"] != "ZSTD" || (r["col"] == "device" && !strings.Contains(fmt.Sprint(r["encodings"]), "DICTIONARY")) {
			t.Errorf("column %v: %v %v, want ZSTD and tags in a dictionary", r["col"], r["compression"], r["encodings"])
		}
	}
	var idx dump.Index
	data, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err == nil {
		err = json.Unmarshal(data, &idx)
	}
	if err != nil || len(idx.Days) != 1 || idx.Days[0].Date != "2026-12-05" || idx.Days[0].Rows != m.Rows() {
		t.Errorf("index.json: %+v (%v)", idx, err)
	}
}

// The same readings in InfluxDB and in PostgreSQL make the same files:
// the same columns, types and rows, as DuckDB reads them.
func TestDumpFromPostgresSameAsFromInfluxDB(t *testing.T) {
	pg := testenv.StartPostgres(t)
	db := testenv.StartInflux(t, testenv.WithoutFlux())
	w := newWriter(t, pg)
	day, lines := dayLines(50)
	write(t, w, records(lines...))
	db.WriteLines(t, strings.Join(lines, "\n")+"\n")
	fromPG, fromInflux := t.TempDir(), t.TempDir()
	cfg := w.cfg
	mp := runDump(t, cfg.DumpSource(), fromPG, day)
	mi := runDump(t, dump.InfluxSource(influx.Endpoint{URL: db.URL, API: influx.V1, Token: db.Token(), Bucket: db.Bucket()}, 0), fromInflux, day)
	if mp.Rows() != mi.Rows() || len(mp.Files) != len(mi.Files) {
		t.Fatalf("PostgreSQL's day: %d files, %d rows; InfluxDB's: %d files, %d rows", len(mp.Files), mp.Rows(), len(mi.Files), mi.Rows())
	}
	for _, f := range mp.Files {
		for _, q := range []string{"DESCRIBE SELECT * FROM read_parquet('%s')", "SELECT * FROM read_parquet('%s') ORDER BY time, device"} {
			a, _ := json.Marshal(duckRows(t, q, filepath.Join(fromPG, f.Key)))
			b, _ := json.Marshal(duckRows(t, q, filepath.Join(fromInflux, f.Key)))
			if string(a) != string(b) {
				t.Errorf("%s differs:\nPostgreSQL %.600s\nInfluxDB   %.600s", f.Key, a, b)
			}
		}
	}
}

// Names that would break a query unquoted are tables like any other; a
// measurement asked for that has no table has no file; a wrong password
// fails the dump with PostgreSQL's refusal, the password in no message,
// and no manifest.
func TestDumpFromPostgresHostile(t *testing.T) {
	pg := testenv.StartPostgres(t)
	w := newWriter(t, pg)
	day, _ := dayLines(1)
	at := day.Start.Add(time.Minute).UnixNano()
	names := []string{`we"ird\ name'`, `x";\ DROP\ TABLE\ board;\ --`}
	write(t, w, records(
		fmt.Sprintf("%s,device=pi-1 value=1 %d", names[0], at),
		fmt.Sprintf("%s,device=pi-1 value=2 %d", names[1], at),
		fmt.Sprintf("board,device=pi-1 value=3 %d", at)))
	dir := t.TempDir()
	cfg := w.cfg
	m := runDump(t, cfg.DumpSource(), dir, day, `we"ird name'`, `x"; DROP TABLE board; --`, "nothing_here")
	if len(m.Files) != 2 || m.Rows() != 2 {
		t.Errorf("files %+v, want the two odd names with a row each", m.Files)
	}
	if n := sqlCount(t, pg, "board", day); n != 1 {
		t.Errorf("board holds %d rows of the day after the dump, want 1", n)
	}

	bad := cfg
	bad.URL = strings.Replace(cfg.URL, pg.Password(), "not-the-password", 1)
	failed := t.TempDir()
	target, _ := dump.ParseTarget("file://" + failed)
	_, err := dump.Run(context.Background(), dump.Options{Source: bad.DumpSource(), Target: target}, day)
	if err == nil || !strings.Contains(err.Error(), "password authentication failed") || strings.Contains(err.Error(), "not-the-password") {
		t.Fatalf("dump with a wrong password: %v, want PostgreSQL's refusal without the password", err)
	}
	if _, err := os.Stat(filepath.Join(failed, "2026-12-05")); err == nil {
		t.Error("a failed dump wrote the day's folder")
	}
}
