package subscriber

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqflux/mqflux/flow/ingest"
	"github.com/mqflux/mqflux/internal/testenv"
)

// jitterSink finishes messages out of order: some take a random while,
// some are refused as a full spool a few times first. It records every
// message it took.
type jitterSink struct {
	mu       sync.Mutex
	rnd      *rand.Rand
	refusals map[string]int // payload: refusals left
	stored   []string

	slowEvery, refuseEvery int
	maxDelay               time.Duration
	full                   atomic.Bool // refuse everything as a full spool
}

func (s *jitterSink) Ingest(topic string, payload []byte, _ time.Time) error {
	if s.full.Load() {
		return ingest.ErrFull
	}
	s.mu.Lock()
	key := string(payload)
	left, seen := s.refusals[key]
	if !seen {
		left = 0
		if s.refuseEvery > 0 && s.rnd.IntN(s.refuseEvery) == 0 {
			left = 1 + s.rnd.IntN(2)
		}
	}
	var delay time.Duration
	if s.slowEvery > 0 && s.rnd.IntN(s.slowEvery) == 0 {
		delay = time.Duration(s.rnd.Int64N(int64(s.maxDelay)))
	}
	if left > 0 {
		s.refusals[key] = left - 1
		s.mu.Unlock()
		return fmt.Errorf("append %s: %w", key, ingest.ErrFull)
	}
	s.refusals[key] = 0
	s.mu.Unlock()

	time.Sleep(delay) // outside the lock: the other workers overtake this one

	s.mu.Lock()
	defer s.mu.Unlock()
	s.stored = append(s.stored, topic+" "+key)
	return nil
}

func (s *jitterSink) Stored() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.stored)
}

// The PUBACKs reach a real mosquitto in the order it sent the PUBLISHes,
// every one of them, while the spool side finishes out of order: checked
// against mosquitto's own log of what it sent and received.
func TestPubacksInArrivalOrder(t *testing.T) {
	const n = 600
	cases := []struct {
		name                   string
		inflight               int // max_inflight_messages; 0 = unlimited
		slowEvery, refuseEvery int
		ignored                int // messages on a topic no mapping wants, interleaved
	}{
		{"random delays, unlimited in-flight window", 0, 3, 0, 0},
		{"random delays, in-flight window of 20", 20, 3, 0, 0},
		{"spool full now and then", 20, 5, 8, 0},
		{"ignored topics interleaved", 0, 3, 8, 200},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			broker, logPath := verboseMosquitto(t, tc.inflight)
			sink := &jitterSink{
				rnd: rand.New(rand.NewPCG(uint64(n), uint64(len(tc.name)))), refusals: map[string]int{},
				slowEvery: tc.slowEvery, refuseEvery: tc.refuseEvery, maxDelay: 3 * time.Millisecond,
			}
			const id = "bridge-order"
			o := options(broker.Addr, id, sink, "devices/#", "other/#")
			o.Wants = func(topic string) bool { return strings.HasPrefix(topic, "devices/") }
			s := startSub(t, o)

			sent := numbered("o", n)
			others := make(chan error, 1)
			if tc.ignored > 0 {
				bin := testenv.RequireCommand(t, "mosquitto_pub")
				go func() {
					// A second publisher at once, so ignored messages fall
					// between the spooled ones.
					others <- tryPublishLines(bin, broker.Addr, "other/x", numbered("i", tc.ignored))
				}()
			} else {
				others <- nil
			}
			publishLines(t, broker.Addr, "devices/a/sensors/t", sent)
			if err := <-others; err != nil {
				t.Fatal(err)
			}
			total := n + tc.ignored
			waitFor(t, "every message acknowledged", func() bool {
				return acked(s, "spooled") == n && acked(s, "ignored_topic") == tc.ignored
			})

			var published, pubacks []int
			waitFor(t, "every PUBACK in mosquitto's log", func() bool {
				published, pubacks = mosquittoMids(t, logPath, id)
				return len(pubacks) >= total
			})
			if len(published) != total {
				t.Errorf("mosquitto sent %d PUBLISHes to %s, want %d (a redelivery?)", len(published), id, total)
			}
			if i := firstDifference(published, pubacks); i >= 0 {
				t.Errorf("PUBACK %d of %d is for Mid %s, but the PUBLISH sent at that place was Mid %s",
					i, total, at(pubacks, i), at(published, i))
			}
			want := make([]string, n)
			for i, m := range sent {
				want[i] = "devices/a/sensors/t " + m
			}
			if got := sorted(unique(sink.Stored())); !slices.Equal(got, sorted(want)) {
				t.Errorf("sink stored %d distinct messages, want the %d sent", len(got), n)
			}
			if got := notAcked(s, "connection_lost") + notAcked(s, "shutdown"); got != 0 {
				t.Errorf("%d messages not acknowledged", got)
			}
		})
	}
}

// mosquittoMids reads, from a mosquitto log with log_type all, the packet
// ids of the PUBLISHes it sent to client and of the PUBACKs it received
// from it, each in log order, in the broker's latest run.
func mosquittoMids(t *testing.T, path, client string) (published, pubacks []int) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("read mosquitto log: %v", err)
	}
	c := regexp.QuoteMeta(client)
	pub := regexp.MustCompile(`Sending PUBLISH to ` + c + ` \(d\d, q1, r\d, m(\d+),`)
	ack := regexp.MustCompile(`Received PUBACK from ` + c + ` \(Mid: (\d+)`)
	text := string(b)
	if i := strings.LastIndexByte(text, '\n'); i >= 0 {
		text = text[:i] // a line still being written is read next time
	}
	if i := lastStart.FindAllStringIndex(text, -1); len(i) > 0 {
		text = text[i[len(i)-1][0]:]
	}
	for _, line := range strings.Split(text, "\n") {
		if m := pub.FindStringSubmatch(line); m != nil {
			published = append(published, atoi(t, m[1]))
		} else if m := ack.FindStringSubmatch(line); m != nil {
			pubacks = append(pubacks, atoi(t, m[1]))
		}
	}
	return published, pubacks
}

var lastStart = regexp.MustCompile(`mosquitto version \S+ starting`)

func atoi(t *testing.T, s string) int {
	t.Helper()
	v, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("mosquitto log: mid %q: %v", s, err)
	}
	return v
}

// firstDifference is the first index where a and b differ, -1 if equal.
func firstDifference(a, b []int) int {
	for i := range max(len(a), len(b)) {
		if i >= len(a) || i >= len(b) || a[i] != b[i] {
			return i
		}
	}
	return -1
}

func at(s []int, i int) string {
	if i < len(s) {
		return strconv.Itoa(s[i])
	}
	return "(none)"
}

// verboseMosquitto starts a real mosquitto that logs every packet to a
// file, and returns the file's path. The log's tail is printed if the
// test fails.
func verboseMosquitto(t *testing.T, inflight int, opts ...testenv.MosquittoOption) (*testenv.Mosquitto, string) {
	path := filepath.Join(t.TempDir(), "mosquitto.log")
	t.Cleanup(func() {
		if b, err := os.ReadFile(path); err == nil && t.Failed() {
			lines := strings.Split(string(b), "\n")
			t.Logf("--- mosquitto log file ---\n%s", strings.Join(lines[max(0, len(lines)-80):], "\n"))
		}
	})
	conf := fmt.Sprintf("max_inflight_messages %d\nlog_dest file %s\nlog_type all", inflight, path)
	return testenv.StartMosquitto(t, conf, opts...), path
}

// A connection that breaks while the spool refuses messages leaves them
// all unacknowledged; after the reconnect the broker sends them again and
// the PUBACKs of the new connection follow its PUBLISHes in order.
func TestPubacksInOrderAfterReconnect(t *testing.T) {
	const n, window = 100, 20
	broker, logPath := verboseMosquitto(t, window, testenv.WithPersistence())
	sink := &jitterSink{rnd: rand.New(rand.NewPCG(1, 2)), refusals: map[string]int{},
		slowEvery: 3, refuseEvery: 10, maxDelay: 3 * time.Millisecond}
	sink.full.Store(true)
	const id = "bridge-order-reconnect"
	s := startSub(t, options(broker.Addr, id, sink, "devices/#"))

	sent := numbered("r", n)
	publishLines(t, broker.Addr, "devices/a/sensors/t", sent)
	waitFor(t, "the in-flight window received and refused", func() bool {
		return received(s) == window && retries(s, "spool_full") >= window
	})
	broker.Stop()
	waitFor(t, "connection loss noticed", func() bool { return !s.Connected() })
	waitFor(t, "the refused messages given up", func() bool { return notAcked(s, "connection_lost") == window })
	if got := acked(s, "spooled"); got != 0 {
		t.Fatalf("acked %d messages the spool refused", got)
	}

	sink.full.Store(false)
	broker.Start(t)
	waitFor(t, "every message acknowledged after the reconnect", func() bool { return acked(s, "spooled") == n })
	var published, pubacks []int
	waitFor(t, "every PUBACK in mosquitto's log", func() bool {
		published, pubacks = mosquittoMids(t, logPath, id)
		return len(pubacks) >= n
	})
	if len(published) != n {
		t.Errorf("mosquitto sent %d PUBLISHes after its restart, want %d", len(published), n)
	}
	if i := firstDifference(published, pubacks); i >= 0 {
		t.Errorf("PUBACK %d of %d is for Mid %s, but the PUBLISH sent at that place was Mid %s",
			i, n, at(pubacks, i), at(published, i))
	}
	want := make([]string, n)
	for i, m := range sent {
		want[i] = "devices/a/sensors/t " + m
	}
	if got := sorted(unique(sink.Stored())); !slices.Equal(got, sorted(want)) {
		t.Errorf("sink stored %d distinct messages, want the %d sent", len(got), n)
	}
}
