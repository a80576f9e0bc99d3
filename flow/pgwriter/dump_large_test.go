package pgwriter

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mqflux/mqflux/internal/testenv"
)

// TestDumpLargeDayPostgres is the measurement behind BENCHMARKS.md "Daily
// dump from PostgreSQL": MQFLUX_DUMP_BENCH_ROWS readings of one day in a
// table the writer made (its first reading through the writer, the rest
// by generate_series, half a million per INSERT), then `mqflux dump` of that day as
// its own process with PostgreSQL as the first output, timed, with its
// peak RSS from the kernel's rusage. Off unless the variable is set.
func TestDumpLargeDayPostgres(t *testing.T) {
	rows, _ := strconv.Atoi(os.Getenv("MQFLUX_DUMP_BENCH_ROWS"))
	if rows <= 0 {
		t.Skip("set MQFLUX_DUMP_BENCH_ROWS (e.g. 1000000) to measure a large dump from PostgreSQL")
	}
	pg := testenv.StartPostgres(t)
	w := newWriter(t, pg)
	bin := testenv.Build(t, "./cmd/mqflux")
	start := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	write(t, w, records(fmt.Sprintf("climate,device=pi-000,site=s0 temperature=0.25,humidity=0.5 %d", start.UnixNano())))
	fill := time.Now()
	step := 24 * time.Hour / time.Duration(rows)
	const chunk = 500_000 // rows per statement: each has a minute
	for from := 1; from < rows; from += chunk {
		pg.Exec(t, fmt.Sprintf(`INSERT INTO climate (time, device, site, temperature, humidity)
			SELECT $1::timestamptz + i * interval '%d microseconds', 'pi-' || lpad((i %% 500)::text, 3, '0'), 's' || (i %% 7),
				(i %% 40) + 0.25, (i %% 100) + 0.5
			FROM generate_series($2::int, $3::int) AS i`, step.Microseconds()), start, from, min(from+chunk, rows)-1)
	}
	t.Logf("filled %d readings in %.1fs", rows, time.Since(fill).Seconds())

	cfg := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("outputs:\n  - {name: pg, kind: postgres, url: %q}\n", pg.URL())), 0o600); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	cmd := exec.Command(bin, "dump", "-config", cfg, "-date", "2026-12-05", "-to", "file://"+out)
	run := testenv.RunMeasured(t, cmd)
	st, err := os.Stat(filepath.Join(out, "2026-12-05", "climate.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(run.Output), fmt.Sprintf("1 files, %d rows", rows)) {
		t.Errorf("mqflux dump: %s, want %d rows", run.Output, rows)
	}
	t.Logf("%s", strings.TrimSpace(string(run.Output)))
	t.Logf("dump of %d readings from PostgreSQL: %s, file %.1f MiB", rows, run, float64(st.Size())/(1<<20))
}
