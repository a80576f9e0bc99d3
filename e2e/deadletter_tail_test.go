package e2e

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mqflux/mqflux/flow/deadletter"
	"github.com/mqflux/mqflux/internal/testenv"
)

// procStatus is a field of /proc/PID/status in bytes (VmRSS, VmHWM).
func procStatus(t *testing.T, pid int, field string) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		testenv.Missing(t, "/proc/PID/status", "the server's memory is read there (Linux): "+err.Error())
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			if err != nil {
				t.Fatalf("/proc/%d/status %s: %q", pid, field, v)
			}
			return kb << 10
		}
	}
	testenv.Missing(t, field+" in /proc/PID/status", "the server's memory is read there (Linux)")
	return 0
}

// GET /v1/deadletter on a 50 MB dead-letter file answers with its newest
// entries, page after page, and the server's memory does not grow by the
// file: it reads the end backwards in blocks and counts line by line.
func TestDeadLetterTailLargeFile(t *testing.T) {
	srv := testenv.StartServer(t, testenv.ServerOptions{})
	srv.Stop(t)
	const size = 50 << 20
	entries := writeDeadLetters(t, deadletter.PathIn(srv.DataDir), size)
	srv.Start(t)

	pid := srv.Pid()
	rss, hwm := procStatus(t, pid, "VmRSS"), procStatus(t, pid, "VmHWM")
	type answer struct {
		Entries  int            `json:"entries"`
		ByReason map[string]int `json:"by_reason"`
		Newest   []struct {
			Device  string `json:"device"`
			Payload []byte `json:"payload"`
		} `json:"newest"`
		Next string `json:"next"`
	}
	get := func(query string) answer {
		t.Helper()
		code, body := srv.HTTPGet(t, "/v1/deadletter?"+query)
		var a answer
		if err := json.Unmarshal([]byte(body), &a); code != 200 || err != nil {
			t.Fatalf("GET /v1/deadletter?%s: %d %.300q (%v)", query, code, body, err)
		}
		return a
	}
	first := get("n=10")
	if first.Entries != entries || first.ByReason["bad_number"] != entries {
		t.Errorf("GET /v1/deadletter counts %d entries %v, want %d bad_number", first.Entries, first.ByReason, entries)
	}
	second := get("n=5&before=" + url.QueryEscape(first.Next))
	got := append(first.Newest, second.Newest...)
	if len(got) != 15 {
		t.Fatalf("two pages held %d entries, want 15", len(got))
	}
	for i, e := range got {
		if want := fmt.Sprintf("dev-%d", entries-1-i); e.Device != want || len(e.Payload) != 1000 {
			t.Errorf("entry %d of the newest: device %s with %d payload bytes, want %s with 1000", i, e.Device, len(e.Payload), want)
		}
	}
	_, pipeline := srv.HTTPGet(t, "/v1/pipeline")
	if !strings.Contains(pipeline, fmt.Sprintf(`"device": "dev-%d"`, entries-1)) {
		t.Errorf("/v1/pipeline lacks the newest dead letter: %.500s", pipeline)
	}
	rss2, hwm2 := procStatus(t, pid, "VmRSS"), procStatus(t, pid, "VmHWM")
	t.Logf("file %d MiB, %d entries; VmRSS %d -> %d MiB, VmHWM %d -> %d MiB", size>>20, entries, rss>>20, rss2>>20, hwm>>20, hwm2>>20)
	const bound = 30 << 20
	if rss2-rss > bound || hwm2-hwm > bound {
		t.Errorf("reading the %d MiB dead-letter file grew the server's memory by %d MiB resident, %d MiB at the peak; want under %d MiB",
			size>>20, (rss2-rss)>>20, (hwm2-hwm)>>20, bound>>20)
	}
}

// writeDeadLetters writes entries of 1000-byte payloads, devices dev-0,
// dev-1, ..., to path until it holds size bytes, and returns how many.
func writeDeadLetters(t *testing.T, path string, size int) int {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	payload := strings.Repeat("p", 1000)
	start := time.Now().Add(-time.Hour).UTC()
	n, written := 0, 0
	for ; written < size; n++ {
		b, err := json.Marshal(map[string]string{"time": start.Add(time.Duration(n) * time.Millisecond).Format(time.RFC3339Nano),
			"source": "mqtt", "device": fmt.Sprint("dev-", n), "topic": fmt.Sprintf("devices/dev-%d/sensors/climate", n),
			"reason": "bad_number", "payload": payload})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(append(b, '\n'))
		written += len(b) + 1
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return n
}
