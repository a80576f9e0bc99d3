package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqflux/mqflux/internal/testenv"
)

const demoKey = "demo-legacy-key"

// rawPost sends bytes exactly as an old client put them on the wire and
// returns the status code and body.
func rawPost(t *testing.T, addr, request string) (int, string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	if _, err := io.WriteString(c, request); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("reading the answer: %v", err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// The requests of the Raspberry Pi logger, byte for byte as Python's
// requests library sends them, get the original answers; the readings reach
// mosquitto_sub live and InfluxDB with the logger's own timestamps.
func TestLegacyLoggerEndToEnd(t *testing.T) {
	in := testenv.StartInflux(t, testenv.WithoutFlux())
	srv := testenv.StartServer(t, testenv.ServerOptions{Influx: in})
	sub := testenv.Subscribe(t, srv.MQTT, testenv.DemoReader, "devices/#", "-q", "1")
	srv.WaitLog(t, "subscribed", "demo-reader")

	node := "3f2b8c1e-6d4a-4e2b-9f1a-7c5d2e8b4a10"
	post := func(path, body string, headers ...string) string {
		h := strings.Join(headers, "\r\n")
		if h != "" {
			h += "\r\n"
		}
		return fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: python-requests/2.31.0\r\n"+
			"Accept-Encoding: gzip, deflate\r\nAccept: */*\r\nConnection: keep-alive\r\n%s"+
			"Content-Length: %d\r\n\r\n%s", path, srv.HTTP, h, len(body), body)
	}
	auth := []string{"Content-Type: application/json", "X-authorization: " + demoKey, "X-node-id: " + node}
	cases := []struct {
		name, request string
		code          int
		body          string
	}{
		{"temperature with timestamp and status",
			post("/v1/log-temperature", `{"temperature": 21.5, "timestamp": "2025-03-18T10:00:00.123+00:00", "status": "ok"}`, auth...),
			200, "Temperature logged successfully\n"},
		{"humidity without timestamp",
			post("/v1/log-humidity", `{"humidity": 40.25}`, auth...),
			200, "Humidity logged successfully\n"},
		{"wrong key", post("/v1/log-temperature", `{"temperature": 1}`, "Content-Type: application/json", "X-authorization: nope", "X-node-id: "+node),
			401, ""},
		{"bad JSON", post("/v1/log-temperature", `{"temperature": `, auth...), 400, "Bad request\n"},
		{"GET", "GET /v1/log-temperature HTTP/1.1\r\nHost: x\r\n\r\n", 405, "Invalid request method\n"},
	}
	for _, tc := range cases {
		code, body := rawPost(t, srv.HTTP, tc.request)
		if code != tc.code || (tc.body != "" && body != tc.body) {
			t.Errorf("%s: got %d %q, want %d %q", tc.name, code, body, tc.code, tc.body)
		}
	}

	lines := sub.WaitLines(t, 2, 30*time.Second)
	joined := strings.Join(lines, "\n")
	for _, want := range []string{
		"devices/" + node + "/sensors/temperature {",
		`"value":21.5`,
		"devices/" + node + "/sensors/humidity {",
		// The payload subscribers have always seen, byte for byte.
		"devices/" + node + `/sensors/temperature {"value":21.5,"time":"2025-03-18T10:00:00.123Z","status":"ok"}`,
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("mosquitto_sub output lacks %q:\n%s", want, joined)
		}
	}

	rows := waitRows(t, in, `SELECT "value", "status" FROM "temperature" WHERE "device" = '`+node+`'`, 1)
	if got := fmt.Sprint(rows[0]["time"]); got != strconv.FormatInt(time.Date(2025, 3, 18, 10, 0, 0, 123e6, time.UTC).UnixNano(), 10) {
		t.Errorf("temperature stored at %s, want the logger's timestamp", got)
	}
	if fmt.Sprint(rows[0]["value"]) != "21.5" || fmt.Sprint(rows[0]["status"]) != "ok" {
		t.Errorf("temperature row %v", rows[0])
	}
	hum := waitRows(t, in, `SELECT "value" FROM "humidity" WHERE "device" = '`+node+`'`, 1)
	if fmt.Sprint(hum[0]["value"]) != "40.25" {
		t.Errorf("humidity row %v", hum[0])
	}
}

func waitRows(t *testing.T, in *testenv.Influx, q string, n int) []map[string]any {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		var rows []map[string]any
		for _, s := range in.Query(t, q) {
			rows = append(rows, s.Rows()...)
		}
		if len(rows) >= n {
			return rows
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d rows for %s after 60s", len(rows), n, q)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A device that was offline for hours streams its whole buffer in one
// /ingest request: every line reaches InfluxDB, and the server's memory
// stays bounded while it streams.
func TestIngestMillionLines(t *testing.T) {
	lines := 1_000_000
	if testing.Short() {
		lines = 50_000
	}
	in := testenv.StartInflux(t, testenv.WithoutFlux())
	srv := testenv.StartServer(t, testenv.ServerOptions{Influx: in})
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

	pr, pw := io.Pipe()
	go func() {
		w := bufio.NewWriterSize(pw, 64<<10)
		for i := 0; i < lines; i++ {
			ts := start.Add(time.Duration(i) * time.Millisecond).Format(time.RFC3339Nano)
			fmt.Fprintf(w, `{"sensor": "speed", "value": %d.5, "timestamp": "%s"}`+"\n", i%1000, ts)
		}
		_ = w.Flush()
		_ = pw.Close()
	}()

	var peak atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() { // VmHWM is the peak; sample it while the stream runs
		defer close(sampled)
		for {
			if v := vmHWM(srv.Pid()); v > peak.Load() {
				peak.Store(v)
			}
			select {
			case <-stop:
				return
			case <-time.After(200 * time.Millisecond):
			}
		}
	}()
	req, _ := http.NewRequest(http.MethodPost, "http://"+srv.HTTP+"/ingest", pr)
	req.SetBasicAuth("truck-7", demoKey)
	began := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	accepted := time.Since(began)
	if resp.StatusCode != 200 {
		t.Fatalf("/ingest: %d %s", resp.StatusCode, body)
	}
	var ack struct{ Accepted int }
	if err := json.Unmarshal(body, &ack); err != nil || ack.Accepted != lines {
		t.Fatalf("/ingest answered %s, want accepted %d", body, lines)
	}

	deadline := time.Now().Add(5 * time.Minute)
	for in.Count(t, "speed", "value") < lines {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d lines in InfluxDB after 5 minutes", in.Count(t, "speed", "value"), lines)
		}
		time.Sleep(500 * time.Millisecond)
	}
	stored := time.Since(began)
	close(stop)
	<-sampled
	if got := in.Count(t, "speed", "value"); got != lines {
		t.Fatalf("InfluxDB holds %d points, want exactly %d", got, lines)
	}
	first := waitRows(t, in, `SELECT "value" FROM "speed" WHERE "device" = 'truck-7' ORDER BY time ASC LIMIT 1`, 1)
	if fmt.Sprint(first[0]["time"]) != strconv.FormatInt(start.UnixNano(), 10) || fmt.Sprint(first[0]["value"]) != "0.5" {
		t.Errorf("first point %v, want value 0.5 at %s", first[0], start)
	}
	t.Logf("/ingest %d lines: accepted in %s (%.0f lines/s), stored in %s (%.0f lines/s); server peak RSS %d MiB",
		lines, accepted.Round(time.Millisecond), float64(lines)/accepted.Seconds(),
		stored.Round(time.Millisecond), float64(lines)/stored.Seconds(), peak.Load()>>20)
	if peak.Load() > 512<<20 {
		t.Errorf("server peak RSS %d MiB while streaming: memory is not bounded", peak.Load()>>20)
	}
}

// vmHWM reads a process's peak resident set size in bytes.
func vmHWM(pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// Fifty loggers posting at once: every 200 answer is a stored reading.
// The rate is logged for BENCHMARKS.md; nothing here asserts on time.
func TestLegacyFiftyClients(t *testing.T) {
	const clients, each = 50, 400
	in := testenv.StartInflux(t, testenv.WithoutFlux())
	srv := testenv.StartServer(t, testenv.ServerOptions{Influx: in})
	tr := &http.Transport{MaxIdleConnsPerHost: clients}
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	base := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	errs := make(chan error, clients)
	began := time.Now()
	for c := 0; c < clients; c++ {
		go func(c int) {
			for i := 0; i < each; i++ {
				body := fmt.Sprintf(`{"temperature": %d.25, "timestamp": %q}`, i, base.Add(time.Duration(i)*time.Second).Format(time.RFC3339))
				req, _ := http.NewRequest(http.MethodPost, "http://"+srv.HTTP+"/v1/log-temperature", strings.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("X-authorization", demoKey)
				req.Header.Set("X-node-id", fmt.Sprintf("logger-%02d", c))
				resp, err := client.Do(req)
				if err != nil {
					errs <- err
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 || string(b) != "Temperature logged successfully\n" {
					errs <- fmt.Errorf("logger-%02d request %d: %d %q", c, i, resp.StatusCode, b)
					return
				}
			}
			errs <- nil
		}(c)
	}
	for c := 0; c < clients; c++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	elapsed := time.Since(began)
	total := clients * each
	deadline := time.Now().Add(2 * time.Minute)
	for in.Count(t, "temperature", "value") < total && time.Now().Before(deadline) {
		time.Sleep(200 * time.Millisecond)
	}
	if got := in.Count(t, "temperature", "value"); got != total {
		t.Fatalf("InfluxDB holds %d points, want %d", got, total)
	}
	t.Logf("/v1/log-temperature: %d requests from %d clients in %s: %.0f requests/s",
		total, clients, elapsed.Round(time.Millisecond), float64(total)/elapsed.Seconds())
}
