package testenv

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// VictoriaMetricsVersion is the release make tools builds (VM_VERSION in
// the Makefile).
const VictoriaMetricsVersion = "v1.151.0"

// victoriaStartTimeout bounds how long victoria-metrics may take to answer
// /health; it normally takes well under a second.
const victoriaStartTimeout = 60 * time.Second

// VictoriaMetricsPath finds the victoria-metrics binary:
// $MQFLUX_VICTORIAMETRICS, then <module root>/bin/victoria-metrics, then
// $PATH. A missing binary ends the test through Missing.
func VictoriaMetricsPath(t testing.TB) string {
	t.Helper()
	return binaryPath(t, "MQFLUX_VICTORIAMETRICS", "victoria-metrics", "victoria-metrics (VictoriaMetrics "+VictoriaMetricsVersion+")",
		"run make tools, or set MQFLUX_VICTORIAMETRICS to a victoria-metrics binary "+
			"(go install github.com/VictoriaMetrics/VictoriaMetrics/app/victoria-metrics@"+VictoriaMetricsVersion+")")
}

// Victoria is one running single-node VictoriaMetrics owned by a test. It
// takes line protocol at URL+"/write" (the InfluxDB 1.x write API), naming
// each field's series <measurement>_<field> and adding db as a label.
//
// It runs with -dedup.minScrapeInterval=1ms, so that the duplicates an
// at-least-once resend writes (same series, same millisecond) count once,
// and -search.latencyOffset=0, so that a sample is queryable as soon as it
// is flushed. VictoriaMetrics keeps milliseconds: points of one series
// whose timestamps differ by less are one sample.
type Victoria struct {
	URL string // http://127.0.0.1:<port>

	daemon
	dir  string
	addr string
}

// StartVictoria starts victoria-metrics with its own data directory and
// port, waits until /health answers, and stops it when the test ends.
func StartVictoria(t testing.TB) *Victoria {
	t.Helper()
	v := &Victoria{daemon: daemon{name: "victoria-metrics", bin: VictoriaMetricsPath(t)}, dir: t.TempDir()}
	v.logPath = filepath.Join(v.dir, "victoria-metrics.log")
	t.Cleanup(func() { _ = v.stop() })
	// A port picked by FreePort can be taken before the server binds it;
	// a fresh one is then the fix.
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		v.addr = fmt.Sprintf("127.0.0.1:%d", FreePort(t))
		v.URL = "http://" + v.addr
		if err = v.launch(); err == nil {
			return v
		}
		_ = v.stop()
	}
	t.Fatalf("victoria-metrics: %v\n--- %s ---\n%s", err, v.logPath, fileTail(v.logPath))
	return nil
}

// launch starts victoria-metrics and waits for /health.
func (v *Victoria) launch() error {
	return v.daemon.launch([]string{
		"-storageDataPath=" + filepath.Join(v.dir, "data"),
		"-httpListenAddr=" + v.addr,
		"-dedup.minScrapeInterval=1ms",
		"-search.latencyOffset=0s",
		// Test data may carry any timestamp since 1970.
		"-retentionPeriod=100y",
		// Every query sees the newest samples, never a cached answer.
		"-search.disableCache",
		"-loggerLevel=WARN",
	}, v.URL+"/health", http.StatusOK, victoriaStartTimeout)
}

// Stop sends SIGTERM and waits for the exit; the data stays for Start.
func (v *Victoria) Stop(t testing.TB) {
	t.Helper()
	if err := v.stop(); err != nil {
		t.Fatalf("victoria-metrics stop: %v\n--- %s ---\n%s", err, v.logPath, fileTail(v.logPath))
	}
}

// Start runs victoria-metrics again on the same port and data after Stop,
// and waits for /health.
func (v *Victoria) Start(t testing.TB) {
	t.Helper()
	if v.cmd != nil {
		t.Fatalf("victoria-metrics start: already running at %s", v.URL)
	}
	if err := v.launch(); err != nil {
		_ = v.stop()
		t.Fatalf("victoria-metrics restart: %v\n--- %s ---\n%s", err, v.logPath, fileTail(v.logPath))
	}
}

// LogPath is the server's log file.
func (v *Victoria) LogPath() string { return v.logPath }

// Count is the number of samples stored of measurement's field, over all
// its series and all time, after a flush, so that every write answered
// 204 before the call is counted. Any error fails the test.
func (v *Victoria) Count(t testing.TB, measurement, field string) int {
	t.Helper()
	n, err := v.TryCount(context.Background(), measurement, field)
	if err != nil {
		t.Fatalf("victoria-metrics count %s %s: %v", measurement, field, err)
	}
	return n
}

// TryCount is Count for callers that poll or run off the test's goroutine.
// It exports the raw samples (/api/v1/export, deduplicated like every
// read) and counts them.
func (v *Victoria) TryCount(ctx context.Context, measurement, field string) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if _, err := v.get(ctx, "/internal/force_flush"); err != nil {
		return 0, err
	}
	name := measurement + "_" + field
	match := `{__name__="` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(name) + `"}`
	body, err := v.get(ctx, "/api/v1/export?"+url.Values{"match[]": {match}, "start": {"0"}}.Encode())
	if err != nil {
		return 0, err
	}
	n := 0
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 0, 1<<20), 64<<20)
	for sc.Scan() {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var series struct {
			Timestamps []int64 `json:"timestamps"`
		}
		if err := json.Unmarshal(sc.Bytes(), &series); err != nil {
			return 0, fmt.Errorf("export %s: decode %.200q: %w", name, sc.Bytes(), err)
		}
		n += len(series.Timestamps)
	}
	if err := sc.Err(); err != nil {
		return 0, fmt.Errorf("export %s: %w", name, err)
	}
	return n, nil
}

// WriteLines stores line protocol (nanosecond timestamps) through /write.
func (v *Victoria) WriteLines(t testing.TB, lines string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	u := v.URL + "/write?" + url.Values{"db": {"telemetry"}, "precision": {"ns"}}.Encode()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(lines))
	if err != nil {
		t.Fatalf("victoria-metrics write: %v", err)
	}
	if _, err := roundTrip(req, http.StatusNoContent); err != nil {
		t.Fatalf("victoria-metrics write: %v", err)
	}
}

func (v *Victoria) get(ctx context.Context, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, v.URL+path, nil)
	if err != nil {
		return nil, fmt.Errorf("request %s: %w", path, err)
	}
	return roundTrip(req, http.StatusOK)
}

// fileTail is the end of a log file for failure messages.
func fileTail(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return fmt.Sprintf("(no log: %v)", err)
	}
	const max = 8 << 10
	if len(b) > max {
		b = b[len(b)-max:]
	}
	return string(b)
}
