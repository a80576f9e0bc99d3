//go:build unix

package broker

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
	"golang.org/x/crypto/bcrypt"
)

// The first deliveries to new subscribers (BENCHMARKS.md, "Subscribers
// that stop reading"): each op connects fresh subscribers to devices/#,
// then publishers send a burst of QoS 1 readings over TCP and wait for
// every PUBACK. A stalled subscriber never reads after its SUBACK, so the
// burst fills its inflight window (max_inflight deliveries, written into
// its socket) and the rest is dropped; an offline one is a persistent
// session that left before the burst, so the burst fills its queue
// (max_offline_queue, stored in pebble). "none" is the same burst with no
// subscriber: the difference is what the first deliveries cost.
//
//	go test -run '^$' -bench FirstDeliveries -benchmem -count 5 ./broker/
func BenchmarkFirstDeliveries(b *testing.B) {
	const publishers, each = 4, 2048
	for _, tc := range []struct {
		name             string
		stalled, offline int
	}{
		{"none", 0, 0},
		{"stalled8", 8, 0},
		{"offline3", 0, 3},
	} {
		b.Run(tc.name, func(b *testing.B) {
			fb := startBenchBroker(b, DefaultConfig())
			fb.burst(b, publishers, each) // warm: connections, pools, the login cache
			b.ReportAllocs()
			b.ResetTimer()
			var cpu time.Duration // the process's CPU time in the bursts
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				var subs []net.Conn
				for j := 0; j < tc.stalled; j++ {
					subs = append(subs, fb.subscribe(b, fmt.Sprintf("stalled-%d-%d", i, j), true))
				}
				for j := 0; j < tc.offline; j++ {
					id := fmt.Sprintf("offline-%d-%d", i, j)
					fb.subscribe(b, id, false).Close()
					fb.waitGone(b, id, true)
				}
				b.StartTimer()
				before := cpuTime(b)
				fb.burst(b, publishers, each)
				cpu += cpuTime(b) - before
				b.StopTimer()
				for j, c := range subs {
					c.Close()
					fb.waitGone(b, fmt.Sprintf("stalled-%d-%d", i, j), false)
				}
				for j := 0; j < tc.offline; j++ { // a clean session ends the stored one
					fb.subscribe(b, fmt.Sprintf("offline-%d-%d", i, j), true).Close()
				}
				// mochi keeps a resumed client in its list of paused ones
				// for a second (stalled.go): the next op's subscribers are
				// new, as in a first run.
				time.Sleep(1200 * time.Millisecond)
				b.StartTimer()
			}
			b.ReportMetric(float64(cpu.Microseconds())/1e3/float64(b.N), "cpu-ms/op")
		})
	}
}

type benchBroker struct {
	b    *Broker
	addr string
	pass []byte
}

func startBenchBroker(tb testing.TB, c Config) *benchBroker {
	pass := []byte("bench-password")
	hash, err := bcrypt.GenerateFromPassword(pass, bcrypt.MinCost)
	if err != nil {
		tb.Fatal(err)
	}
	c.TCP = "127.0.0.1:0"
	c.Users = []User{{Name: "gw", PasswordHash: string(hash), Role: RoleGateway}, {Name: "reader", PasswordHash: string(hash), Role: RoleReader},
		{Name: "pi-1", PasswordHash: string(hash), Role: RoleDevice}}
	br, err := New(Options{Config: c, DataDir: tb.TempDir()})
	if err != nil {
		tb.Fatal(err)
	}
	if err := br.Serve(); err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = br.Close() })
	return &benchBroker{b: br, addr: br.listeners[0].Address(), pass: pass}
}

// dial connects as user with client id and waits for the CONNACK.
func (fb *benchBroker) dial(tb testing.TB, user, id string, clean bool) (net.Conn, *bufio.Reader) {
	c, err := net.Dial("tcp", fb.addr)
	if err != nil {
		tb.Fatal(err)
	}
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: 4,
		Connect: packets.ConnectParams{ProtocolName: []byte("MQTT"), ClientIdentifier: id, Clean: clean, Keepalive: 60,
			UsernameFlag: true, Username: []byte(user), PasswordFlag: true, Password: fb.pass}}
	writePacket(tb, c, pk.ConnectEncode)
	r := bufio.NewReader(c)
	if typ, body := readPacket(tb, r); typ != packets.Connack || body[1] != 0 {
		tb.Fatalf("connect %s: packet type %d, %x", id, typ, body)
	}
	return c, r
}

// subscribe connects a reader subscribed to devices/# at QoS 1 and returns
// its connection, never read again.
func (fb *benchBroker) subscribe(tb testing.TB, id string, clean bool) net.Conn {
	c, r := fb.dial(tb, "reader", id, clean)
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Subscribe, Qos: 1}, ProtocolVersion: 4, PacketID: 1,
		Filters: packets.Subscriptions{{Filter: "devices/#", Qos: 1}}}
	writePacket(tb, c, pk.SubscribeEncode)
	if typ, body := readPacket(tb, r); typ != packets.Suback || body[2] != 1 {
		tb.Fatalf("subscribe %s: packet type %d, %x", id, typ, body)
	}
	return c
}

// waitGone waits until the broker saw id's connection end (and, for a
// session that stays, until it is listed offline).
func (fb *benchBroker) waitGone(tb testing.TB, id string, stays bool) {
	deadline := time.Now().Add(time.Minute)
	for time.Now().Before(deadline) {
		cl, ok := fb.b.srv.Clients.Get(id)
		if (!ok && !stays) || (ok && stays && cl.Closed()) {
			return
		}
		time.Sleep(time.Millisecond)
	}
	tb.Fatalf("client %s still connected", id)
}

// burst publishes each QoS 1 readings from each of n gateways at once and
// returns when every one was acknowledged.
func (fb *benchBroker) burst(tb testing.TB, n, each int) {
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for p := 0; p < n; p++ {
		c, r := fb.dial(tb, "gw", fmt.Sprintf("gw-%d", p), true)
		var out bytes.Buffer
		for i := 0; i < each; i++ {
			pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}, ProtocolVersion: 4,
				PacketID: uint16(i%65535 + 1), TopicName: fmt.Sprintf("devices/gw-%d-%d/sensors/env", p, i%20),
				Payload: []byte(`{"temperature":21.5,"humidity":40.25}`)}
			if err := pk.PublishEncode(&out); err != nil {
				tb.Fatal(err)
			}
		}
		wg.Add(2)
		go func() { // the publisher sends all, the reader counts the PUBACKs
			defer wg.Done()
			if _, err := c.Write(out.Bytes()); err != nil {
				errs <- err
			}
		}()
		go func() {
			defer wg.Done()
			defer c.Close()
			for i := 0; i < each; i++ {
				var h [4]byte
				if _, err := io.ReadFull(r, h[:]); err != nil {
					errs <- fmt.Errorf("puback %d of %d: %w", i, each, err)
					return
				}
				if h[0]>>4 != packets.Puback {
					errs <- fmt.Errorf("packet type %d, want a PUBACK", h[0]>>4)
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		tb.Fatal(err)
	}
}

// cpuTime is the CPU time this process has used: on a busy machine it
// says more than the wall time.
func cpuTime(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func writePacket(tb testing.TB, c net.Conn, encode func(*bytes.Buffer) error) {
	var buf bytes.Buffer
	if err := encode(&buf); err != nil {
		tb.Fatal(err)
	}
	if _, err := c.Write(buf.Bytes()); err != nil {
		tb.Fatal(err)
	}
}

// readPacket reads one packet: its type and body.
func readPacket(tb testing.TB, r *bufio.Reader) (byte, []byte) {
	first, err := r.ReadByte()
	if err != nil {
		tb.Fatal(err)
	}
	n, mul := 0, 1
	for {
		c, err := r.ReadByte()
		if err != nil {
			tb.Fatal(err)
		}
		n += int(c&127) * mul
		if c < 128 {
			break
		}
		mul *= 128
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		tb.Fatal(err)
	}
	return first >> 4, body
}
