package subscriber

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/mqflux/mqflux/flow/ingest"

	"github.com/mqflux/mqflux/internal/testenv"
)

// recordingSink stands in for the pipeline: it records what it was given
// and answers what decide says for the n-th call (from 0).
type recordingSink struct {
	mu     sync.Mutex
	calls  int
	stored []string // "topic payload" of every call that returned nil
	decide func(n int) error
}

func (s *recordingSink) Ingest(topic string, payload []byte, _ time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := s.calls
	s.calls++
	if s.decide != nil {
		if err := s.decide(n); err != nil {
			return err
		}
	}
	s.stored = append(s.stored, topic+" "+string(payload))
	return nil
}

func (s *recordingSink) Stored() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.stored...)
}

// publishLines publishes every line as one QoS 1 message with the real
// mosquitto_pub, which exits 0 only once the broker acknowledged them all.
func publishLines(t testing.TB, addr, topic string, lines []string) {
	t.Helper()
	if err := tryPublishLines(testenv.RequireCommand(t, "mosquitto_pub"), addr, topic, lines); err != nil {
		t.Fatal(err)
	}
}

// tryPublishLines is publishLines for a goroutine other than the test's.
func tryPublishLines(bin, addr, topic string, lines []string) error {
	host, port, _ := strings.Cut(addr, ":")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "-h", host, "-p", port, "-q", "1", "-t", topic, "-l")
	cmd.Stdin = strings.NewReader(strings.Join(lines, "\n") + "\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("mosquitto_pub -l to %s: %v: %s", topic, err, out)
	}
	return nil
}

func numbered(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%d", prefix, i)
	}
	return out
}

func options(addr, clientID string, sink ingest.Sink, filters ...string) Options {
	return Options{
		URL: "tcp://" + addr, ClientID: clientID, Filters: filters,
		KeepAlive: 30 * time.Second, MaxReconnect: time.Second,
		Sink: sink,
	}
}

// testLogger keeps the log in memory and prints it if the test failed
// (paho's callbacks may still log after the test returned).
func testLogger(t *testing.T) *slog.Logger {
	var b testenv.SyncBuffer
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("--- subscriber log ---\n%s", b.String())
		}
	})
	return slogTo(&b)
}

func slogTo(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// startSub starts a subscriber and stops it when the test ends.
func startSub(t *testing.T, o Options) *Subscriber {
	t.Helper()
	o.Logger = testLogger(t)
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := s.Start(ctx); err != nil {
		t.Fatalf("start subscriber %s: %v", o.ClientID, err)
	}
	t.Cleanup(s.Stop)
	return s
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testenv.WaitFor(t, 60*time.Second, what, cond)
}

func acked(s *Subscriber, result string) int {
	return int(testutil.ToFloat64(s.m.acked.WithLabelValues(result)))
}

func notAcked(s *Subscriber, reason string) int {
	return int(testutil.ToFloat64(s.m.notAcked.WithLabelValues(reason)))
}

func unique(s []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range s {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	return out
}

func sorted(s []string) []string {
	s = append([]string(nil), s...)
	slices.Sort(s)
	return s
}

func received(s *Subscriber) int { return int(testutil.ToFloat64(s.m.received)) }
func connects(s *Subscriber) int { return int(testutil.ToFloat64(s.m.connects)) }
func retries(s *Subscriber, reason string) int {
	return int(testutil.ToFloat64(s.m.retries.WithLabelValues(reason)))
}
