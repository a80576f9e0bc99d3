package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mqflux/mqflux/device/queue"
	"github.com/mqflux/mqflux/internal/testenv"
)

const e2eID = "e2e-pi"

// e2eConfig has two counting sim sensors: reading n of "a" is n, of "b"
// 1000+n, so the set of values a run must deliver is known exactly.
func e2eConfig(t *testing.T, b *testenv.Mosquitto, dir string) string {
	t.Helper()
	cfg := fmt.Sprintf(`device:
  id: %s
  broker: %s
  max_reconnect_interval: 1s
  summary_interval: 2s
  queue: {dir: %s, max_bytes: 1MiB, fsync: batch}
  sensors:
    - {kind: sim, measurement: a, interval: 100ms, base: 0, step: 1, amplitude: 0, noise: 0}
    - {kind: sim, measurement: b, interval: 150ms, base: 1000, step: 1, amplitude: 0, noise: 0}
`, e2eID, "tcp://"+b.Addr, filepath.Join(dir, "queue"))
	path := filepath.Join(dir, "device.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

type reading struct {
	measurement string
	value       float64
	time        time.Time
}

// readings parses the sensor lines mosquitto_sub printed; a line that does
// not parse fails the test.
func readings(t *testing.T, lines []string) []reading {
	t.Helper()
	var out []reading
	prefix := "devices/" + e2eID + "/sensors/"
	for _, l := range lines {
		topic, body, _ := strings.Cut(l, " ")
		if !strings.HasPrefix(topic, prefix) {
			continue
		}
		var p struct {
			Value *float64 `json:"value"`
			Time  string   `json:"time"`
		}
		if err := json.Unmarshal([]byte(body), &p); err != nil || p.Value == nil {
			t.Fatalf("payload %q: %v", body, err)
		}
		ts, err := time.Parse(time.RFC3339Nano, p.Time)
		if err != nil {
			t.Fatalf("time in %q: %v", body, err)
		}
		out = append(out, reading{strings.TrimPrefix(topic, prefix), *p.Value, ts})
	}
	return out
}

// checkContiguous says whether every value from base up to the largest one
// seen arrived for measurement m, each with its one timestamp, and returns
// that largest value.
func checkContiguous(t *testing.T, rs []reading, m string, base float64) float64 {
	t.Helper()
	times := map[float64]time.Time{}
	top := base - 1
	for _, r := range rs {
		if r.measurement != m {
			continue
		}
		if prev, dup := times[r.value]; dup && !prev.Equal(r.time) {
			t.Fatalf("%s=%v arrived with two timestamps %s and %s", m, r.value, prev, r.time)
		}
		times[r.value] = r.time
		top = max(top, r.value)
	}
	for v := base; v <= top; v++ {
		if _, ok := times[v]; !ok {
			t.Fatalf("%s=%v missing; %d values up to %v arrived", m, v, len(times), top)
		}
		if v > base && !times[v].After(times[v-1]) {
			t.Fatalf("%s=%v has time %s, not after %s of the reading before", m, v, times[v], times[v-1])
		}
	}
	return top
}

func count(rs []reading, m string, from, to time.Time) int {
	n := 0
	for _, r := range rs {
		if r.measurement == m && r.time.After(from) && r.time.Before(to) {
			n++
		}
	}
	return n
}

func statuses(lines []string) []string {
	var out []string
	for _, l := range lines {
		if s, ok := strings.CutPrefix(l, "devices/"+e2eID+"/status "); ok {
			out = append(out, s)
		}
	}
	return out
}

func lastStatus(s *testenv.Sub) string {
	st := statuses(s.Lines())
	if len(st) == 0 {
		return ""
	}
	return st[len(st)-1]
}

func TestAgentAgainstMosquitto(t *testing.T) {
	b := newBroker(t)
	sub := subscribe(t, b, "devices/#")
	dir := t.TempDir()
	cfg := e2eConfig(t, b, dir)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("mosquitto_sub saw:\n%s", strings.Join(sub.Lines(), "\n"))
		}
	})
	started := time.Now()
	a1 := startAgent(t, "-config "+cfg)

	// (a) readings arrive with their timestamps, and the device is online.
	waitFor(t, "status online and 10 readings of a", func() bool {
		return lastStatus(sub) == "online" && len(readings(t, sub.Lines())) >= 10
	})
	for _, r := range readings(t, sub.Lines()) {
		if r.time.Before(started) || r.time.After(time.Now()) {
			t.Fatalf("reading %+v has a time outside the run", r)
		}
	}
	checkContiguous(t, readings(t, sub.Lines()), "a", 0)

	// (b) a broker outage: what is read meanwhile arrives afterwards with
	// its original timestamp, none missing.
	b.Stop()
	outageFrom := time.Now()
	time.Sleep(2 * time.Second) // let the agent take readings with no broker
	outageTo := time.Now()
	b.Start(t)
	waitFor(t, "readings taken after the outage", func() bool {
		return count(readings(t, sub.Lines()), "a", outageTo, time.Now().Add(time.Hour)) > 0 &&
			count(readings(t, sub.Lines()), "b", outageTo, time.Now().Add(time.Hour)) > 0
	})
	rs := readings(t, sub.Lines())
	topA, topB := checkContiguous(t, rs, "a", 0), checkContiguous(t, rs, "b", 1000)
	if n := count(rs, "a", outageFrom, outageTo); n < 3 {
		t.Fatalf("only %d readings of a were taken during the outage; the test needs several", n)
	}
	t.Logf("outage: %d readings of a and %d of b taken with the broker down all arrived (a up to %v, b up to %v)",
		count(rs, "a", outageFrom, outageTo), count(rs, "b", outageFrom, outageTo), topA, topB)

	// (c) the agent is killed while readings are queued; a new agent sends them.
	b.Stop()
	time.Sleep(1500 * time.Millisecond) // readings accumulate in the queue
	kill(t, a1, syscall.SIGKILL)
	killedAt := time.Now()
	queued := queuedLines(t, filepath.Join(dir, "queue"))
	if len(queued) < 3 {
		t.Fatalf("only %d readings were queued at the kill; the test needs several", len(queued))
	}
	b.Start(t)
	a2 := startAgent(t, "-config "+cfg)
	waitFor(t, fmt.Sprintf("the %d readings queued before SIGKILL", len(queued)), func() bool {
		seen := map[string]bool{}
		for _, l := range sub.Lines() {
			seen[l] = true
		}
		for _, q := range queued {
			if !seen[q] {
				return false
			}
		}
		return true
	})
	// The first agent's whole sequence, queued part included, arrived.
	var first []reading
	for _, r := range readings(t, sub.Lines()) {
		if r.time.Before(killedAt) {
			first = append(first, r)
		}
	}
	t.Logf("after SIGKILL: the %d queued readings arrived; the first agent read a up to %v, b up to %v, none missing",
		len(queued), checkContiguous(t, first, "a", 0), checkContiguous(t, first, "b", 1000))

	// (d) presence: SIGKILL fires the will, "offline" retained; a restart
	// says "online" again; SIGTERM says "offline" itself before leaving.
	waitFor(t, "online after the restart", func() bool { return lastStatus(sub) == "online" })
	kill(t, a2, syscall.SIGKILL)
	waitFor(t, "the will: offline", func() bool { return lastStatus(sub) == "offline" })
	if got := retained(t, b, "devices/"+e2eID+"/status"); got != "offline" {
		t.Fatalf("retained status after SIGKILL: %q, want offline", got)
	}
	a3 := startAgent(t, "-config "+cfg)
	waitFor(t, "online retained", func() bool { return retained(t, b, "devices/"+e2eID+"/status") == "online" })
	if err := kill(t, a3, syscall.SIGTERM); err != nil {
		t.Fatalf("agent exit after SIGTERM: %v", err)
	}
	if got := retained(t, b, "devices/"+e2eID+"/status"); got != "offline" {
		t.Fatalf("retained status after SIGTERM: %q, want offline", got)
	}
	t.Logf("status sequence seen by mosquitto_sub: %v", statuses(sub.Lines()))
}

// queuedLines reads what the killed agent left in its queue, as the lines
// mosquitto_sub prints for them.
func queuedLines(t *testing.T, dir string) []string {
	t.Helper()
	q, err := queue.Open(queue.Options{Dir: dir, MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	var out []string
	for {
		r, ok, err := q.Next()
		if err != nil {
			t.Fatal(err)
		}
		if !ok {
			return out
		}
		topic, body, _ := strings.Cut(string(r.Data), "\n")
		out = append(out, topic+" "+body)
	}
}
