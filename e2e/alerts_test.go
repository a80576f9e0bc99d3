package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mqflux/mqflux/alert/notify"
	"github.com/mqflux/mqflux/internal/testenv"
)

// receivers are local stand-ins for a webhook, the Telegram Bot API and an
// ntfy server. Each keeps what it accepted as "device rule state" per
// kind; while down is set, every request gets 503 with Retry-After: 1.
type receivers struct {
	srv  *httptest.Server
	mu   sync.Mutex
	down bool
	got  map[string][]string // kind -> accepted, in order
	ids  map[string]int      // webhook: how often each id was accepted
	// firstID is the webhook ID of the first "device rule state" accepted.
	firstID map[string]string
	// since holds the webhook's since of every "device rule state".
	since map[string][]time.Time
}

func startReceivers(t *testing.T) *receivers {
	r := &receivers{got: map[string][]string{}, ids: map[string]int{}, firstID: map[string]string{}, since: map[string][]time.Time{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /hook", func(w http.ResponseWriter, req *http.Request) {
		var n notify.Notification
		if err := json.NewDecoder(req.Body).Decode(&n); err != nil || n.ID == "" || n.Since.IsZero() || n.Message == "" {
			t.Errorf("webhook body: %v %+v", err, n)
		}
		if r.accept(w, "webhook", n.Device+" "+n.Rule+" "+n.State) {
			r.mu.Lock()
			r.ids[n.ID]++
			what := n.Device + " " + n.Rule + " " + n.State
			if r.firstID[what] == "" {
				r.firstID[what] = n.ID
			}
			r.since[what] = append(r.since[what], n.Since)
			r.mu.Unlock()
		}
	})
	mux.HandleFunc("POST /bottest-token/sendMessage", func(w http.ResponseWriter, req *http.Request) {
		var m struct {
			ChatID string `json:"chat_id"`
			Text   string `json:"text"`
		}
		if err := json.NewDecoder(req.Body).Decode(&m); err != nil || m.ChatID != "42" {
			t.Errorf("sendMessage: %v %+v", err, m)
		}
		title, _, _ := strings.Cut(m.Text, "\n")
		_, title, _ = strings.Cut(title, " ") // after the mark
		if r.accept(w, "telegram", strings.Replace(title, ": ", " ", 1)) {
			io.WriteString(w, `{"ok":true,"result":{}}`)
		}
	})
	mux.HandleFunc("POST /mqflux", func(w http.ResponseWriter, req *http.Request) {
		r.accept(w, "ntfy", strings.Replace(req.Header.Get("Title"), ": ", " ", 1))
	})
	r.srv = httptest.NewServer(mux)
	t.Cleanup(r.srv.Close)
	return r
}

// accept answers one request: 503 while down, else records it.
func (r *receivers) accept(w http.ResponseWriter, kind, what string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.down {
		w.Header().Set("Retry-After", "1")
		w.WriteHeader(http.StatusServiceUnavailable)
		return false
	}
	r.got[kind] = append(r.got[kind], what)
	return true
}

func (r *receivers) setDown(down bool) {
	r.mu.Lock()
	r.down = down
	r.mu.Unlock()
}

// count is how many times kind accepted what.
func (r *receivers) count(kind, what string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, g := range r.got[kind] {
		if g == what {
			n++
		}
	}
	return n
}

// of lists what kind accepted about one device and rule, in order.
func (r *receivers) of(kind, device, rule string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, g := range r.got[kind] {
		if strings.HasPrefix(g, device+" "+rule+" ") {
			out = append(out, strings.TrimPrefix(g, device+" "+rule+" "))
		}
	}
	return out
}

// repeatedIDs lists webhook IDs accepted more than once.
func (r *receivers) repeatedIDs() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for id, n := range r.ids {
		if n > 1 {
			out = append(out, id)
		}
	}
	return out
}

// alertEnv configures alerts for a test server: short durations, the
// rules given, and every notifier kind pointing at r.
func alertEnv(t *testing.T, r *receivers, silentAfter, rules string) []string {
	tok := filepath.Join(t.TempDir(), "telegram.token")
	if err := os.WriteFile(tok, []byte("test-token\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return []string{
		"MQFLUX_ALERTS_SILENT_AFTER=" + silentAfter,
		"MQFLUX_ALERTS_CHECK_INTERVAL=100ms",
		"MQFLUX_ALERTS_RETRY_MAX=2s",
		"MQFLUX_ALERTS_RULES=" + rules,
		fmt.Sprintf(`MQFLUX_ALERTS_NOTIFY=[{kind: webhook, url: "%[1]s/hook"}, {kind: telegram, bot_token_file: %[2]s, chat_id: "42", api_url: "%[1]s"}, {kind: ntfy, url: "%[1]s/mqflux"}, {kind: mqtt, topic_prefix: alerts}]`, r.srv.URL, tok),
	}
}

// usedPercent is the disk sensor's reading for the file system of path.
func usedPercent(t *testing.T, path string) float64 {
	var st syscall.Statfs_t
	if err := syscall.Statfs(path, &st); err != nil {
		t.Fatal(err)
	}
	used := float64(st.Blocks - st.Bfree)
	return 100 * used / (used + float64(st.Bavail))
}

// Against a real server, InfluxDB, mosquitto clients and the device
// agent: the agent's disk sensor above a rule's line for its duration
// fires the rule once, on every notifier; the agent's Last Will fires
// offline; a device that stops publishing gets one silent firing and, when
// it publishes again, one resolution; a legacy HTTP logger is tracked like
// any device; the transitions are in InfluxDB and the API and metrics show
// them.
func TestAlertsEndToEnd(t *testing.T) {
	in := testenv.StartInflux(t, testenv.WithoutFlux())
	r := startReceivers(t)
	root := testenv.ModuleRoot(t)
	used := usedPercent(t, root)
	if used < 1 {
		t.Skipf("the file system of %s is %.2f%% used: too empty for a disk rule", root, used)
	}
	rules := fmt.Sprintf(`[{name: disk-full, measurement: disk_used_percent, field: value, above: %v, for: 1s}]`, used/2)
	srv := testenv.StartServer(t, testenv.ServerOptions{Influx: in, Env: alertEnv(t, r, "2s", rules)})
	retained := testenv.Subscribe(t, srv.MQTT, testenv.DemoReader, "alerts/#", "-q", "1")

	// The agent's disk sensor, well above the line.
	dir := t.TempDir()
	config := filepath.Join(dir, "device.yaml")
	yaml := fmt.Sprintf(`device:
  id: demo-device
  broker: tcp://%s
  username: demo-device
  password: demo-device-pass
  keepalive: 5s
  queue: {dir: %s, max_bytes: 4MiB, fsync: never}
  sensors:
    - {kind: disk, measurement: disk_used_percent, path: %s, interval: 200ms}
`, srv.MQTT, filepath.Join(dir, "queue"), root)
	if err := os.WriteFile(config, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	agent := startAgent(t, testenv.Build(t, "./cmd/mqflux-device"), config)
	for _, kind := range []string{"webhook", "telegram", "ntfy"} {
		waitFor(t, 60*time.Second, kind+" told of disk-full", func() bool { return r.count(kind, "demo-device disk-full firing") > 0 })
	}
	retained.WaitLines(t, 1, 30*time.Second)
	if l := retained.Lines()[0]; !strings.HasPrefix(l, "alerts/demo-device/disk-full {") || !strings.Contains(l, `"state":"firing"`) {
		t.Errorf("mosquitto_sub saw %q, want the firing on alerts/demo-device/disk-full", l)
	}
	// Many more readings above the line, many checks: still one firing.
	firedAt := time.Now()
	waitFor(t, 60*time.Second, "more disk readings", func() bool {
		return latestDiskReading(t, srv).After(firedAt.Add(2 * time.Second))
	})

	// A device that stops publishing, then publishes again.
	if out, err := testenv.Pub(t, srv.MQTT, testenv.DemoGateway, "devices/quiet-1/sensors/temperature", "21.5", "-q", "1"); err != nil {
		t.Fatalf("mosquitto_pub: %v %s", err, out)
	}
	waitFor(t, 60*time.Second, "quiet-1 silent", func() bool { return r.count("webhook", "quiet-1 silent firing") > 0 })
	if code, body := srv.HTTPGet(t, "/v1/devices?state=silent"); code != 200 || !strings.Contains(body, `"device":"quiet-1"`) || strings.Contains(body, `"device":"demo-device"`) {
		t.Errorf("GET /v1/devices?state=silent: %d %s", code, body)
	}
	if out, err := testenv.Pub(t, srv.MQTT, testenv.DemoGateway, "devices/quiet-1/sensors/temperature", "21.7", "-q", "1"); err != nil {
		t.Fatalf("mosquitto_pub: %v %s", err, out)
	}
	for _, kind := range []string{"webhook", "telegram", "ntfy"} {
		waitFor(t, 60*time.Second, kind+" told quiet-1 resolved", func() bool { return r.count(kind, "quiet-1 silent resolved") > 0 })
		if got := r.of(kind, "quiet-1", "silent"); len(got) < 2 || got[0] != "firing" || got[1] != "resolved" {
			t.Errorf("%s: quiet-1 silent went %q, want one firing then one resolution", kind, got)
		}
	}

	// A logger of the legacy HTTP API is tracked too, and goes silent
	// like any device.
	req, _ := http.NewRequest(http.MethodPost, "http://"+srv.HTTP+"/v1/log-temperature", strings.NewReader(`{"temperature": 20.5}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-authorization", demoKey)
	req.Header.Set("X-node-id", "logger-9")
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("legacy POST: %v %v", err, resp)
	}
	resp.Body.Close()
	waitFor(t, 60*time.Second, "logger-9 silent", func() bool { return r.count("webhook", "logger-9 silent firing") > 0 })
	if _, body := srv.HTTPGet(t, "/v1/devices?device=logger-9"); !strings.Contains(body, `"temperature":{"time"`) {
		t.Errorf("GET /v1/devices?device=logger-9: %s", body)
	}

	// The agent dies: its Last Will says offline.
	_ = agent.Signal(syscall.SIGKILL)
	waitFor(t, 60*time.Second, "demo-device offline", func() bool { return r.count("webhook", "demo-device offline firing") > 0 })
	for _, kind := range []string{"webhook", "telegram", "ntfy"} {
		waitFor(t, 60*time.Second, kind+" told of offline", func() bool { return r.count(kind, "demo-device offline firing") > 0 })
		if got := r.of(kind, "demo-device", "disk-full"); len(got) != 1 {
			t.Errorf("%s: disk-full went %q, want exactly one firing", kind, got)
		}
		if n := r.count(kind, "demo-device offline firing"); n != 1 {
			t.Errorf("%s: %d offline firings, want 1", kind, n)
		}
	}
	if ids := r.repeatedIDs(); len(ids) > 0 {
		t.Errorf("notifications accepted twice: %q", ids)
	}

	// What the API and the metrics show.
	_, body := srv.HTTPGet(t, "/v1/alerts")
	for _, want := range []string{`"device":"demo-device","rule":"disk-full"`, `"device":"demo-device","rule":"offline"`} {
		if !strings.Contains(body, want) {
			t.Errorf("GET /v1/alerts lacks %s: %s", want, body)
		}
	}
	_, body = srv.HTTPGet(t, "/v1/devices?device=demo-*")
	if !strings.Contains(body, `"state":"offline"`) || !strings.Contains(body, `"disk_used_percent":{"time"`) {
		t.Errorf("GET /v1/devices?device=demo-*: %s", body)
	}
	_, body = srv.HTTPGet(t, "/metrics")
	for _, want := range []string{`mqflux_devices{state="offline"} 1`, `mqflux_alerts_active{rule="disk-full"} 1`, `mqflux_notifications_total{kind="webhook",outcome="sent"}`} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// The transitions reach InfluxDB, for Grafana's annotations.
	waitFor(t, 60*time.Second, "transitions in InfluxDB", func() bool {
		return in.Count(t, "alerts", "message") >= 4 // disk-full, silent firing and resolved, offline
	})
	rows := 0
	for _, s := range in.Query(t, `SELECT "state", "value" FROM "alerts" WHERE "rule" = 'disk-full'`) {
		rows += len(s.Rows())
	}
	if rows != 1 {
		t.Errorf("%d disk-full transitions in InfluxDB, want 1", rows)
	}

	// A resolved alert's retained message is cleared: a new subscriber
	// finds only what fires now (quiet-1 may be silent again by now, but
	// not with the episode that was resolved).
	r.mu.Lock()
	resolvedID := r.firstID["quiet-1 silent firing"]
	r.mu.Unlock()
	now := testenv.Subscribe(t, srv.MQTT, testenv.DemoAdmin, "alerts/#", "-W", "2")
	_, _ = now.Wait(30 * time.Second)
	for _, l := range now.Lines() {
		if strings.Contains(l, resolvedID) {
			t.Errorf("retained message left for a resolved alert: %q", l)
		}
	}
	if got := strings.Join(now.Lines(), "\n"); !strings.Contains(got, "alerts/demo-device/disk-full {") || !strings.Contains(got, "alerts/demo-device/offline {") {
		t.Errorf("retained alerts: %s", got)
	}
}

// latestDiskReading is when the server last received the agent's disk
// reading, from /v1/devices.
func latestDiskReading(t *testing.T, srv *testenv.Server) time.Time {
	_, body := srv.HTTPGet(t, "/v1/devices?device=demo-device")
	var v struct {
		Devices []struct {
			Latest map[string]struct{ Time time.Time } `json:"latest"`
		} `json:"devices"`
	}
	if err := json.Unmarshal([]byte(body), &v); err != nil || len(v.Devices) != 1 {
		return time.Time{}
	}
	return v.Devices[0].Latest["disk_used_percent"].Time
}

// A receiver down during a transition gets it once after it comes back,
// with a restart of the server in between; the restart neither fires the
// alert again nor loses its resolution, and does not make a device that
// was quiet while the server was down silent.
func TestAlertsAcrossRestart(t *testing.T) {
	r := startReceivers(t)
	srv := testenv.StartServer(t, testenv.ServerOptions{Env: alertEnv(t, r, "3s", "[]")})
	pub := func(device string) {
		t.Helper()
		if out, err := testenv.Pub(t, srv.MQTT, testenv.DemoGateway, "devices/"+device+"/sensors/temperature", "20", "-q", "1"); err != nil {
			t.Fatalf("mosquitto_pub: %v %s", err, out)
		}
	}
	r.setDown(true)
	pub("quiet-2")
	waitFor(t, 60*time.Second, "quiet-2 silent", func() bool {
		_, body := srv.HTTPGet(t, "/v1/devices?state=silent")
		return strings.Contains(body, `"device":"quiet-2"`)
	})
	pub("steady")
	srv.Stop(t)
	// Down for longer than silent_after: by the old clock, steady would
	// be silent the moment the server is back.
	time.Sleep(4 * time.Second)
	restarted := time.Now()
	srv.Start(t)
	pub("steady")
	r.setDown(false)
	waitFor(t, 60*time.Second, "the saved firing", func() bool { return r.count("webhook", "quiet-2 silent firing") > 0 })
	pub("quiet-2")
	for _, kind := range []string{"webhook", "telegram", "ntfy"} {
		waitFor(t, 60*time.Second, kind+" told quiet-2 resolved", func() bool { return r.count(kind, "quiet-2 silent resolved") > 0 })
		if got := r.of(kind, "quiet-2", "silent"); len(got) != 2 || got[0] != "firing" || got[1] != "resolved" {
			t.Errorf("%s: quiet-2 silent went %q, want one firing then one resolution", kind, got)
		}
	}
	// steady may go silent in time, if this test is slow, but only from
	// its reading after the restart, never from the one before.
	r.mu.Lock()
	for _, since := range r.since["steady silent firing"] {
		if since.Before(restarted) {
			t.Errorf("steady was called silent since %s, before the restart at %s", since, restarted)
		}
	}
	r.mu.Unlock()
	if ids := r.repeatedIDs(); len(ids) > 0 {
		t.Errorf("notifications accepted twice: %q", ids)
	}
}
