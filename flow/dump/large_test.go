package dump

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqflux/mqflux/internal/testenv"
)

// TestDumpLargeDay is the measurement behind BENCHMARKS.md "Daily dump":
// MQFLUX_DUMP_BENCH_ROWS readings of one day written to InfluxDB in
// batches of line protocol, then `mqflux dump` of that day as its own
// process, timed, with its peak RSS from the kernel's rusage. Off unless
// the variable is set.
func TestDumpLargeDay(t *testing.T) {
	rows, _ := strconv.Atoi(os.Getenv("MQFLUX_DUMP_BENCH_ROWS"))
	if rows <= 0 {
		t.Skip("set MQFLUX_DUMP_BENCH_ROWS (e.g. 10000000) to measure a large dump")
	}
	db := testenv.StartInflux(t, testenv.WithoutFlux())
	bin := testenv.Build(t, "./cmd/mqflux")
	start := time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC)
	step := 24 * time.Hour / time.Duration(rows)
	const batch, writers = 20000, 2
	fill := time.Now()
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var b strings.Builder
			for i := w * batch; i < rows; i += writers * batch {
				b.Reset()
				for j := i; j < min(i+batch, rows); j++ {
					fmt.Fprintf(&b, "climate,device=pi-%03d,site=s%d temperature=%d.25,humidity=%d.5 %d\n",
						j%500, j%7, j%40, j%100, start.Add(time.Duration(j)*step).UnixNano())
				}
				db.WriteLines(t, b.String())
			}
		}()
	}
	wg.Wait()
	t.Logf("filled %d readings in %.1fs", rows, time.Since(fill).Seconds())

	out := t.TempDir()
	cmd := exec.Command(bin, "dump", "-date", "2026-12-05", "-to", "file://"+out)
	cmd.Env = append(os.Environ(), "MQFLUX_INFLUX_URL="+db.URL, "MQFLUX_INFLUX_BUCKET="+db.Bucket())
	run := testenv.RunMeasured(t, cmd)
	st, err := os.Stat(filepath.Join(out, "2026-12-05", "climate.parquet"))
	if err != nil {
		t.Fatal(err)
	}
	m := readManifestFile(t, filepath.Join(out, "2026-12-05", ManifestName))
	if m.Rows() != int64(rows) {
		t.Errorf("dumped %d rows, wrote %d", m.Rows(), rows)
	}
	t.Logf("%s", strings.TrimSpace(string(run.Output)))
	t.Logf("dump of %d readings: %s, file %.1f MiB", rows, run, float64(st.Size())/(1<<20))
}
