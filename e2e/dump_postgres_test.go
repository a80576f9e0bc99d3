package e2e

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/mqflux/mqflux/internal/testenv"
)

// Dumps with PostgreSQL as the first (and only) output: readings posted
// to a real `mqflux serve` land in PostgreSQL; `mqflux dump` as its own
// process writes the day with a progress bar on a terminal (a real
// pseudo-terminal) and one summary line when stderr is a pipe; then the
// server, restarted with dumps: at 00:00 in Berlin, dumps the previous
// day by itself. DuckDB reads PostgreSQL's count(*) of the day in each
// file: the day's midnight in, the next one and the microsecond before
// out.
func TestPostgresDumps(t *testing.T) {
	pg := testenv.StartPostgres(t)
	srv := startWithOutputs(t, fmt.Sprintf(`outputs:
  - {name: pg, kind: postgres, url: %q, schema: public, required: true, drain_timeout: 30s}
`, pg.URL()))
	berlin, err := time.LoadLocation("Europe/Berlin")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now().In(berlin)
	start := time.Date(now.Year(), now.Month(), now.Day()-1, 0, 0, 0, 0, berlin)
	end := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, berlin)
	date := start.Format("2006-01-02")
	const inDay = 100
	var body bytes.Buffer
	reading := func(v int, at time.Time) {
		fmt.Fprintf(&body, `{"sensor": "speed", "value": %d.5, "timestamp": %q}`+"\n", v, at.UTC().Format(time.RFC3339Nano))
	}
	for i := range inDay {
		reading(i, start.Add(time.Duration(i)*time.Minute))
	}
	reading(1000, start.Add(-time.Microsecond)) // the day before
	reading(1001, end)                          // the next day's midnight
	req, _ := http.NewRequest(http.MethodPost, "http://"+srv.HTTP+"/ingest", &body)
	req.SetBasicAuth("truck-7", demoKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("/ingest: %s %s", resp.Status, answer)
	}
	dayCount := func() int64 {
		rows, err := pg.TryQuery(t.Context(), `SELECT count(*) FROM speed WHERE time >= $1 AND time < $2`, start, end)
		if err != nil {
			return -1
		}
		return rows[0][0].(int64)
	}
	waitFor(t, 2*time.Minute, "the readings in PostgreSQL", func() bool {
		rows, err := pg.TryQuery(t.Context(), `SELECT count(*) FROM speed`)
		return err == nil && rows[0][0].(int64) == inDay+2
	})
	if n := dayCount(); n != inDay {
		t.Fatalf("PostgreSQL counts %d readings in %s, want %d", n, date, inDay)
	}
	checkDay := func(t *testing.T, dir string) {
		t.Helper()
		file := filepath.Join(dir, date, "speed.parquet")
		rows := testenv.DuckDB(t, fmt.Sprintf(`SELECT count(*)::INTEGER AS n, epoch_ns(min(time))::VARCHAR AS lo,
			epoch_ns(max(time))::VARCHAR AS hi, sum(value) AS s FROM read_parquet('%s')`, file))
		r := rows[0]
		if r["n"] != float64(dayCount()) || r["lo"] != fmt.Sprint(start.UnixNano()) ||
			r["hi"] != fmt.Sprint(start.Add((inDay-1)*time.Minute).UnixNano()) || r["s"] != float64(inDay*(inDay-1)/2)+inDay*0.5 {
			t.Errorf("DuckDB reads %v from %s, want %d rows from %s on", r, file, dayCount(), start)
		}
	}
	args := []string{"dump", "-config", srv.Config, "-date", date, "-timezone", "Europe/Berlin"}

	t.Run("command on a terminal", func(t *testing.T) {
		dir := t.TempDir()
		ptmx, tty, err := pty.Open()
		if err != nil {
			t.Fatalf("open a pseudo-terminal: %v", err)
		}
		defer ptmx.Close()
		var stdout bytes.Buffer
		cmd := exec.Command(srv.Bin, append(args, "-to", "file://"+dir)...)
		cmd.Env = append(os.Environ(), "MQFLUX_DATA_DIR="+t.TempDir())
		cmd.Stdout, cmd.Stderr = &stdout, tty
		screen := make(chan string)
		go func() {
			b, _ := io.ReadAll(ptmx) // until the last holder of tty closes it: EIO
			screen <- string(b)
		}()
		err = cmd.Start()
		tty.Close()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Wait(); err != nil {
			t.Fatalf("mqflux dump: %v\n%s", err, stdout.String())
		}
		var got string
		select {
		case got = <-screen:
		case <-time.After(time.Minute):
			t.Fatal("the terminal did not close after mqflux dump exited")
		}
		// The bar redraws itself in place: carriage return, bar, the
		// measurement and its rows, erase to the end of the line.
		bar := fmt.Sprintf("\r[%s] 1/1 speed", strings.Repeat("#", 30))
		if !strings.Contains(got, bar) || !strings.Contains(got, fmt.Sprintf("%d rows\x1b[K", inDay)) {
			t.Errorf("the terminal shows %q, want the bar %q with %d rows", got, bar, inDay)
		}
		if want := fmt.Sprintf("dumped %s (Europe/Berlin): 1 files, %d rows", date, inDay); !strings.HasPrefix(stdout.String(), want) {
			t.Errorf("stdout %q, want the summary %q", stdout.String(), want)
		}
		checkDay(t, dir)
	})

	t.Run("command in a pipe", func(t *testing.T) {
		dir := t.TempDir()
		var stdout, stderr bytes.Buffer
		cmd := exec.Command(srv.Bin, append(args, "-to", "file://"+dir)...)
		cmd.Env = append(os.Environ(), "MQFLUX_DATA_DIR="+t.TempDir())
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("mqflux dump: %v\n%s%s", err, stdout.String(), stderr.String())
		}
		if strings.ContainsAny(stderr.String(), "\r#") {
			t.Errorf("stderr, a pipe, got the bar: %q", stderr.String())
		}
		lines := strings.Split(strings.TrimSuffix(stdout.String(), "\n"), "\n")
		if len(lines) != 1 || !strings.HasPrefix(lines[0], fmt.Sprintf("dumped %s (Europe/Berlin): 1 files, %d rows", date, inDay)) {
			t.Errorf("stdout %q, want one summary line", stdout.String())
		}
		checkDay(t, dir)
	})

	t.Run("scheduled", func(t *testing.T) {
		dir := t.TempDir()
		srv.Stop(t)
		srv.Env = append(srv.Env, "MQFLUX_DUMPS_TO=file://"+dir, "MQFLUX_DUMPS_AT=00:00", "MQFLUX_DUMPS_TIMEZONE=Europe/Berlin")
		srv.Start(t)
		waitFor(t, 2*time.Minute, "the previous day dumped", func() bool { return strings.Contains(srv.Log(), "dump done") })
		if !strings.Contains(srv.Log(), "date="+date) {
			t.Errorf("the server dumped another day than %s:\n%s", date, lastLines(srv.Log(), "dump"))
		}
		checkDay(t, dir)
	})
}

// lastLines are the lines of log holding word.
func lastLines(log, word string) string {
	var out []string
	sc := bufio.NewScanner(strings.NewReader(log))
	for sc.Scan() {
		if strings.Contains(sc.Text(), word) {
			out = append(out, sc.Text())
		}
	}
	return strings.Join(out, "\n")
}
