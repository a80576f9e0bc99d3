package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mqflux/mqflux/internal/testenv"
)

// A scheduled dump in a real `mqflux serve`: the previous day is due
// (dumps.at 00:00), dumped once, and not again after the server is killed
// and started anew; DuckDB reads InfluxDB's count of the day from the file.
func TestScheduledDumpAcrossRestart(t *testing.T) {
	db := testenv.StartInflux(t, testenv.WithoutFlux())
	now := time.Now().UTC()
	yesterday := time.Date(now.Year(), now.Month(), now.Day()-1, 0, 0, 0, 0, time.UTC)
	date := yesterday.Format("2006-01-02")
	var b strings.Builder
	for i := range 100 {
		fmt.Fprintf(&b, "temperature,device=pi-%d value=%d %d\n", i%4, i, yesterday.Add(time.Duration(i)*time.Minute).UnixNano())
	}
	fmt.Fprintf(&b, "temperature,device=pi-0 value=1 %d\n", yesterday.UnixNano()-1)                 // the day before
	fmt.Fprintf(&b, "temperature,device=pi-0 value=1 %d\n", yesterday.Add(24*time.Hour).UnixNano()) // today's midnight
	db.WriteLines(t, b.String())

	dir := t.TempDir()
	srv := testenv.StartServer(t, testenv.ServerOptions{Influx: db, Env: []string{
		"MQFLUX_DUMPS_TO=file://" + dir, "MQFLUX_DUMPS_AT=00:00", "MQFLUX_DUMPS_TIMEZONE=UTC"}})
	manifest := filepath.Join(dir, date, "manifest.json")
	testenv.WaitFor(t, 2*time.Minute, "the previous day dumped", func() bool { return strings.Contains(srv.Log(), "dump done") })
	created := readCreated(t, manifest)
	if n := duckCount(t, filepath.Join(dir, date, "temperature.parquet")); n != 100 {
		t.Fatalf("DuckDB counts %d rows of %s, want 100", n, date)
	}

	srv.Kill(t)
	srv.Start(t)
	// The scheduler says which day it waits for once it has decided.
	srv.WaitLog(t, "next day waits until due", "date="+now.Format("2006-01-02"))
	if strings.Contains(srv.Log(), "dump starting") {
		t.Fatalf("the restarted server dumped again:\n%s", srv.Log())
	}
	if got := readCreated(t, manifest); !got.Equal(created) {
		t.Fatalf("%s rewritten after the restart (created %s, then %s)", manifest, created, got)
	}
	var st struct {
		LastDone string `json:"last_done"`
	}
	data, err := os.ReadFile(filepath.Join(srv.DataDir, "dumps", "state.json"))
	if err == nil {
		err = json.Unmarshal(data, &st)
	}
	if err != nil || st.LastDone != date {
		t.Fatalf("state file: %s (%v), want last_done %s", data, err, date)
	}
}

func readCreated(t *testing.T, path string) time.Time {
	t.Helper()
	var m struct {
		Created time.Time `json:"created"`
	}
	data, err := os.ReadFile(path)
	if err == nil {
		err = json.Unmarshal(data, &m)
	}
	if err != nil {
		t.Fatalf("manifest %s: %v", path, err)
	}
	return m.Created
}

func duckCount(t *testing.T, path string) int64 {
	t.Helper()
	rows := testenv.DuckDB(t, fmt.Sprintf("SELECT count(*)::INTEGER AS n FROM read_parquet('%s')", path))
	n, ok := rows[0]["n"].(float64)
	if !ok {
		t.Fatalf("DuckDB count: %#v", rows)
	}
	return int64(n)
}
