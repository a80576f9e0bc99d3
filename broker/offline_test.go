package broker

import (
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// pausedSessions builds a server with n persistent sessions subscribed to
// filters, gone, and with full queues, paused by the limit as a delivery
// would pause them.
func pausedSessions(t testing.TB, n int, filters ...packets.Subscription) (*offlineLimit, []*mqtt.Client) {
	srv := mqtt.New(nil)
	o := newOfflineLimit(1, srv, slog.New(slog.NewTextHandler(io.Discard, nil)))
	var cls []*mqtt.Client
	for i := range n {
		cl := pausedSession(t, srv, o, fmt.Sprintf("tail-%d", i), filters)
		if got := srv.Topics.Subscribers("devices/a/sensors/t"); len(got.Subscriptions) != 0 {
			t.Fatalf("%s: paused session still in the topic index: %v", cl.ID, got.Subscriptions)
		}
		cls = append(cls, cl)
	}
	return o, cls
}

// pausedSession adds to srv a persistent session id subscribed to
// filters, gone, with a full queue, and paused by o as a delivery would
// pause it.
func pausedSession(t testing.TB, srv *mqtt.Server, o *offlineLimit, id string, filters []packets.Subscription) *mqtt.Client {
	cl := srv.NewClient(nil, "t", id, false)
	for _, f := range filters {
		cl.State.Subscriptions.Add(f.Filter, f)
		srv.Topics.Subscribe(cl.ID, f)
	}
	cl.State.Inflight.Set(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, PacketID: 1})
	cl.Stop(nil)
	if o.admit(cl) {
		t.Fatalf("%s: a full queue admitted a delivery", cl.ID)
	}
	return cl
}

func reading(topic string, qos byte, origin string) packets.Packet {
	return packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: qos}, TopicName: topic, Origin: origin}
}

// Every publish a paused session would have queued is counted once per
// session, from many publishers at once (the devices' runners), and a
// session that comes back stops counting.
func TestOfflineLimitCountsPausedDrops(t *testing.T) {
	tests := []struct {
		name    string
		filters []packets.Subscription
		pk      packets.Packet
		want    int64 // per publish, over the three sessions tail-0, tail-1, tail-2
	}{
		{"match", []packets.Subscription{{Filter: "devices/#", Qos: 1}}, reading("devices/a/sensors/t", 1, "dev-a"), 3},
		{"overlapping filters count once", []packets.Subscription{{Filter: "devices/#", Qos: 1}, {Filter: "devices/+/sensors/t", Qos: 1}},
			reading("devices/a/sensors/t", 1, "dev-a"), 3},
		{"other topic", []packets.Subscription{{Filter: "devices/#", Qos: 1}}, reading("alerts/a", 1, "dev-a"), 0},
		{"qos 0 publish", []packets.Subscription{{Filter: "devices/#", Qos: 1}}, reading("devices/a/sensors/t", 0, "dev-a"), 0},
		{"qos 0 subscription", []packets.Subscription{{Filter: "devices/#", Qos: 0}}, reading("devices/a/sensors/t", 1, "dev-a"), 0},
		{"no local: not the session's own publish", []packets.Subscription{{Filter: "devices/#", Qos: 1, NoLocal: true}},
			reading("devices/a/sensors/t", 1, "tail-0"), 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			const sessions, publishers, each = 3, 8, 500
			o, cls := pausedSessions(t, sessions, tc.filters...)
			publish := func() {
				var wg sync.WaitGroup
				for range publishers {
					wg.Go(func() {
						for range each {
							o.published(tc.pk)
						}
					})
				}
				wg.Wait()
			}
			publish()
			want := tc.want * publishers * each
			if got := o.dropped.Load(); got != want {
				t.Fatalf("dropped %d, want %d", got, want)
			}
			for _, cl := range cls {
				o.ended(cl.ID)
			}
			publish()
			if got := o.dropped.Load(); got != want {
				t.Fatalf("after the sessions came back: dropped %d, want still %d", got, want)
			}
		})
	}
}

// The per-publish cost of the drop count with three paused sessions,
// publishers on every core (go test -bench OfflinePublished -cpu 2,8).
func BenchmarkOfflinePublished(b *testing.B) {
	o, _ := pausedSessions(b, 3, packets.Subscription{Filter: "devices/#", Qos: 1})
	pk := reading("devices/dev-0001/sensors/telemetry", 1, "dev-0001")
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			o.published(pk)
		}
	})
}

// Sessions with the same filters are matched once for all of them, and
// counted each; sessions with other filters, or a no-local one, are
// matched on their own.
func TestOfflineLimitGroupsSessionsByFilters(t *testing.T) {
	all := packets.Subscription{Filter: "devices/#", Qos: 1}
	sensors := packets.Subscription{Filter: "devices/+/sensors/t", Qos: 1}
	status := packets.Subscription{Filter: "devices/+/status", Qos: 2}
	quiet := packets.Subscription{Filter: "devices/+/status", Qos: 0}
	sessions := [][]packets.Subscription{
		{all}, {all}, // one group of two
		{sensors, status}, {status, sensors}, // the same filters in another order: one group
		{sensors, quiet}, // its QoS 0 filter queues nothing
		{{Filter: "devices/#", Qos: 1, NoLocal: true}}, // tail-5: on its own
	}
	srv := mqtt.New(nil)
	o := newOfflineLimit(1, srv, slog.New(slog.NewTextHandler(io.Discard, nil)))
	for i, subs := range sessions {
		pausedSession(t, srv, o, fmt.Sprintf("tail-%d", i), subs)
	}
	if got := len(*o.sessions.Load()); got != 4 {
		t.Errorf("%d groups of paused sessions, want 4 (devices/#; sensors+status; sensors; tail-5)", got)
	}
	for _, tc := range []struct {
		pk   packets.Packet
		want int64
	}{
		{reading("devices/a/sensors/t", 1, "dev-a"), 6},
		{reading("devices/a/status", 1, "dev-a"), 5},
		{reading("devices/a/status", 1, "tail-5"), 4},
		{reading("devices/a/other", 1, "dev-a"), 3},
		{reading("alerts/a", 1, "dev-a"), 0},
	} {
		before := o.dropped.Load()
		o.published(tc.pk)
		if got := o.dropped.Load() - before; got != tc.want {
			t.Errorf("%s from %s: counted %d drops, want %d", tc.pk.TopicName, tc.pk.Origin, got, tc.want)
		}
	}
}
