package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqflux/mqflux/bench/mqttwire"
	"github.com/mqflux/mqflux/internal/testenv"
)

// attackLog is what the attackers of TestAllAttacksAtOnce saw: how often
// each attack was made, and anything the server let through that it must
// not have. Attackers run on goroutines of their own, which may not fail
// the test; the test reads this once they have stopped.
type attackLog struct {
	mu       sync.Mutex
	made     map[string]int
	breaches []string
}

func (l *attackLog) made1(attack string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.made[attack]++
}

func (l *attackLog) breach(format string, args ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.breaches) < 20 {
		l.breaches = append(l.breaches, fmt.Sprintf(format, args...))
	}
}

// attackers starts each attack on goroutines of its own; stop ends them
// all and waits.
type attackers struct {
	ctx  context.Context
	wg   sync.WaitGroup
	log  *attackLog
	stop context.CancelFunc
}

func newAttackers() *attackers {
	ctx, stop := context.WithCancel(context.Background())
	return &attackers{ctx: ctx, stop: stop, log: &attackLog{made: map[string]int{}}}
}

// loop runs attack n times in parallel until stopped; i is which one.
func (a *attackers) loop(n int, attack func(i int)) {
	for i := range n {
		a.wg.Add(1)
		go func() {
			defer a.wg.Done()
			for a.ctx.Err() == nil {
				attack(i)
			}
		}()
	}
}

func (a *attackers) end() {
	a.stop()
	a.wg.Wait()
}

// pause keeps an attacker whose connection failed from spinning.
// connect logs rc in for an attack that needs an accepted connection; on a
// refusal or a failure it pauses and reports false.
func (a *attackers) connect(rc rawConnect, addr string) (*rawClient, bool) {
	code, c, err := rc.try(addr)
	if err != nil || code != 0 {
		if c != nil {
			c.drop()
		}
		a.pause()
		return nil, false
	}
	return c, true
}

func (a *attackers) pause() {
	select {
	case <-a.ctx.Done():
	case <-time.After(50 * time.Millisecond):
	}
}

// TestAllAttacksAtOnce: every attack of the hardening tests at the same
// time against one exposed server, while an honest device publishes QoS 1
// readings with their own timestamps. Each one of them is stored exactly
// once, no attacker's point lands in its series, nothing the server must
// refuse is let through, and each attack was really made (its refusals
// are counted).
func TestAllAttacksAtOnce(t *testing.T) {
	in := testenv.StartInflux(t, testenv.WithoutFlux())
	const streamCap = 20
	wsAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	srv := startExposed(t, "MQFLUX_BROKER_WEBSOCKET="+wsAddr,
		"MQFLUX_INFLUX_URL="+in.URL, "MQFLUX_INFLUX_BUCKET="+in.Bucket(), "MQFLUX_INFLUX_DRAIN_TIMEOUT=30s",
		"MQFLUX_LOG_LEVEL=info",
		// A line-protocol template, through which a payload might try to
		// name another device.
		`MQFLUX_MAPPING_TOPICS=[{template: "devices/{device}/sensors/{measurement}", format: auto}, {template: "devices/{device}/lines", format: line}]`,
		"MQFLUX_BROKER_CONNECT_TIMEOUT=2s",
		"MQFLUX_DEAD_LETTER_MAX_BYTES=1MiB",
		fmt.Sprintf("MQFLUX_HTTP_MAX_STREAM_CLIENTS=%d", streamCap),
		// Small enough that the idle HTTP connections below pass them.
		"MQFLUX_HTTP_MAX_CONNECTIONS=64", "MQFLUX_HTTP_IDLE_TIMEOUT=2s",
		"MQFLUX_BROKER_MAX_RETAINED_PER_USER=100",
	)
	meas := measurementFor(t)
	// The honest device has logged in before, as a device in the field has:
	// its remembered password is answered without waiting behind the
	// guessers' bcrypt checks, which a first login might find busy.
	warm := dialRaw(t, srv.MQTT, 4, "legit-warm-up", exposedLegit.User, exposedLegit.Password)
	warm.drop()

	const readings = 1500
	cfg := gatewayLoad(t, srv, 1, readings)
	cfg.Measurement = meas
	cfg.DevicePrefix, cfg.Username, cfg.Password = "legit-", exposedLegit.User, exposedLegit.Password
	cfg.Rate = 100 // 15 s of readings, long enough for every attack to run beside them

	a := newAttackers()
	defer a.end()
	started := func() bool { return cfg.Ledger.Len() > 0 }
	const idleConns = 40
	idleSockets(a, srv.MQTT, idleConns)
	passwordGuesses(a, srv.MQTT, 16)
	readEndpointGuesses(a, srv, 4)
	foreignPages(a, srv, 2)
	stalledSubscribers(a, srv.MQTT, wsAddr, 2)
	loadStarted := make(chan struct{})
	// These wait for the honest device: a field's type is the one InfluxDB
	// stored first, and a clean session's client id is free until its
	// device connects; the server does not defend either before
	// (SECURITY.md).
	go func() {
		for !started() && a.ctx.Err() == nil {
			time.Sleep(10 * time.Millisecond)
		}
		close(loadStarted)
		hostileWills(a, srv.MQTT, 2)
		clientIDTakeovers(a, srv.MQTT, 2, func() bool { return cfg.Ledger.Len() == readings })
		for count(in, meas) == 0 && a.ctx.Err() == nil {
			time.Sleep(10 * time.Millisecond)
		}
		payloadSpoofs(a, srv.MQTT, meas)
		deadLetterFlood(a, srv.MQTT)
		retainedFlood(a, srv.MQTT)
		idleHTTP(a, srv.HTTP, 80) // after the streams: the cap is full from here on
	}()
	streams := openStreams(t, srv, streamCap+5)

	run := startLoad(t, cfg)
	<-loadStarted
	run.finish(t, 3*time.Minute)
	a.end()
	for _, s := range streams {
		s.cancel()
	}

	waitStored(t, in, meas, readings, time.Minute)
	checkStored(t, in, meas, cfg.Ledger)
	if n := in.Count(t, "device_status", "state"); n != 0 {
		t.Errorf("device_status holds %d points, want none: no device published its status", n)
	}
	for _, b := range a.log.breaches {
		t.Error(b)
	}
	t.Logf("attacks made: %v", a.log.made)

	// An idle socket is replaced only once the server has closed it.
	if n := a.log.made["idle socket"]; n <= idleConns {
		t.Errorf("%d idle sockets opened by %d attackers: the server closed none of them", n, idleConns)
	}
	metrics := getAs(t, http.DefaultClient, srv, "/metrics", exposedReader).body
	for _, c := range []struct {
		attack string
		name   string
		labels []string
	}{
		{"password guesses", "mqflux_mqtt_denied_total", []string{`reason="backoff"`, `what="connect"`}},
		{"hostile wills", "mqflux_mqtt_denied_total", []string{`reason="will_acl"`}},
		{"client-id takeovers", "mqflux_mqtt_denied_total", []string{`reason="client_id_owner"`}},
		{"publishing under another device's topic", "mqflux_mqtt_denied_total", []string{`reason="acl"`, `what="publish"`}},
		{"a payload naming another device", "mqflux_readings_rejected_total", []string{`reason="bad_tag"`}},
		{"a payload writing device_status", "mqflux_readings_rejected_total", []string{`reason="reserved_measurement"`}},
		{"a string into a float field", "mqflux_readings_rejected_total", []string{`reason="field_type_conflict"`}},
		{"a payload key shadowing the device tag", "mqflux_readings_rejected_total", []string{`reason="bad_field"`}},
		{"a payload nested 10,000 deep", "mqflux_readings_rejected_total", []string{`reason="too_deep"`}},
		{"oversized publishes", "mqflux_readings_rejected_total", []string{`reason="payload_too_large"`}},
		{"read endpoints without a login", "mqflux_http_denied_total", []string{`reason="no_credentials"`}},
		{"read endpoints with wrong passwords", "mqflux_http_denied_total", []string{`reason="backoff"`}},
		{"streams past the cap", "mqflux_http_denied_total", []string{`reason="max_stream_clients"`}},
		{"pages of a foreign Host (DNS rebinding)", "mqflux_http_refused_total", []string{`reason="host"`}},
		{"cross-origin replays (CSRF)", "mqflux_http_refused_total", []string{`reason="cross_origin"`}},
		{"a retained flood", "mqflux_mqtt_retained_refused_total", []string{`reason="count"`}},
		{"idle HTTP connections past the cap", "mqflux_http_connections_refused_total", nil},
	} {
		if metricSum(t, metrics, c.name, c.labels...) == 0 {
			t.Errorf("%s: %s%v counts nothing; the attack was not made or not refused", c.attack, c.name, c.labels)
		}
	}
}

// idleSockets: n connections at a time that never send CONNECT; each is
// replaced once the server closes it.
func idleSockets(a *attackers, addr string, n int) {
	a.loop(n, func(int) {
		conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			a.pause()
			return
		}
		defer conn.Close()
		a.log.made1("idle socket")
		stop := context.AfterFunc(a.ctx, func() { conn.Close() })
		defer stop()
		_, _ = io.Copy(io.Discard, conn) // until the server, or the end of the test, closes it
	})
}

// passwordGuesses: n guessers, each from a loopback address of its own,
// half of them for the honest device's name, half for unknown names.
func passwordGuesses(a *attackers, addr string, n int) {
	a.loop(n, func(i int) {
		user := exposedLegit.User
		if i%2 == 1 {
			user = fmt.Sprintf("no-such-user-%d", i)
		}
		ok, err := guess(guessVia{}, addr, net.IPv4(127, 0, 1, byte(i+1)), user)
		if err != nil {
			a.pause()
			return
		}
		a.log.made1("password guess")
		if ok {
			a.log.breach("a wrong password for %s was accepted", user)
		}
	})
}

// readEndpointGuesses: clients reading /metrics, /v1/latest and /v1/stream
// without a login or with a wrong password, each from an address of its
// own.
func readEndpointGuesses(a *attackers, srv *testenv.Server, n int) {
	paths := []string{"/metrics", "/v1/latest", "/v1/stream"}
	a.loop(n, func(i int) {
		c := clientFrom(net.IPv4(127, 0, 3, byte(i+1)))
		for k, path := range paths {
			ctx, cancel := context.WithTimeout(a.ctx, 10*time.Second)
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+srv.HTTP+path, nil)
			if (i+k)%2 == 1 {
				req.SetBasicAuth(exposedReader.User, fmt.Sprintf("guess-%d-%d", i, k))
			}
			resp, err := c.Do(req)
			if err != nil {
				cancel()
				a.pause()
				continue
			}
			resp.Body.Close()
			cancel()
			a.log.made1("read endpoint guess")
			if resp.StatusCode < 400 {
				a.log.breach("GET %s without the right login answered %d", path, resp.StatusCode)
			}
		}
	})
}

// foreignPages: browsers showing another site's page. Rebound to this
// server, the page reads with its own Host; from its own address, it posts
// a replay with the admin's login the browser remembers.
func foreignPages(a *attackers, srv *testenv.Server, n int) {
	reads := []string{"/v1/latest", "/metrics", "/v1/deadletter", "/v1/pipeline"}
	a.loop(n, func(i int) {
		for k, path := range append(reads, "/v1/deadletter/replay") {
			ctx, cancel := context.WithTimeout(a.ctx, 10*time.Second)
			method, host := http.MethodGet, "evil.example"
			if k == len(reads) {
				method, host = http.MethodPost, srv.HTTP
			}
			req, _ := http.NewRequestWithContext(ctx, method, "http://"+srv.HTTP+path, nil)
			req.Host = host
			req.Header.Set("Origin", "http://evil.example")
			req.SetBasicAuth(exposedAdmin.User, exposedAdmin.Password)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				cancel()
				a.pause()
				continue
			}
			resp.Body.Close()
			cancel()
			a.log.made1("foreign page")
			if resp.StatusCode < 400 {
				a.log.breach("%s %s from a page of evil.example (Host %s) answered %d", method, path, host, resp.StatusCode)
			}
		}
		a.pause() // a page's script, not a flood: other attackers flood
	})
}

// hostileWills: n clients logging in as another device with a Last Will on
// the honest device's status, which would mark it offline.
func hostileWills(a *attackers, addr string, n int) {
	a.loop(n, func(i int) {
		rc := rawConnect{version: byte(4 + i%2), clientID: fmt.Sprintf("hostile-will-%d", i),
			user: exposedDevice.User, password: exposedDevice.Password,
			willTopic: "devices/" + exposedLegit.User + "/status", willMsg: "offline", willRetain: true}
		code, c, err := rc.try(addr)
		if err != nil {
			a.pause()
			return
		}
		c.drop() // were the will accepted, this would publish it
		a.log.made1("hostile will")
		if code != notAuthorized[rc.version] {
			a.log.breach("a will on another device's status got CONNACK %#x, want %#x", code, notAuthorized[rc.version])
		}
	})
}

// clientIDTakeovers: n clients logging in as another user under the honest
// device's client id, which would end its connection. Once the device has
// every reading acknowledged it disconnects, and its clean session's id is
// free: a takeover accepted then proves nothing.
func clientIDTakeovers(a *attackers, addr string, n int, deviceDone func() bool) {
	a.loop(n, func(i int) {
		rc := rawConnect{version: byte(4 + i%2), clientID: exposedLegit.User,
			user: exposedDevice.User, password: exposedDevice.Password, persistent: i%4 >= 2}
		code, c, err := rc.try(addr)
		if err != nil {
			a.pause()
			return
		}
		c.drop()
		a.log.made1("client-id takeover")
		if code != identifierRejected[rc.version] && !(code == 0 && deviceDone()) {
			a.log.breach("another user presenting the honest device's client id got CONNACK %#x, want %#x",
				code, identifierRejected[rc.version])
		}
	})
}

// payloadSpoofs: another device, logged in with its own password, tries
// every way of writing into the honest device's series: its topic, a
// line-protocol tag, device_status, a string into its float field, a field
// shadowing the device tag, and a payload nested 10,000 deep.
// Readings it may not send are acknowledged (MQTT 5: reason "not
// authorized" for the topic) and dead-lettered, never stored.
func payloadSpoofs(a *attackers, addr string, meas string) {
	legit := exposedLegit.User
	spoofs := []struct {
		topic, payload string
		want           byte // PUBACK reason
	}{
		{"devices/" + legit + "/sensors/" + meas, `{"value": -1}`, notAuthorized[5]},
		{"devices/" + exposedDevice.User + "/lines", meas + ",device=" + legit + " value=-2", 0},
		{"devices/" + exposedDevice.User + "/lines", `device_status,device=` + legit + ` online=false,state="offline"`, 0},
		{"devices/" + exposedDevice.User + "/lines", `device_status online=true,state="online"`, 0},
		{"devices/" + exposedDevice.User + "/sensors/device_status", `{"online": true, "state": "online"}`, 0},
		{"devices/" + exposedDevice.User + "/sensors/" + meas, `{"value": "hot"}`, 0},
		{"devices/" + exposedDevice.User + "/sensors/" + meas, `{"value": -3, "device": "` + legit + `"}`, 0},
		{"devices/" + exposedDevice.User + "/lines", meas + ` value=-4,Device="` + legit + `"`, 0},
		{"devices/" + exposedDevice.User + "/sensors/" + meas, deepPayload(10000), 0},
	}
	var id atomic.Uint32
	a.loop(1, func(int) {
		rc := rawConnect{version: 5, clientID: "spoofer", user: exposedDevice.User, password: exposedDevice.Password}
		c, ok := a.connect(rc, addr)
		if !ok {
			return
		}
		defer c.drop()
		for a.ctx.Err() == nil {
			for _, s := range spoofs {
				reason, err := c.tryPublish(uint16(id.Add(1)%60000+1), s.topic, []byte(s.payload), false, 30*time.Second)
				if err != nil {
					return // reconnect
				}
				a.log.made1("payload spoof")
				if reason != s.want {
					a.log.breach("spoof %q on %s: PUBACK %#x, want %#x", s.payload, s.topic, reason, s.want)
				}
			}
		}
	})
}

// deadLetterFlood: another device publishing oversized readings as fast
// as they are acknowledged, each one a dead letter.
func deadLetterFlood(a *attackers, addr string) {
	big := []byte(strings.Repeat("9", 100_000))
	var id atomic.Uint32
	a.loop(1, func(int) {
		rc := rawConnect{version: 4, clientID: "flooder", user: exposedDevice.User, password: exposedDevice.Password}
		c, ok := a.connect(rc, addr)
		if !ok {
			return
		}
		defer c.drop()
		for a.ctx.Err() == nil {
			_, err := c.tryPublish(uint16(id.Add(1)%60000+1), "devices/"+exposedDevice.User+"/sensors/flood", big, false, 30*time.Second)
			if errors.Is(err, errClosed) || err != nil {
				return
			}
			a.log.made1("oversized publish")
		}
	})
}

// retainedFlood: another device retaining a message of 1 KB on a new
// topic of its own subtree, over and over, MQTT 5: past
// broker.max_retained_per_user each is answered 0x97 (quota exceeded).
func retainedFlood(a *attackers, addr string) {
	payload := strings.Repeat("r", 1000)
	var n atomic.Uint32
	a.loop(1, func(int) {
		rc := rawConnect{version: 5, clientID: "retainer", user: exposedDevice.User, password: exposedDevice.Password}
		c, ok := a.connect(rc, addr)
		if !ok {
			return
		}
		defer c.drop()
		for a.ctx.Err() == nil {
			i := n.Add(1)
			body := appendStr(nil, fmt.Sprintf("devices/%s/settings/%d", exposedDevice.User, i))
			id := uint16(i%60000 + 1)
			body = append(body, byte(id>>8), byte(id), 0) // packet id, no properties
			if c.send(mqttwire.PUBLISH, 0x02|0x01, append(body, payload...)) != nil {
				return
			}
			_ = c.conn.SetReadDeadline(time.Now().Add(30 * time.Second))
			p, err := c.r.Next()
			if err != nil {
				return
			}
			a.log.made1("retained publish")
			if p.Type == mqttwire.PUBACK && len(p.Body) >= 3 && p.Body[2] == 0x97 {
				a.log.made1("retained publish refused")
			}
		}
	})
}

// idleHTTP: n keep-alive HTTP connections at a time, each idle after one
// GET /healthz; those past http.max_connections are closed at accept, the
// others by http.idle_timeout, and each is replaced, three times: while
// the cap is full every other HTTP client is refused too, and the read
// endpoint guessers need their turns.
func idleHTTP(a *attackers, addr string, n int) {
	rounds := make([]int, n)
	a.loop(n, func(i int) {
		if rounds[i]++; rounds[i] > 3 {
			<-a.ctx.Done()
			return
		}
		conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
		if err != nil {
			a.pause()
			return
		}
		defer conn.Close()
		stop := context.AfterFunc(a.ctx, func() { conn.Close() })
		defer stop()
		a.log.made1("idle HTTP connection")
		_, _ = fmt.Fprintf(conn, "GET /healthz HTTP/1.1\r\nHost: mqflux\r\n\r\n")
		_, _ = io.Copy(io.Discard, conn) // until the server, or the end of the test, closes it
		a.pause()
	})
}

// openStreams opens n streams as the reader, past the server's cap, and
// never reads them: slow clients that must not hold up ingest.
func openStreams(t *testing.T, srv *testenv.Server, n int) []*stream {
	t.Helper()
	var open []*stream
	for range n {
		ctx, cancel := context.WithCancel(context.Background())
		t.Cleanup(cancel)
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+srv.HTTP+"/v1/stream", nil)
		req.SetBasicAuth(exposedReader.User, exposedReader.Password)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("GET /v1/stream as a reader: %v", err)
		}
		s := &stream{code: resp.StatusCode, cancel: cancel, body: resp.Body}
		if s.code != http.StatusOK {
			resp.Body.Close()
		}
		open = append(open, s)
	}
	return open
}
