package e2e

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/mqflux/mqflux/bench/mqttwire"
	"github.com/mqflux/mqflux/internal/testenv"
)

// Clients that stop reading with their connection open (a laptop asleep
// with mosquitto_sub tailing devices/#) cost only their own deliveries:
// beyond what their queue and socket hold, deliveries to them are dropped
// and counted, and every publisher gets all its PUBACKs, each acknowledged
// reading stored exactly once. Each case publishes 20 devices x 2,000
// readings three times, as the user who found it did; before the fix, the
// runners waited for the stalled subscriber's socket, and no publisher got
// a PUBACK until the broker gave up on the subscriber's keepalive (here
// 15 minutes).
func TestStalledSubscribers(t *testing.T) {
	in := testenv.StartInflux(t, testenv.WithoutFlux())
	for _, c := range []struct {
		name   string
		subs   int
		extra  []string // mosquitto_sub flags
		ws     bool     // a raw WebSocket subscriber instead
		rounds int
	}{
		{name: "one qos1", subs: 1, extra: []string{"-q", "1"}, rounds: 3},
		{name: "eight qos1", subs: 8, extra: []string{"-q", "1"}, rounds: 2},
		{name: "qos0", subs: 1, extra: []string{"-q", "0"}, rounds: 2},
		{name: "qos2", subs: 1, extra: []string{"-q", "2"}, rounds: 2},
		{name: "persistent", subs: 1, extra: []string{"-q", "1", "-c", "-i", "stalled-persistent"}, rounds: 2},
		{name: "websocket", subs: 1, ws: true, rounds: 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			wsAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
			srv := testenv.StartServer(t, testenv.ServerOptions{Influx: in, Env: []string{
				"MQFLUX_BROKER_WEBSOCKET=" + wsAddr}})
			for i := range c.subs {
				if c.ws {
					s := dialStalled(t, wsAddr, true, fmt.Sprintf("stalled-ws-%d", i), testenv.DemoReader, 900, nil)
					if err := s.subscribe("devices/#", 1); err != nil {
						t.Fatal(err)
					}
					continue
				}
				// A keepalive far beyond the test: the broker must not
				// need it to be rid of a subscriber that stopped reading.
				extra := append([]string{"-k", "900"}, c.extra...)
				sub := testenv.Subscribe(t, srv.MQTT, testenv.DemoReader, "devices/#", extra...)
				// Runs before Subscribe's cleanup, which needs a running process.
				t.Cleanup(func() { _ = sub.Signal(syscall.SIGCONT) })
				waitFor(t, 30*time.Second, "mosquitto_sub subscribed", func() bool {
					return strings.Count(srv.Log(), "subscribed") > i
				})
				if err := sub.Signal(syscall.SIGSTOP); err != nil {
					t.Fatal(err)
				}
			}
			for r := range c.rounds {
				cfg := gatewayLoad(t, srv, 20, 2000)
				cfg.Measurement = fmt.Sprintf("%s_r%d", measurementFor(t), r)
				startLoad(t, cfg).finish(t, 3*time.Minute)
				waitStored(t, in, cfg.Measurement, 20*2000, 2*time.Minute)
				checkStored(t, in, cfg.Measurement, cfg.Ledger)
			}
			if n := metric(t, srv, "mqflux_mqtt_messages_dropped_total"); n == 0 {
				t.Errorf("mqflux_mqtt_messages_dropped_total is 0: the stalled subscriber took everything")
			}
			// A warning when a client starts losing deliveries, not one per
			// dropped delivery (a subscriber may catch up between rounds,
			// while its socket still takes some).
			srv.WaitLog(t, "client is not taking its deliveries")
			if n := strings.Count(srv.Log(), "client is not taking its deliveries"); n > c.subs*c.rounds {
				t.Errorf("%d warnings about clients not taking their deliveries, want at most %d", n, c.subs*c.rounds)
			}
		})
	}
}

// A subscriber that stops reading before it acknowledges anything holds
// its initial window (broker.initial_inflight), not max_inflight: eight of
// them filling 1,024 each had cost the publishers' next run a quarter of
// its rate. A subscriber beside it that reads gets the whole burst, its
// window widening with its acknowledgements, and ends with nothing in
// flight.
func TestStalledSubscriberHoldsItsInitialWindow(t *testing.T) {
	in := testenv.StartInflux(t, testenv.WithoutFlux())
	for _, initial := range []int{256, 100} {
		t.Run(fmt.Sprint(initial), func(t *testing.T) {
			srv := testenv.StartServer(t, testenv.ServerOptions{Influx: in, Env: []string{
				fmt.Sprintf("MQFLUX_BROKER_INITIAL_INFLIGHT=%d", initial)}})
			stalled := testenv.Subscribe(t, srv.MQTT, testenv.DemoReader, "devices/#", "-k", "900", "-q", "1", "-i", "asleep")
			t.Cleanup(func() { _ = stalled.Signal(syscall.SIGCONT) })
			srv.WaitLog(t, "subscribed", "asleep")
			if err := stalled.Signal(syscall.SIGSTOP); err != nil {
				t.Fatal(err)
			}
			reader := testenv.Subscribe(t, srv.MQTT, testenv.DemoReader, "devices/#", "-q", "1", "-i", "awake")
			srv.WaitLog(t, "subscribed", "awake")

			const devices, each = 4, 500
			cfg := gatewayLoad(t, srv, devices, each)
			startLoad(t, cfg).finish(t, 3*time.Minute)
			waitStored(t, in, cfg.Measurement, devices*each, 2*time.Minute)
			waitFor(t, 30*time.Second, "the stalled subscriber's window, and nothing in flight to the reader", func() bool {
				return metric(t, srv, "mqflux_mqtt_inflight_messages") == float64(initial)
			})
			if n := metric(t, srv, "mqflux_mqtt_messages_dropped_total", `reason="inflight_full"`); n < float64(devices*each-initial) {
				t.Errorf("%v deliveries dropped for a full window, want at least %d (all but the stalled subscriber's first %d)", n, devices*each-initial, initial)
			}
			t.Logf("the reader received %d of %d", len(reader.Lines()), devices*each)
		})
	}
}

// A subscriber that stopped reading and lost deliveries gets new ones
// again once it reads: woken with SIGCONT, mosquitto_sub reads its backlog
// and acknowledges it, and a reading published after that reaches it. The
// broker takes a client that loses every delivery out of its subscriber
// lookup while it does (PATCHES.md, "A client that loses every delivery
// leaves the subscriber lookup"); this is the way back.
func TestStalledSubscriberReadsAgain(t *testing.T) {
	in := testenv.StartInflux(t, testenv.WithoutFlux())
	srv := testenv.StartServer(t, testenv.ServerOptions{Influx: in})
	sub := testenv.Subscribe(t, srv.MQTT, testenv.DemoReader, "devices/#", "-k", "900", "-q", "1")
	t.Cleanup(func() { _ = sub.Signal(syscall.SIGCONT) })
	srv.WaitLog(t, "subscribed", "demo-reader")
	if err := sub.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	cfg := gatewayLoad(t, srv, 20, 2000)
	startLoad(t, cfg).finish(t, 3*time.Minute)
	if n := metric(t, srv, "mqflux_mqtt_messages_dropped_total"); n == 0 {
		t.Fatal("mqflux_mqtt_messages_dropped_total is 0: the stalled subscriber took everything")
	}
	srv.WaitLog(t, "client is not taking its deliveries")

	if err := sub.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	// Each marker is published after SIGCONT; the first ones may still
	// find the subscriber catching up on its backlog.
	const markerTopic = "devices/woken/sensors/check"
	waitFor(t, 2*time.Minute, "a reading published after SIGCONT reaches the woken subscriber", func() bool {
		for _, l := range sub.Lines() {
			if strings.HasPrefix(l, markerTopic+" ") {
				return true
			}
		}
		if out, err := testenv.Pub(t, srv.MQTT, testenv.DemoGateway, markerTopic, `{"value": 1}`, "-q", "1"); err != nil {
			t.Fatalf("mosquitto_pub: %v: %s", err, out)
		}
		return false
	})
}

// A client whose socket takes nothing for broker.write_timeout is
// disconnected like any lost client: its will is sent. It set no keep
// alive, so nothing else would ever end its connection.
func TestWriteTimeoutDisconnectsAndSendsTheWill(t *testing.T) {
	in := testenv.StartInflux(t, testenv.WithoutFlux())
	srv := testenv.StartServer(t, testenv.ServerOptions{Influx: in, Env: []string{
		"MQFLUX_BROKER_WRITE_TIMEOUT=2s"}})
	const willTopic = "devices/demo-admin/status"
	watch := testenv.Subscribe(t, srv.MQTT, testenv.DemoReader, willTopic, "-q", "1")
	srv.WaitLog(t, "subscribed", "demo-reader")

	s := dialStalled(t, srv.MQTT, false, "stalled-with-will", testenv.DemoAdmin, 0, &will{topic: willTopic, payload: "offline"})
	// QoS 0: what fills its socket is not bounded by max_inflight.
	if err := s.subscribe("devices/#", 0); err != nil {
		t.Fatal(err)
	}
	cfg := gatewayLoad(t, srv, 20, 2000)
	startLoad(t, cfg).finish(t, 3*time.Minute)
	waitStored(t, in, cfg.Measurement, 20*2000, 2*time.Minute)
	checkStored(t, in, cfg.Measurement, cfg.Ledger)

	lines := watch.WaitLines(t, 1, 2*time.Minute)
	if lines[0] != willTopic+" offline" {
		t.Errorf("watcher got %q, want the will %q", lines[0], willTopic+" offline")
	}
	srv.WaitLog(t, "write_timeout")
}

// 40 clients that publish QoS 1 and never read their PUBACKs (28 over
// WebSocket, 12 over TCP) hold no runner: an honest device beside them
// gets every PUBACK, and each of its readings is stored exactly once. The
// broker keeps at most 16 KiB of answers unsent per connection
// (TCP_NOTSENT_LOWAT), so each of them is stopped after a few thousand
// PUBACKs: its next answers wait on its own goroutine, which reads
// nothing more from it, and its writes stall. write_timeout is an hour,
// so a runner that waited on one of those sockets would wait for the
// whole test: were the answers written on the runner that handled the
// publishes (as WebSocket PUBACKs once were), eight such clients would
// hold every runner (the test runs eight) and the honest device would get
// no PUBACK.
func TestPublishersThatNeverReadLeaveAnHonestDevice(t *testing.T) {
	in := testenv.StartInflux(t, testenv.WithoutFlux())
	wsAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	srv := testenv.StartServer(t, testenv.ServerOptions{Influx: in, Env: []string{
		"MQFLUX_BROKER_WEBSOCKET=" + wsAddr,
		"MQFLUX_BROKER_WRITE_TIMEOUT=1h",
		// Eight runners: eight clients that held one each would stop
		// every publisher.
		"MQFLUX_BROKER_RUNNERS=8",
		// Their readings are acknowledged and not stored: what they cost
		// is the broker's alone.
		`MQFLUX_MAPPING_TOPICS=[{template: "devices/{device}/sensors/{measurement}", format: auto}, {template: "devices/{device}/junk", ignore: true}]`,
	}})
	const nWS, nTCP = 28, 12
	var stuck atomic.Int32
	var wg sync.WaitGroup
	stop := make(chan struct{})
	defer func() { close(stop); wg.Wait() }()
	for i := range nWS + nTCP {
		ws, addr := i < nWS, srv.MQTT
		if ws {
			addr = wsAddr
		}
		// No keepalive: nothing but the write timeout ends them.
		s := dialStalled(t, addr, ws, fmt.Sprintf("never-reads-%d", i), testenv.DemoGateway, 0, nil)
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.publishUntilStuck(fmt.Sprintf("devices/nr-%d/junk", i), stop)
			stuck.Add(1)
		}()
	}
	waitFor(t, 3*time.Minute, "every never-reading publisher stuck", func() bool { return stuck.Load() == nWS+nTCP })

	cfg := gatewayLoad(t, srv, 1, 2000)
	startLoad(t, cfg).finish(t, 3*time.Minute)
	waitStored(t, in, cfg.Measurement, 2000, 2*time.Minute)
	checkStored(t, in, cfg.Measurement, cfg.Ledger)
}

// stalledClient is a raw MQTT 3.1.1 client over TCP or WebSocket with a
// small receive buffer, which reads only its CONNACK and SUBACK.
type stalledClient struct {
	conn rawStream
	r    *mqttwire.Reader
}

// rawStream is a TCP connection or a WebSocket one.
type rawStream interface {
	io.ReadWriteCloser
	SetReadDeadline(time.Time) error
	SetWriteDeadline(time.Time) error
}

type will struct{ topic, payload string }

// The packet types the load tool's wire package has no names for.
const (
	subscribePacket mqttwire.Type = 8
	subackPacket    mqttwire.Type = 9
)

// smallReceiveBuffer makes a client's socket fill after a few KiB.
func smallReceiveBuffer(_, _ string, c syscall.RawConn) error {
	var err error
	if cerr := c.Control(func(fd uintptr) {
		err = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4096)
	}); cerr != nil {
		return cerr
	}
	return err
}

// dialStalled connects to addr as l (keepalive in seconds, 0 for none).
func dialStalled(t *testing.T, addr string, ws bool, clientID string, l testenv.Login, keepalive uint16, w *will) *stalledClient {
	t.Helper()
	s, err := tryDialStalled(addr, ws, clientID, l, keepalive, w)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.conn.Close() })
	return s
}

// tryDialStalled is dialStalled for goroutines other than the test's.
func tryDialStalled(addr string, ws bool, clientID string, l testenv.Login, keepalive uint16, w *will) (*stalledClient, error) {
	d := &net.Dialer{Timeout: 10 * time.Second, Control: smallReceiveBuffer}
	var conn rawStream
	if ws {
		wd := websocket.Dialer{NetDial: d.Dial, Subprotocols: []string{"mqtt"}, HandshakeTimeout: 10 * time.Second}
		c, resp, err := wd.Dial("ws://"+addr+"/", http.Header{})
		if err != nil {
			return nil, fmt.Errorf("dial ws://%s: %w", addr, err)
		}
		resp.Body.Close()
		conn = &wsStream{c: c}
	} else {
		c, err := d.Dial("tcp", addr)
		if err != nil {
			return nil, fmt.Errorf("dial %s: %w", addr, err)
		}
		conn = c.(*net.TCPConn)
	}
	s := &stalledClient{conn: conn, r: mqttwire.NewReader(conn, 1<<20)}

	flags := byte(0x80 | 0x40 | 0x02) // user, password, clean session
	if w != nil {
		flags |= 0x04 // will, QoS 0
	}
	body := appendStr(nil, "MQTT")
	body = append(body, 4, flags, byte(keepalive>>8), byte(keepalive))
	body = appendStr(body, clientID)
	if w != nil {
		body = appendStr(body, w.topic)
		body = appendStr(body, w.payload)
	}
	body = appendStr(body, l.User)
	body = appendStr(body, l.Password)
	if err := s.send(mqttwire.CONNECT, 0, body); err != nil {
		conn.Close()
		return nil, err
	}
	p, err := s.next(mqttwire.CONNACK)
	if err != nil || len(p.Body) < 2 || p.Body[1] != 0 {
		conn.Close()
		return nil, fmt.Errorf("CONNECT %s as %s: %v, answer % x", clientID, l.User, err, p.Body)
	}
	return s, nil
}

// stalledSubscribers: n subscribers to devices/# at QoS 1 over TCP and n
// over WebSocket that read nothing after their SUBACK, as a laptop asleep
// with its connection open, each until the server closes it or the test
// ends.
func stalledSubscribers(a *attackers, addr, wsAddr string, n int) {
	a.loop(2*n, func(i int) {
		ws, at := i%2 == 1, addr
		if ws {
			at = wsAddr
		}
		s, err := tryDialStalled(at, ws, fmt.Sprintf("stalled-%d", i), exposedReader, 60, nil)
		if err != nil {
			a.pause()
			return
		}
		defer s.conn.Close()
		if err := s.subscribe("devices/#", 1); err != nil {
			a.pause()
			return
		}
		a.log.made1("stalled subscriber")
		<-a.ctx.Done()
	})
}

func (s *stalledClient) send(typ mqttwire.Type, flags byte, body []byte) error {
	pkt, err := mqttwire.AppendRemainingLength([]byte{byte(typ)<<4 | flags}, len(body))
	if err != nil {
		return err
	}
	_, err = s.conn.Write(append(pkt, body...))
	return err
}

// next reads packets until one of type typ.
func (s *stalledClient) next(typ mqttwire.Type) (mqttwire.Packet, error) {
	_ = s.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		p, err := s.r.Next()
		if err != nil || p.Type == typ {
			return p, err
		}
	}
}

// subscribe subscribes and waits for the SUBACK; after it the client reads
// nothing more.
func (s *stalledClient) subscribe(filter string, qos byte) error {
	body := append([]byte{0, 1}, appendStr(nil, filter)...)
	body = append(body, qos)
	if err := s.send(subscribePacket, 0x02, body); err != nil {
		return err
	}
	p, err := s.next(subackPacket)
	if err != nil {
		return fmt.Errorf("SUBACK for %s: %w", filter, err)
	}
	if len(p.Body) < 3 || p.Body[2] > 2 {
		return fmt.Errorf("SUBACK for %s: % x", filter, p.Body)
	}
	return nil
}

// publishUntilStuck publishes QoS 1 readings in batches, reading nothing,
// until a batch cannot be written within 10 s (the broker stopped reading
// it, not just paused on a busy machine) or the connection fails.
func (s *stalledClient) publishUntilStuck(topic string, stop <-chan struct{}) {
	var batch []byte
	for id := 1; id <= 200; id++ {
		body := appendStr(nil, topic)
		body = append(body, byte(id>>8), byte(id), '1')
		pkt, _ := mqttwire.AppendRemainingLength([]byte{byte(mqttwire.PUBLISH)<<4 | 0x02}, len(body))
		batch = append(batch, append(pkt, body...)...)
	}
	for {
		select {
		case <-stop:
			return
		default:
		}
		_ = s.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
		if _, err := s.conn.Write(batch); err != nil {
			return
		}
	}
}

// wsStream is a WebSocket connection as a byte stream: each write one
// binary message, reads across messages.
type wsStream struct {
	c *websocket.Conn
	r io.Reader
}

func (w *wsStream) Read(p []byte) (int, error) {
	for {
		if w.r == nil {
			_, r, err := w.c.NextReader()
			if err != nil {
				return 0, err
			}
			w.r = r
		}
		n, err := w.r.Read(p)
		if errors.Is(err, io.EOF) {
			w.r = nil
			if n == 0 {
				continue
			}
			err = nil
		}
		return n, err
	}
}

func (w *wsStream) Write(p []byte) (int, error) {
	if err := w.c.WriteMessage(websocket.BinaryMessage, p); err != nil {
		return 0, err
	}
	return len(p), nil
}

func (w *wsStream) Close() error                       { return w.c.Close() }
func (w *wsStream) SetReadDeadline(t time.Time) error  { return w.c.SetReadDeadline(t) }
func (w *wsStream) SetWriteDeadline(t time.Time) error { return w.c.SetWriteDeadline(t) }
