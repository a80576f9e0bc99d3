package subscriber

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mqflux/mqflux/flow/ingest"
	"github.com/mqflux/mqflux/internal/testenv"
)

// Each answer of the sink leads to the acknowledgements the contract asks
// for, against a real mosquitto. Acknowledged means gone from the broker:
// a second subscriber on the same persistent session then receives only a
// marker published afterwards, never one of the earlier messages again.
func TestAcknowledgement(t *testing.T) {
	const n = 20
	cases := []struct {
		name       string
		topic      string
		decide     func(call int) error
		wantResult string // acked label every message ends under
		wantStored int    // distinct messages the sink stored
	}{
		{"spooled", "devices/a/sensors/t", nil, "spooled", n},
		{"spool full for a while", "devices/a/sensors/t", func(c int) error {
			if c < 15 {
				return ingest.ErrFull
			}
			return nil
		}, "spooled", n},
		{"spool write failing for a while", "devices/a/sensors/t", func(c int) error {
			if c < 5 {
				return errors.New("write spool: no space left on device")
			}
			return nil
		}, "spooled", n},
		{"rejected and dead-lettered", "devices/a/sensors/t", func(int) error {
			return &ingest.RejectError{Reason: "bad_json", Detail: "byte 1"}
		}, "rejected", 0},
		{"topic no mapping wants", "other/a", nil, "ignored_topic", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			broker := testenv.StartMosquitto(t, "")
			sink := &recordingSink{decide: tc.decide}
			o := options(broker.Addr, "bridge-ack", sink, "devices/#", "other/#")
			o.Wants = func(topic string) bool { return strings.HasPrefix(topic, "devices/") }
			first := startSub(t, o)

			sent := numbered("m", n)
			publishLines(t, broker.Addr, tc.topic, sent)
			waitFor(t, "every message acknowledged", func() bool { return acked(first, tc.wantResult) == n })

			var want []string
			for _, m := range sent[:tc.wantStored] {
				want = append(want, tc.topic+" "+m)
			}
			if got := sorted(unique(sink.Stored())); !slices.Equal(got, sorted(want)) {
				t.Errorf("sink stored %q, want %q", got, sorted(want))
			}
			if got := int(received(first)); got != n {
				t.Errorf("received %d messages, want %d", got, n)
			}
			first.Stop()

			publishLines(t, broker.Addr, "devices/a/sensors/marker", []string{"marker"})
			again := &recordingSink{}
			second := startSub(t, options(broker.Addr, "bridge-ack", again, "devices/#", "other/#"))
			waitFor(t, "marker delivered", func() bool { return len(again.Stored()) > 0 })
			if got := again.Stored(); !slices.Equal(got, []string{"devices/a/sensors/marker marker"}) {
				t.Errorf("the persistent session redelivered %q; want only the marker", got)
			}
			second.Stop()
		})
	}
}

// Messages the spool never took stay unacknowledged: the broker hands them
// to the same session again after the bridge restarts.
func TestUnacknowledgedMessagesAreRedelivered(t *testing.T) {
	broker := testenv.StartMosquitto(t, "")
	full := &recordingSink{decide: func(int) error { return ingest.ErrFull }}
	first := startSub(t, options(broker.Addr, "bridge-redeliver", full, "devices/#"))
	sent := numbered("r", 5)
	publishLines(t, broker.Addr, "devices/b/sensors/t", sent)
	waitFor(t, "all received and retried", func() bool {
		return received(first) == 5 && retries(first, "spool_full") >= 5
	})
	first.Stop()
	if got := notAcked(first, "shutdown"); got != 5 {
		t.Errorf("not acked at shutdown: %d, want 5", got)
	}
	if got := acked(first, "spooled"); got != 0 {
		t.Errorf("acked %d messages the spool never took", got)
	}

	ok := &recordingSink{}
	startSub(t, options(broker.Addr, "bridge-redeliver", ok, "devices/#"))
	waitFor(t, "all redelivered", func() bool { return len(unique(ok.Stored())) == 5 })
	var want []string
	for _, m := range sent {
		want = append(want, "devices/b/sensors/t "+m)
	}
	if got := sorted(unique(ok.Stored())); !slices.Equal(got, want) {
		t.Errorf("redelivered %q, want %q", got, want)
	}
}

// A broker that restarted without its sessions gets the subscriptions
// again: messages published after the reconnect arrive.
func TestResubscribesAfterBrokerRestart(t *testing.T) {
	broker := testenv.StartMosquitto(t, "")
	sink := &recordingSink{}
	s := startSub(t, options(broker.Addr, "bridge-restart", sink, "$share/mqflux/devices/#"))
	publishLines(t, broker.Addr, "devices/c/sensors/t", []string{"before"})
	waitFor(t, "message before the restart", func() bool { return len(sink.Stored()) == 1 })

	broker.Stop()
	waitFor(t, "connection loss noticed", func() bool { return !s.Connected() })
	broker.Start(t)
	waitFor(t, "reconnected", func() bool { return s.Connected() && connects(s) >= 2 })

	// The new broker has no session: until the subscription is back a
	// message reaches nobody, so publish until one arrives.
	for i := 0; len(sink.Stored()) < 2; i++ {
		if i == 300 {
			t.Fatalf("nothing published after the restart arrived; stored %q", sink.Stored())
		}
		publishLines(t, broker.Addr, "devices/c/sensors/t", []string{"after"})
		time.Sleep(100 * time.Millisecond)
	}
	if got := sink.Stored(); got[0] != "devices/c/sensors/t before" || got[1] != "devices/c/sensors/t after" {
		t.Errorf("stored %q", got)
	}
}

// A broker that refuses the connection is an error at start, not a quiet
// retry loop.
func TestRefusedConnectionFailsStart(t *testing.T) {
	broker := testenv.StartMosquitto(t, "allow_anonymous false")
	o := options(broker.Addr, "bridge-refused", &recordingSink{}, "devices/#")
	o.Logger = testLogger(t)
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err = s.Start(ctx)
	s.Stop()
	if err == nil || ctx.Err() != nil || !strings.Contains(err.Error(), "refused") || !strings.Contains(err.Error(), "bridge-refused") {
		t.Fatalf("Start = %v, want a refusal naming the client id", err)
	}
}

func TestCheckFilter(t *testing.T) {
	cases := []struct {
		filter string
		ok     bool
	}{
		{"devices/#", true},
		{"devices/+/sensors/+", true},
		{"$share/mqflux/devices/#", true},
		{"#", true},
		{"", false},
		{"devices/#/x", false},
		{"devices/a#", false},
		{"devices/+x/y", false},
		{"$share/mqflux", false},
		{"$share//devices/#", false},
		{"$share/g+/devices/#", false},
	}
	for _, tc := range cases {
		err := checkFilter(tc.filter)
		if (err == nil) != tc.ok {
			t.Errorf("checkFilter(%q) = %v, want ok=%v", tc.filter, err, tc.ok)
		}
	}
}
