package bench

import (
	"slices"
	"testing"
	"time"

	"github.com/mqflux/mqflux/internal/testenv"
)

// waitFor polls cond until it holds or a generous deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testenv.WaitFor(t, 20*time.Second, what, cond)
}

// startSubscriber starts mosquitto_sub -v -q 1 on filter, collecting
// "topic payload" lines, and returns once its subscription is live.
func startSubscriber(t *testing.T, addr, filter string) *testenv.Sub {
	t.Helper()
	s := testenv.Subscribe(t, addr, testenv.Login{}, filter, "-q", "1", "-t", "ready/#")
	// The subscription is live once a marker published after it arrives.
	waitFor(t, "mosquitto_sub to subscribe", func() bool {
		if out, err := testenv.Pub(t, addr, testenv.Login{}, "ready/x", "ready"); err != nil {
			t.Logf("mosquitto_pub: %v %s", err, out)
		}
		return slices.Contains(s.Lines(), "ready/x ready")
	})
	return s
}
