package dump

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mqflux/mqflux/flow/influx"
	"github.com/mqflux/mqflux/internal/testenv"
)

// berlin is the zone of the tests' day: its midnight is 23:00 UTC in
// winter, so a day in UTC and a day in Berlin differ.
func berlin(t testing.TB) *time.Location {
	loc, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// fillDay writes readings in and around 2026-12-05 (Berlin): the first
// and last nanosecond of the day, the midnights on both sides, and n
// readings spread through the day; and a measurement with every field type
// whose values need escaping, and one with readings on other days only.
func fillDay(t testing.TB, db *testenv.Influx, n int) {
	t.Helper()
	start := time.Date(2026, 12, 4, 23, 0, 0, 0, time.UTC) // 2026-12-05 00:00 Berlin
	end := start.Add(24 * time.Hour)
	var b strings.Builder
	line := func(format string, args ...any) { fmt.Fprintf(&b, format+"\n", args...) }
	line("temperature,device=edge,room=attic value=1 %d", start.UnixNano())   // in: midnight starts the day
	line("temperature,device=edge,room=attic value=2 %d", end.UnixNano()-1)   // in: the last nanosecond
	line("temperature,device=edge,room=attic value=3 %d", end.UnixNano())     // out: next midnight
	line("temperature,device=edge,room=attic value=4 %d", start.UnixNano()-1) // out: the day before
	line(`board,device=pi-1 uptime=86400i,fw="1.4.2 \"beta\"",on_battery=true,volts=5.1 %d`, start.Add(time.Hour).UnixNano())
	line(`board,device=pi-2 uptime=7i,fw="1.5",on_battery=false %d`, start.Add(2*time.Hour).UnixNano()) // volts missing: null
	line("other,device=pi-1 value=9 %d", end.Add(time.Hour).UnixNano())
	step := 24 * time.Hour / time.Duration(n+1)
	for i := 1; i <= n; i++ {
		line("temperature,device=pi-%d,room=r%d value=%d.5 %d", i%7, i%3, i, start.Add(time.Duration(i)*step).UnixNano())
		if b.Len() > 1<<20 {
			db.WriteLines(t, b.String())
			b.Reset()
		}
	}
	db.WriteLines(t, b.String())
}

func endpoint(db *testenv.Influx) influx.Endpoint {
	return influx.Endpoint{URL: db.URL, API: influx.V1, Token: db.Token(), Bucket: db.Bucket()}
}

// from is db as a dump's source, its answers in chunks of chunkSize rows
// (the default when 0).
func from(db *testenv.Influx, chunkSize int) Source { return InfluxSource(endpoint(db), chunkSize) }

// influxCount is InfluxDB's own count of m's rows in day: the largest
// count(*) of its fields (every row of these measurements has its
// first field).
func influxCount(t testing.TB, db *testenv.Influx, m string, d Day) int64 {
	t.Helper()
	q := fmt.Sprintf("SELECT count(*) FROM %s WHERE time >= '%s' AND time < '%s'", quoteIdent(m),
		d.Start.UTC().Format(time.RFC3339Nano), d.End.UTC().Format(time.RFC3339Nano))
	var n int64
	for _, s := range db.Query(t, q) {
		for _, row := range s.Rows() {
			for col, v := range row {
				if strings.HasPrefix(col, "count_") {
					c, _ := v.(json.Number).Int64()
					n = max(n, c)
				}
			}
		}
	}
	return n
}

func duckCount(t testing.TB, path string) int64 {
	t.Helper()
	rows := testenv.DuckDB(t, fmt.Sprintf("SELECT count(*) AS n FROM read_parquet('%s')", path))
	return toInt(t, rows[0]["n"])
}

func toInt(t testing.TB, v any) int64 {
	t.Helper()
	switch n := v.(type) {
	case float64:
		return int64(n)
	case string:
		var i int64
		if _, err := fmt.Sscan(n, &i); err != nil {
			t.Fatalf("not a number: %q", n)
		}
		return i
	}
	t.Fatalf("not a number: %#v", v)
	return 0
}

func readManifestFile(t testing.TB, path string) Manifest {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m Manifest
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestDumpToFileReadByDuckDB(t *testing.T) {
	db := testenv.StartInflux(t, testenv.WithoutFlux(), testenv.WithAuth("admin", "secret"))
	fillDay(t, db, 500)
	day, err := ParseDay("2026-12-05", berlin(t))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	target, err := ParseTarget("file://" + dir)
	if err != nil {
		t.Fatal(err)
	}
	// A small chunk size makes the answer come in many chunks.
	o := Options{Source: from(db, 7), Target: target, Version: "test"}
	m, err := Run(context.Background(), o, day)
	if err != nil {
		t.Fatal(err)
	}
	if got := readManifestFile(t, filepath.Join(dir, "2026-12-05", ManifestName)); got.Rows() != m.Rows() || len(got.Files) != 2 {
		t.Fatalf("manifest on disk: %+v", got)
	}
	byName := map[string]File{}
	for _, f := range m.Files {
		byName[f.Measurement] = f
	}
	if _, ok := byName["other"]; ok {
		t.Errorf("a measurement without rows that day has a file: %+v", m.Files)
	}
	for _, name := range []string{"temperature", "board"} {
		f, ok := byName[name]
		if !ok {
			t.Fatalf("no file of %s: %+v", name, m.Files)
		}
		path := filepath.Join(dir, f.Key)
		want := influxCount(t, db, name, day)
		if f.Rows != want || duckCount(t, path) != want {
			t.Errorf("%s: manifest %d rows, DuckDB %d, InfluxDB count(*) %d", name, f.Rows, duckCount(t, path), want)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != f.SHA256 || int64(len(data)) != f.Bytes {
			t.Errorf("%s: sha256/bytes differ from the manifest", name)
		}
	}
	if want := int64(500 + 2); byName["temperature"].Rows != want {
		t.Errorf("temperature: %d rows, want %d (the day's midnight and last nanosecond in, the next midnight and the day before out)", byName["temperature"].Rows, want)
	}

	// The midnight that starts the day is in it, and the first and last
	// instants are what was written. The file holds nanoseconds; DuckDB
	// reads a UTC timestamp as TIMESTAMP WITH TIME ZONE, in microseconds.
	temp := filepath.Join(dir, "2026-12-05", "temperature.parquet")
	rows := testenv.DuckDB(t, fmt.Sprintf(`SELECT epoch_ns(min(time))::VARCHAR AS lo, epoch_ns(max(time))::VARCHAR AS hi,
		count(DISTINCT device) AS devices, sum(value) FILTER (WHERE device = 'edge') AS edge FROM read_parquet('%s')`, temp))
	if lo, hi := rows[0]["lo"], rows[0]["hi"]; lo != fmt.Sprint(day.Start.UnixNano()) || hi != fmt.Sprint((day.End.UnixNano()-1)/1000*1000) {
		t.Errorf("time range %v..%v, want %d..%d (to the microsecond)", lo, hi, day.Start.UnixNano(), day.End.UnixNano()-1)
	}
	if rows[0]["edge"] != 3.0 || toInt(t, rows[0]["devices"]) != 8 {
		t.Errorf("edge readings sum %v (want 1+2), devices %v (want 8)", rows[0]["edge"], rows[0]["devices"])
	}

	// Types: time a timestamp, tags strings, fields their own types; every
	// column zstd, tags dictionary-encoded.
	types := map[string]string{}
	for _, r := range testenv.DuckDB(t, fmt.Sprintf("DESCRIBE SELECT * FROM read_parquet('%s')", filepath.Join(dir, "2026-12-05", "board.parquet"))) {
		types[r["column_name"].(string)] = r["column_type"].(string)
	}
	want := map[string]string{"time": "TIMESTAMP WITH TIME ZONE", "device": "VARCHAR", "fw": "VARCHAR", "on_battery": "BOOLEAN", "uptime": "BIGINT", "volts": "DOUBLE"}
	for k, v := range want {
		if !strings.HasPrefix(types[k], v) {
			t.Errorf("board column %s is %s, want %s (all: %v)", k, types[k], v, types)
		}
	}
	board := testenv.DuckDB(t, fmt.Sprintf("SELECT fw, volts FROM read_parquet('%s') WHERE device = 'pi-2' OR device = 'pi-1' ORDER BY device",
		filepath.Join(dir, "2026-12-05", "board.parquet")))
	if board[0]["fw"] != `1.4.2 "beta"` || board[1]["volts"] != nil {
		t.Errorf("board values: %v", board)
	}
	meta := testenv.DuckDB(t, fmt.Sprintf("SELECT path_in_schema AS col, compression, encodings FROM parquet_metadata('%s')", temp))
	for _, r := range meta {
		if r["compression"] != "ZSTD" {
			t.Errorf("column %v compressed %v, want ZSTD", r["col"], r["compression"])
		}
		if (r["col"] == "device" || r["col"] == "room") && !strings.Contains(fmt.Sprint(r["encodings"]), "DICTIONARY") {
			t.Errorf("tag %v encodings %v, want a dictionary", r["col"], r["encodings"])
		}
	}

	// index.json lists the day; a rerun of one measurement replaces the
	// day exactly: the other file goes.
	var idx Index
	data, err := os.ReadFile(filepath.Join(dir, "index.json"))
	if err == nil {
		err = json.Unmarshal(data, &idx)
	}
	if err != nil || len(idx.Days) != 1 || idx.Days[0].Rows != m.Rows() || len(idx.Days[0].Files) != 2 {
		t.Fatalf("index.json: %+v (%v)", idx, err)
	}
	if html, err := os.ReadFile(filepath.Join(dir, "index.html")); err != nil || !strings.Contains(string(html), "2026-12-05/temperature.parquet") {
		t.Errorf("index.html does not list the file: %v", err)
	}
	o.Measurements = []string{"temperature"}
	if _, err := Run(context.Background(), o, day); err != nil {
		t.Fatal(err)
	}
	entries, _ := os.ReadDir(filepath.Join(dir, "2026-12-05"))
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "manifest.json temperature.parquet" {
		t.Errorf("after the rerun the day holds %v, want the manifest and temperature.parquet only", names)
	}
}

// A day in UTC is another day than in Berlin: the zone decides.
func TestDumpTimezoneDecidesTheDay(t *testing.T) {
	db := testenv.StartInflux(t, testenv.WithoutFlux())
	fillDay(t, db, 20)
	dir := t.TempDir()
	target, _ := ParseTarget("file://" + dir)
	day, _ := ParseDay("2026-12-05", time.UTC)
	m, err := Run(context.Background(), Options{Source: from(db, 0), Target: target, Measurements: []string{"temperature"}}, day)
	if err != nil {
		t.Fatal(err)
	}
	// In UTC the day holds the Berlin day's midnight-to-01:00 readings
	// less, and the next Berlin midnight more.
	if want := influxCount(t, db, "temperature", day); m.Rows() != want || want == 0 {
		t.Errorf("UTC day: %d rows, InfluxDB counts %d", m.Rows(), want)
	}
	if got := duckCount(t, filepath.Join(dir, "2026-12-05", "temperature.parquet")); got != m.Rows() {
		t.Errorf("DuckDB counts %d, manifest %d", got, m.Rows())
	}
}

func TestDumpRefusesBadCredentials(t *testing.T) {
	db := testenv.StartInflux(t, testenv.WithoutFlux(), testenv.WithAuth("admin", "secret"))
	dir := t.TempDir()
	target, _ := ParseTarget("file://" + dir)
	e := endpoint(db)
	e.Token = "admin:wrong"
	day, _ := ParseDay("2026-12-05", time.UTC)
	_, err := Run(context.Background(), Options{Source: InfluxSource(e, 0), Target: target}, day)
	if err == nil || !strings.Contains(err.Error(), "401") && !strings.Contains(err.Error(), "authorization failed") {
		t.Fatalf("dump with a wrong password: %v, want InfluxDB's refusal", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "2026-12-05", ManifestName)); err == nil {
		t.Error("a failed dump wrote a manifest")
	}
}

func readIndexFile(t testing.TB, path string) Index {
	t.Helper()
	var idx Index
	data, err := os.ReadFile(path)
	if err == nil {
		err = json.Unmarshal(data, &idx)
	}
	if err != nil {
		t.Fatalf("index %s: %v", path, err)
	}
	return idx
}
