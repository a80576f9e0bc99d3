package e2e

import (
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mqflux/mqflux/internal/testenv"
)

func appendTo(t *testing.T, path, text string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

// journalEntries are n journal entries i..i+n-1 as journalctl -o json
// prints them, a minute ago and a millisecond apart.
func journalEntries(from, n int) string {
	var b strings.Builder
	base := time.Now().Add(-time.Minute).UnixMicro()
	for i := from; i < from+n; i++ {
		fmt.Fprintf(&b, `{"__CURSOR":"s=e2e;i=%d","__REALTIME_TIMESTAMP":"%d","PRIORITY":"3","_SYSTEMD_UNIT":"ssh.service","_PID":"%d","MESSAGE":"journal line %d"}`+"\n",
			i, base+int64(i)*1000, 800+i, i)
	}
	return b.String()
}

type logEntry struct {
	Device, Unit, Level, Message string
	PID                          float64
}

// deviceLogs is every line of demo-device GET /v1/logs answers, page by page.
func deviceLogs(t *testing.T, srv *testenv.Server) []logEntry {
	t.Helper()
	var out []logEntry
	cursor := ""
	for {
		q := url.Values{"device": {"demo-device"}, "limit": {"1000"}}
		if cursor != "" {
			q.Set("cursor", cursor)
		}
		code, body := srv.HTTPGet(t, "/v1/logs?"+q.Encode())
		var p struct {
			Entries []logEntry `json:"entries"`
			Next    string     `json:"next"`
		}
		if code != 200 || json.Unmarshal([]byte(body), &p) != nil {
			t.Fatalf("GET /v1/logs: %d %s", code, body)
		}
		out = append(out, p.Entries...)
		if p.Next == "" {
			return out
		}
		cursor = p.Next
	}
}

// The agent forwards a (fake) journal and a real file through mqflux serve
// (logs_template on by default) into InfluxDB; after a SIGTERM and after a
// SIGKILL it goes on where it stopped: GET /v1/logs lists every line
// exactly once, with its unit, level and pid.
func TestDeviceAgentForwardsLogs(t *testing.T) {
	in := testenv.StartInflux(t, testenv.WithoutFlux())
	srv := testenv.StartServer(t, testenv.ServerOptions{Influx: in})
	bin := testenv.Build(t, "./cmd/mqflux-device")
	dir := t.TempDir()
	fixture := filepath.Join(dir, "journal.jsonl")
	appendTo(t, fixture, journalEntries(1, 3))
	journalctl, argsLog := testenv.FakeJournalctl(t, dir, fixture)
	file := filepath.Join(dir, "app.log")
	appendTo(t, file, "written before the first start: not sent\n")
	config := filepath.Join(dir, "device.yaml")
	yaml := fmt.Sprintf(`device:
  id: demo-device
  broker: tcp://%s
  username: demo-device
  password: demo-device-pass
  max_reconnect_interval: 1s
  queue: {dir: %s, max_bytes: 1MiB, fsync: batch}
  sensors:
    - {kind: sim, measurement: a, interval: 200ms, base: 0, step: 1, amplitude: 0, noise: 0}
  logs:
    journal: {enabled: true, units: [ssh.service], priority: err, command: %s}
    files: [{path: %s, unit: app, level: info}]
    max_per_second: 1000
`, srv.MQTT, filepath.Join(dir, "queue"), journalctl, file)
	if err := os.WriteFile(config, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}

	want := map[string]logEntry{}
	expect := func(unit, level string, pid float64, msgs ...string) {
		for _, m := range msgs {
			want[m] = logEntry{Device: "demo-device", Unit: unit, Level: level, Message: m, PID: pid}
		}
	}
	for i := 1; i <= 3; i++ {
		expect("ssh.service", "err", float64(800+i), fmt.Sprintf("journal line %d", i))
	}
	check := func(stage string) {
		t.Helper()
		var got []logEntry
		waitFor(t, time.Minute, stage+": the log lines in /v1/logs", func() bool {
			got = deviceLogs(t, srv)
			return len(got) >= len(want)
		})
		time.Sleep(2 * time.Second) // a line sent twice would be stored by now
		got = deviceLogs(t, srv)
		seen := map[string]int{}
		for _, e := range got {
			seen[e.Message]++
			if w, ok := want[e.Message]; !ok || e != w {
				t.Errorf("%s: /v1/logs has %+v, want %+v", stage, e, w)
			}
		}
		for m := range want {
			if seen[m] != 1 {
				t.Errorf("%s: %q is listed %d times, want once", stage, m, seen[m])
			}
		}
		if t.Failed() {
			t.FailNow()
		}
	}

	agent := startAgent(t, bin, config)
	waitFor(t, time.Minute, "the agent following app.log", func() bool { return strings.Contains(agent.Log.String(), "following log file") })
	appendTo(t, file, "file line 1\nfile line 2\n")
	expect("app", "info", 0, "file line 1", "file line 2")
	check("first run")

	// SIGTERM, new lines in both sources while stopped, start again.
	if err := agent.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("agent exit after SIGTERM: %v", err)
	}
	appendTo(t, fixture, journalEntries(4, 2))
	appendTo(t, file, "file line 3, while stopped\n")
	expect("ssh.service", "err", 804, "journal line 4")
	expect("ssh.service", "err", 805, "journal line 5")
	expect("app", "info", 0, "file line 3, while stopped")
	agent = startAgent(t, bin, config)
	appendTo(t, file, "file line 4\n")
	expect("app", "info", 0, "file line 4")
	check("after SIGTERM")

	// SIGKILL once everything is sent: the positions were saved as lines
	// were queued, not only at a clean stop.
	_ = agent.Signal(syscall.SIGKILL)
	appendTo(t, fixture, journalEntries(6, 1))
	appendTo(t, file, "file line 5, after the kill\n")
	expect("ssh.service", "err", 806, "journal line 6")
	expect("app", "info", 0, "file line 5, after the kill")
	agent = startAgent(t, bin, config)
	check("after SIGKILL")
	_ = agent.Signal(syscall.SIGTERM)

	args, _ := os.ReadFile(argsLog)
	calls := strings.Split(strings.TrimSpace(string(args)), "\n")
	sort.Strings(calls)
	if len(calls) != 3 || !strings.Contains(calls[0], "--after-cursor=s=e2e;i=3 ") || !strings.Contains(calls[1], "--after-cursor=s=e2e;i=5 ") ||
		!strings.Contains(calls[2], "--lines=0 --priority=err --unit=ssh.service") {
		t.Errorf("journalctl was called as\n%s\nwant once from now, then after cursors i=3 and i=5", strings.Join(calls, "\n"))
	}
}
