package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mqflux/mqflux/internal/testenv"
)

// Bad flags are refused with what is wrong, before anything is read or
// written.
func TestDumpRefusesBadFlags(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"-date", "2026-12-05"}, "no -to"},
		{[]string{"-to", "file://" + dir, "-date", "../../etc"}, "-date"},
		{[]string{"-to", "file://" + dir, "-date", "2026-02-30"}, "-date"},
		{[]string{"-to", "file://" + dir, "-timezone", "Mars/Olympus"}, "-timezone"},
		{[]string{"-to", "ftp://example.com/x", "-date", "2026-12-05"}, "scheme"},
		{[]string{"-to", "s3:///nobucket", "-date", "2026-12-05"}, "no bucket"},
		{[]string{"-to", "file://" + dir, "extra"}, "unexpected argument"},
	}
	for _, tc := range tests {
		_, _, err := runProgram(t, "", nil, append([]string{"dump"}, tc.args...)...)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("mqflux dump %v: %v, want an error with %q", tc.args, err, tc.want)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("refused dumps wrote %d entries", len(entries))
	}
}

// mqflux dump against a real InfluxDB: one day, a measurement whose name
// holds quotes, a backslash and a space (InfluxQL injection if unquoted),
// and the summary line when stderr is no terminal.
func TestDumpCommand(t *testing.T) {
	db := testenv.StartInflux(t, testenv.WithoutFlux())
	db.WriteLines(t, `we"ird\ name',device=pi-1 value=1 1796515200000000000`+"\n"+ // 2026-12-06T00:00:00Z
		`we"ird\ name',device=pi-1 value=2 1796601599000000000`+"\n"+ // 2026-12-06T23:59:59Z
		`../up,device=pi-1 value=4 1796515200000000000`+"\n"+ // a name that climbs out of the day's folder
		`plain,device=pi-1 value=3 1796601600000000000`+"\n") // 2026-12-07: another day
	dir := t.TempDir()
	env := []string{"MQFLUX_INFLUX_URL=" + db.URL, "MQFLUX_INFLUX_BUCKET=" + db.Bucket()}
	out, _, err := runProgram(t, "", env, "dump", "-date", "2026-12-06", "-timezone", "UTC", "-to", "file://"+dir)
	if err != nil {
		t.Fatalf("mqflux dump: %v", err)
	}
	if !strings.Contains(out, "dumped 2026-12-06 (UTC): 2 files, 3 rows") {
		t.Errorf("summary: %q", out)
	}
	if _, err := os.Stat(filepath.Join(dir, "2026-12-06", "..%2Fup.parquet")); err != nil {
		t.Errorf("../up is not in the day's folder: %v", err)
	}
	file := filepath.Join(dir, "2026-12-06", `we"ird name'.parquet`)
	rows := testenv.DuckDB(t, fmt.Sprintf("SELECT count(*)::INTEGER AS n, sum(value) AS s FROM read_parquet('%s')", strings.ReplaceAll(file, "'", "''")))
	if rows[0]["n"] != 2.0 || rows[0]["s"] != 3.0 {
		t.Errorf("DuckDB reads %v, want 2 rows summing to 3", rows)
	}
}
