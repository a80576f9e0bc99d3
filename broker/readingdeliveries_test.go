//go:build unix

package broker

import (
	"fmt"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqflux/mqflux/internal/testenv"
)

// Deliveries to subscribers that read and acknowledge (BENCHMARKS.md,
// "Deliveries to subscribers that read"): n real mosquitto_sub processes
// subscribed to devices/# at QoS 1 stay connected for the whole run; each op
// is a burst of QoS 1 readings from 4 gateways, then the wait until every
// subscriber has acknowledged (or lost) all it was sent. The subscribers run
// in processes of their own, so cpu-µs/delivery is this process's CPU (the
// broker's, and the gateways' test clients') over the deliveries made.
// With the default windows (1,024) a burst outruns the subscribers and
// part of it is dropped (counted, as "dropped"), and how much varies from
// run to run; reading8-nodrop gives the windows room for a whole burst.
//
//	go test -run '^$' -bench ReadingDeliveries -benchmem -count 5 ./broker/
func BenchmarkReadingDeliveries(b *testing.B) {
	const publishers, each = 4, 2048
	bin := testenv.RequireCommand(b, "mosquitto_sub")
	for _, tc := range []struct {
		name   string
		n      int
		window int // max_inflight and max_queued; 0: the defaults
	}{
		{"reading0", 0, 0},
		{"reading8", 8, 0},
		// A window as large as a burst: nothing is dropped, so every op
		// makes the same deliveries and runs compare directly.
		{"reading8-nodrop", 8, publishers * each},
	} {
		n := tc.n
		b.Run(tc.name, func(b *testing.B) {
			c := DefaultConfig()
			if tc.window > 0 {
				c.MaxInflight, c.MaxQueued = tc.window, tc.window
			}
			fb := startBenchBroker(b, c)
			host, port, _ := strings.Cut(fb.addr, ":")
			var ids []string
			for i := 0; i < n; i++ {
				id := fmt.Sprintf("reading-%d", i)
				cmd := exec.Command(bin, "-h", host, "-p", port, "-u", "reader", "-P", string(fb.pass),
					"-i", id, "-q", "1", "-t", "devices/#") // its output goes to /dev/null
				if err := cmd.Start(); err != nil {
					b.Fatalf("start mosquitto_sub: %v", err)
				}
				b.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
				ids = append(ids, id)
			}
			for _, id := range ids {
				fb.waitSubscribed(b, id)
			}
			fb.burst(b, publishers, each) // warm: connections, pools, the login cache
			fb.waitDelivered(b, ids)
			info := fb.b.srv.Info
			sent0, dropped0 := atomic.LoadInt64(&info.MessagesSent), fb.drops()
			b.ReportAllocs()
			b.ResetTimer()
			var cpu time.Duration
			for i := 0; i < b.N; i++ {
				before := cpuTime(b)
				fb.burst(b, publishers, each)
				fb.waitDelivered(b, ids)
				cpu += cpuTime(b) - before
			}
			b.StopTimer()
			sent, dropped := atomic.LoadInt64(&info.MessagesSent)-sent0, fb.drops()-dropped0
			b.ReportMetric(float64(cpu.Microseconds())/1e3/float64(b.N), "cpu-ms/op")
			if sent > 0 {
				b.ReportMetric(float64(cpu.Nanoseconds())/1e3/float64(sent), "cpu-µs/delivery")
				b.ReportMetric(float64(sent)/float64(b.N*publishers*each*n), "delivered")
			}
			if n > 0 {
				b.ReportMetric(float64(dropped)/float64(b.N*publishers*each*n), "dropped")
			}
		})
	}
}

// drops is how many deliveries the broker dropped.
func (fb *benchBroker) drops() int64 {
	info := fb.b.srv.Info
	return atomic.LoadInt64(&info.MessagesDropped) + atomic.LoadInt64(&info.InflightDropped)
}

// waitSubscribed waits until client id holds a subscription.
func (fb *benchBroker) waitSubscribed(tb testing.TB, id string) {
	testenv.WaitFor(tb, time.Minute, "subscriber "+id, func() bool {
		cl, ok := fb.b.srv.Clients.Get(id)
		return ok && len(cl.State.Subscriptions.GetAll()) > 0
	})
}

// waitDelivered waits until each client of ids has nothing in flight:
// every QoS 1 delivery is in flight from when it is queued for writing
// until it is acknowledged.
func (fb *benchBroker) waitDelivered(tb testing.TB, ids []string) {
	testenv.WaitFor(tb, time.Minute, "subscribers acknowledging", func() bool {
		for _, id := range ids {
			cl, ok := fb.b.srv.Clients.Get(id)
			if !ok {
				tb.Fatalf("subscriber %s gone", id)
			}
			if cl.State.Inflight.Len() > 0 {
				return false
			}
		}
		return true
	})
}
