package hostlogs

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mqflux/mqflux/internal/testenv"
)

func TestParseEntry(t *testing.T) {
	tests := []struct {
		name, raw string
		want      Line
		cursor    string
	}{
		{"plain", `{"__CURSOR":"c1","__REALTIME_TIMESTAMP":"1764979200000001","PRIORITY":"6","_SYSTEMD_UNIT":"ssh.service","SYSLOG_IDENTIFIER":"sshd","_PID":"812","MESSAGE":"Accepted"}`,
			Line{Time: time.UnixMicro(1764979200000001), Unit: "ssh.service", Level: "info", Message: "Accepted", PID: 812}, "c1"},
		{"identifier when no unit", `{"__CURSOR":"c2","PRIORITY":"3","SYSLOG_IDENTIFIER":"kernel","MESSAGE":"oops"}`,
			Line{Unit: "kernel", Level: "err", Message: "oops"}, "c2"},
		{"bytes", `{"__CURSOR":"c3","PRIORITY":"0","MESSAGE":[104,105,255,10]}`, Line{Level: "emerg", Message: "hi\xff\n"}, "c3"},
		{"field given twice", `{"MESSAGE":["one","two"],"PRIORITY":"7","_PID":["5","6"]}`, Line{Level: "debug", Message: "one", PID: 5}, ""},
		{"too large to print", `{"MESSAGE":null,"PRIORITY":"4"}`, Line{Level: "warning", Message: "[message not printed by journalctl]"}, ""},
		{"odd priority and pid", `{"MESSAGE":"m","PRIORITY":"9","_PID":"x"}`, Line{Message: "m"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, cursor, err := parseEntry([]byte(tt.raw))
			if err != nil || got != tt.want || cursor != tt.cursor {
				t.Fatalf("got %+v %q %v, want %+v %q", got, cursor, err, tt.want, tt.cursor)
			}
		})
	}
	for _, bad := range []string{`not json`, `[1,2]`, `{"PRIORITY":"3"}`} {
		if _, _, err := parseEntry([]byte(bad)); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

func runFor(t *testing.T, run func(context.Context)) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { run(ctx) })
	return func() { cancel(); wg.Wait() }
}

// Entries come through with their fields mapped, a byte-array MESSAGE
// included; after a restart journalctl is asked for what follows the
// saved cursor, and the queue holds every entry exactly once.
func TestJournalResumesFromCursor(t *testing.T) {
	r := newRig(t, 1<<20, 1000)
	dir := t.TempDir()
	fixture := filepath.Join(dir, "journal.jsonl")
	data, err := os.ReadFile("testdata/journal.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, fixture, string(data), os.O_TRUNC)
	cmd, argsLog := testenv.FakeJournalctl(t, dir, fixture)
	j := Journal{Enabled: true, Units: []string{"ssh.service", "cron.service"}, Priority: "warning", Command: cmd}
	src := &JournalSource{Journal: j, Ship: r.sh, Log: testLogger(t)}
	stop := runFor(t, src.Run)
	got := r.waitLines(3)
	stop()
	want := []payload{
		{Message: "Accepted publickey for pi from 10.0.0.2 port 50122 ssh2", PID: 812, Tags: map[string]string{"unit": "ssh.service", "level": "info"}, Time: "2025-12-06T00:00:00.000001Z"},
		{Message: "under-voltage [0m\uFFFD detected", Tags: map[string]string{"unit": "kernel", "level": "err"}, Time: "2025-12-06T00:00:00.000002Z"},
		// The same microsecond as the line before, in another series: its
		// own time.
		{Message: "[message not printed by journalctl]", PID: 77, Tags: map[string]string{"unit": "cron.service", "level": "warning"}, Time: "2025-12-06T00:00:00.000002Z"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("queued\n%v\nwant\n%v", got, want)
	}
	if st := r.sh.State(); st.Journal != "s=1;i=3" {
		t.Fatalf("saved cursor %q, want that of the last entry", st.Journal)
	}

	more, err := os.ReadFile("testdata/journal-more.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, fixture, string(more), os.O_APPEND)
	r.reopen()
	src = &JournalSource{Journal: j, Ship: r.sh, Log: testLogger(t)}
	stop = runFor(t, src.Run)
	got = r.waitLines(6)
	time.Sleep(300 * time.Millisecond) // anything repeated would be here by now
	got = r.lines()
	stop()
	if m := messages(got); !slices.Equal(m[3:], []string{"first value", "line five", "line six, same microsecond"}) || len(m) != 6 {
		t.Fatalf("after the restart the queue holds %q; want the first three once and the three new ones", m)
	}
	// Two lines of one series in one microsecond: the second a nanosecond
	// later, so InfluxDB keeps both.
	if got[4].Time != "2025-12-06T00:01:01Z" || got[5].Time != "2025-12-06T00:01:01.000000001Z" {
		t.Fatalf("times %s and %s", got[4].Time, got[5].Time)
	}
	args, _ := os.ReadFile(argsLog)
	calls := strings.Split(strings.TrimSpace(string(args)), "\n")
	wantArgs := []string{
		"--output=json --follow --all --quiet --no-pager --lines=0 --priority=warning --unit=ssh.service --unit=cron.service",
		"--output=json --follow --all --quiet --no-pager --after-cursor=s=1;i=3 --lines=all --priority=warning --unit=ssh.service --unit=cron.service",
	}
	if !slices.Equal(calls, wantArgs) {
		t.Fatalf("journalctl called as\n%s\nwant\n%s", strings.Join(calls, "\n"), strings.Join(wantArgs, "\n"))
	}
}

// A journalctl that exits is started again from the cursor; one that
// cannot be started is retried, not fatal.
func TestJournalRestartsEndedJournalctl(t *testing.T) {
	r := newRig(t, 1<<20, 1000)
	dir := t.TempDir()
	script := filepath.Join(dir, "journalctl")
	counter := filepath.Join(dir, "n")
	// Each call prints one entry numbered by the calls so far, then exits.
	body := fmt.Sprintf(`#!/bin/sh
n=$(cat %[1]s 2>/dev/null || echo 0); n=$((n+1)); echo $n > %[1]s
echo "{\"__CURSOR\":\"c$n\",\"MESSAGE\":\"run $n\",\"PRIORITY\":\"4\"}"
`, counter)
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	src := &JournalSource{Journal: Journal{Enabled: true, Priority: "warning", Command: script}, Ship: r.sh, Log: testLogger(t)}
	stop := runFor(t, src.Run)
	got := r.waitLines(2)
	stop()
	if got[0].Message != "run 1" || got[1].Message != "run 2" || r.sh.State().Journal == "" {
		t.Fatalf("got %v, state %+v", got, r.sh.State())
	}
	missing := &JournalSource{Journal: Journal{Enabled: true, Command: filepath.Join(dir, "absent")}, Ship: r.sh, Log: testLogger(t)}
	stop = runFor(t, missing.Run)
	time.Sleep(100 * time.Millisecond)
	stop() // returns: a missing journalctl is retried until the agent stops
}

// A saved cursor journalctl refuses (a damaged state file) is not retried
// forever: the source starts at the journal's end and says, in a line,
// that lines may be missing.
func TestJournalRefusedCursor(t *testing.T) {
	r := newRig(t, 1<<20, 1000)
	r.sh.Ship(nil, func(st *State) { st.Journal = "garbage" })
	dir := t.TempDir()
	script := filepath.Join(dir, "journalctl")
	body := `#!/bin/sh
for a in "$@"; do case "$a" in --after-cursor=*) echo "Failed to seek to cursor: Invalid argument" >&2; exit 1;; esac; done
echo '{"__CURSOR":"good","MESSAGE":"from the end","PRIORITY":"4"}'
exec sleep 600
`
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	src := &JournalSource{Journal: Journal{Enabled: true, Priority: "warning", Command: script}, Ship: r.sh, Log: testLogger(t)}
	stop := runFor(t, src.Run)
	got := r.waitLines(2)
	stop()
	if got[0].Tags["unit"] != SelfUnit || !strings.Contains(got[0].Message, "refused the saved cursor") || got[1].Message != "from the end" {
		t.Fatalf("queued %v", got)
	}
	if c := r.sh.State().Journal; c != "good" {
		t.Fatalf("cursor %q, want the new one", c)
	}
}
