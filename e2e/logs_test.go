package e2e

import (
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mqflux/mqflux/internal/testenv"
)

// A device's log lines on devices/{device}/logs (mapping.logs_template)
// go through the broker's ACL, the mapping and the spool into InfluxDB's
// logs measurement, and GET /v1/logs reads them back newest first, by
// device, unit, level and message text, a page at a time; bad filters are
// refused with what is wrong.
func TestDeviceLogs(t *testing.T) {
	in := testenv.StartInflux(t)
	srv := testenv.StartServer(t, testenv.ServerOptions{Influx: in}) // logs_template is on by default
	lines := []string{
		`{"message": "Started Session 3 of user pi.", "pid": 1, "tags": {"unit": "systemd", "level": "info"}}`,
		`{"message": "Failed password for root from 10.0.0.1 port 22 ssh2", "pid": 812, "tags": {"unit": "sshd", "level": "err"}}`,
		`{"message": "Accepted publickey for pi", "pid": 813, "tags": {"unit": "sshd", "level": "info"}}`,
	}
	for _, l := range lines {
		if out, err := testenv.Pub(t, srv.MQTT, testenv.DemoDevice, "devices/demo-device/logs", l, "-q", "1"); err != nil {
			t.Fatalf("publish a log line: %v\n%s", err, out)
		}
		time.Sleep(5 * time.Millisecond) // distinct receive times, so the order is known
	}
	waitFor(t, time.Minute, "the log lines in InfluxDB", func() bool { return in.Count(t, "logs", "message") == 3 })

	type page struct {
		Entries []struct {
			Device, Unit, Level, Message string
			PID                          float64
		} `json:"entries"`
		Next string `json:"next"`
	}
	get := func(query url.Values) page {
		t.Helper()
		code, body := srv.HTTPGet(t, "/v1/logs?"+query.Encode())
		var p page
		if code != 200 || json.Unmarshal([]byte(body), &p) != nil {
			t.Fatalf("GET /v1/logs?%s: %d %s", query.Encode(), code, body)
		}
		return p
	}
	p := get(url.Values{"device": {"demo-device"}, "limit": {"2"}})
	if len(p.Entries) != 2 || p.Entries[0].Message != "Accepted publickey for pi" || p.Entries[0].Unit != "sshd" ||
		p.Entries[0].PID != 813 || p.Next == "" {
		t.Fatalf("first page: %+v; want the two newest lines and a next cursor", p)
	}
	p = get(url.Values{"device": {"demo-device"}, "limit": {"2"}, "cursor": {p.Next}})
	if len(p.Entries) != 1 || p.Entries[0].Unit != "systemd" || p.Next != "" {
		t.Errorf("second page: %+v; want the oldest line and no cursor", p)
	}
	if p := get(url.Values{"unit": {"sshd"}, "level": {"err"}, "message": {"password for root"}}); len(p.Entries) != 1 ||
		!strings.HasPrefix(p.Entries[0].Message, "Failed password") {
		t.Errorf("filtered by unit, level and message: %+v", p)
	}
	if p := get(url.Values{"message": {".*"}}); len(p.Entries) != 0 {
		t.Errorf("message=.* matched %d lines; it is text, not a pattern", len(p.Entries))
	}
	for _, bad := range []string{"limit=0", "limit=5000", "from=yesterday", "device=a%0Ab", "cursor=x", "from=2026-12-02T00:00:00Z&to=2026-12-01T00:00:00Z"} {
		if code, body := srv.HTTPGet(t, "/v1/logs?"+bad); code != 400 || !strings.Contains(body, "error") {
			t.Errorf("GET /v1/logs?%s: %d %s, want 400 saying what is wrong", bad, code, body)
		}
	}
}

// The console's journal lists the log lines newest first and narrows them
// as a filter is typed, in headless Chromium.
func TestConsoleJournal(t *testing.T) {
	in := testenv.StartInflux(t)
	srv := testenv.StartServer(t, testenv.ServerOptions{Influx: in}) // logs_template is on by default
	for _, l := range []string{
		`{"message": "Started Session 3 of user pi.", "pid": 1, "tags": {"unit": "systemd", "level": "info"}}`,
		`{"message": "Failed password for root from 10.0.0.1 port 22 ssh2", "pid": 812, "tags": {"unit": "sshd", "level": "err"}}`,
	} {
		if out, err := testenv.Pub(t, srv.MQTT, testenv.DemoDevice, "devices/demo-device/logs", l, "-q", "1"); err != nil {
			t.Fatalf("publish a log line: %v\n%s", err, out)
		}
		time.Sleep(5 * time.Millisecond)
	}
	waitFor(t, time.Minute, "the log lines in InfluxDB", func() bool { return in.Count(t, "logs", "message") == 2 })
	ctx := testenv.Browser(t)
	var errs consoleErrors
	errs.listen(t, ctx)
	run(t, ctx, "the journal", chromedp.Navigate("http://"+srv.HTTP+"/#/journal"),
		until(`document.querySelectorAll("#journal tbody tr").length === 2`))
	first := get(t, ctx, "the newest line", chromedp.Text(chromedp.CSS(`#journal tbody tr:first-child pre`)))
	if !strings.HasPrefix(first, "Failed password") {
		t.Errorf("the journal's first line is %q, want the newest", first)
	}
	run(t, ctx, "filter by message", chromedp.SendKeys(chromedp.CSS(`#journal-message`), "Session 3"),
		until(`document.querySelectorAll("#journal tbody tr").length === 1 && document.querySelector("#journal tbody pre").textContent.startsWith("Started Session 3")`))
	if e := errs.list(); len(e) > 0 {
		t.Errorf("the browser reported errors:\n%s", strings.Join(e, "\n"))
	}
}
