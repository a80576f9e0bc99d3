package e2e

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mqflux/mqflux/internal/testenv"
)

// A persistent session that comes back to readings queued for it, and
// subscribes again on connecting as `mosquitto_sub -c` does, is granted its
// SUBSCRIBE while the broker redelivers the queue: it reads the queue, in
// order, and then the live readings after it. The broker's own publishes
// to the session hold packet ids 1, 2, 3… then, the ids mosquitto_sub gives
// its SUBSCRIBE; client and server number their packets independently, and
// the broker once refused the SUBSCRIBE as "packet identifier in use":
// mosquitto_sub printed the queue, "All subscription requests were
// denied." and left, and no live reading reached it.
func TestReturningSessionResubscribes(t *testing.T) {
	const queued, live = 500, 10
	sessions := []struct {
		id      string
		version []string // mosquitto_sub's protocol flags
	}{
		{"resub-311", []string{"-V", "311"}},
		// MQTT 5 keeps a session only with an expiry. mosquitto asks for a
		// Receive Maximum of 20, far less than the queue: the broker once
		// sent the whole queue on reconnecting, then each message held for
		// the send quota a second time on a PUBACK, and the quota never
		// came back; no live reading reached the session.
		{"resub-5", []string{"-V", "5", "-x", "3600"}},
	}
	influx := testenv.StartInflux(t)
	srv := testenv.StartServer(t, testenv.ServerOptions{Influx: influx})
	for _, s := range sessions {
		sub := testenv.Subscribe(t, srv.MQTT, testenv.DemoReader, "devices/#", append([]string{"-q", "1", "-c", "-i", s.id, "-E"}, s.version...)...)
		if err, stderr := sub.Wait(30 * time.Second); err != nil {
			t.Fatalf("creating the persistent session %s: %v %s", s.id, err, stderr)
		}
	}
	acked := runBench(t, srv, influx, 1, queued)

	for i, s := range sessions {
		t.Run(s.id, func(t *testing.T) {
			// -d prints the SUBACK's return codes beside the messages.
			sub := testenv.Subscribe(t, srv.MQTT, testenv.DemoReader, "devices/#", append([]string{"-q", "1", "-c", "-i", s.id, "-d"}, s.version...)...)
			readings := waitReadings(t, sub, "its queue", func(r []string) bool { return len(r) >= acked })
			for n, l := range readings[:acked] {
				_, payload, _ := strings.Cut(l, " ")
				var r struct{ Value int64 }
				if err := json.Unmarshal([]byte(payload), &r); err != nil || r.Value != int64(n) {
					t.Fatalf("queued message %d: %q, want the device's reading %d (its readings in order, from its first)", n, l, n)
				}
			}

			// A topic of its own: the other session is away meanwhile, and
			// these readings join its queue.
			topic := fmt.Sprintf("devices/demo-device/sensors/resub%d", i)
			for n := range live {
				if out, err := testenv.Pub(t, srv.MQTT, testenv.DemoDevice, topic, fmt.Sprint(1000+n), "-q", "1"); err != nil {
					t.Fatalf("publish live reading %d: %v %s", n, err, out)
				}
			}
			allLive := func(readings []string) bool {
				for n := range live {
					if !slices.Contains(readings[acked:], fmt.Sprintf("%s %d", topic, 1000+n)) {
						return false
					}
				}
				return true
			}
			// After the device's readings come only the live ones, this
			// session's and those the other published meanwhile: a queued
			// reading again is a duplicate.
			for _, l := range waitReadings(t, sub, "the live readings after its queue", allLive)[acked:] {
				if !strings.HasPrefix(l, "devices/demo-device/sensors/resub") {
					t.Errorf("after its queue: %q, a queued reading again", l)
				}
			}
			// mosquitto_sub's -d lines after its last message stay in its
			// stdout buffer until it exits (SIGTERM: a clean exit).
			sub.Stop()
			_, stderr := sub.Wait(10 * time.Second)
			granted := regexp.MustCompile(`^Subscribed \(mid: \d+\): 1$`) // QoS 1 granted
			if !slices.ContainsFunc(sub.Lines(), granted.MatchString) || strings.Contains(stderr, "denied") {
				t.Errorf("no SUBACK granting QoS 1: %q; stderr: %s", subackLines(sub.Lines()), stderr)
			}
		})
	}
}

// messageLines are the messages among mosquitto_sub -d's output.
func messageLines(lines []string) []string {
	var r []string
	for _, l := range lines {
		if strings.HasPrefix(l, "devices/") {
			r = append(r, l)
		}
	}
	return r
}

// subackLines are mosquitto_sub -d's reports but those of messages: its
// CONNECT, SUBSCRIBE and SUBACK.
func subackLines(lines []string) []string {
	var r []string
	for _, l := range lines {
		if !strings.HasPrefix(l, "devices/") && !strings.Contains(l, "PUBLISH") && !strings.Contains(l, "PUBACK") {
			r = append(r, l)
		}
	}
	return r
}

// waitReadings waits until the readings sub has printed satisfy done.
func waitReadings(t *testing.T, sub *testenv.Sub, what string, done func([]string) bool) []string {
	t.Helper()
	return messageLines(waitLines(t, sub, what, func(l []string) bool { return done(messageLines(l)) }))
}

// waitLines waits until what sub has printed satisfies done, failing the
// test at once, with what it said, if it leaves before.
func waitLines(t *testing.T, sub *testenv.Sub, what string, done func([]string) bool) []string {
	t.Helper()
	const within = 90 * time.Second
	deadline := time.After(within)
	for {
		if l := sub.Lines(); done(l) {
			return l
		}
		select {
		case <-sub.Done():
			if l := sub.Lines(); done(l) {
				return l
			}
			err, stderr := sub.Wait(10 * time.Second)
			t.Fatalf("waiting for %s: mosquitto_sub left (%v) after %d readings; SUBACK: %q; stderr: %s",
				what, err, len(messageLines(sub.Lines())), subackLines(sub.Lines()), stderr)
		case <-deadline:
			r := messageLines(sub.Lines())
			t.Fatalf("waiting for %s: not there within %s, after %d readings (the last: %q); SUBACK: %q",
				what, within, len(r), r[max(0, len(r)-20):], subackLines(sub.Lines()))
		case <-time.After(20 * time.Millisecond):
		}
	}
}
