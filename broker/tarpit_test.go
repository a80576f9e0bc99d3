package broker

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
)

// tarpitRig is a tarpit in front of a real loopback listener. Addresses in
// backoff are those the test names; establish records who got through.
type tarpitRig struct {
	t    *testing.T
	tp   *tarpit
	addr string

	mu          sync.Mutex
	backoff     map[string]time.Duration // host → backoff left
	refusals    map[string]int           // reason → count
	established []string                 // remote hosts that reached establish
}

func newTarpitRig(t *testing.T, c TarpitConfig) *tarpitRig {
	t.Helper()
	r := &tarpitRig{t: t, backoff: map[string]time.Duration{}, refusals: map[string]int{}}
	wait := func(remote string) time.Duration {
		host, _, _ := net.SplitHostPort(remote)
		r.mu.Lock()
		defer r.mu.Unlock()
		return r.backoff[host]
	}
	refuse := func(_, reason string) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.refusals[reason]++
	}
	r.tp = newTarpit(c, wait, 10*time.Second, 1<<16, refuse)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r.addr = ln.Addr().String()
	establish := r.tp.wrap(func(_ string, c net.Conn) error {
		host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
		r.mu.Lock()
		r.established = append(r.established, host)
		r.mu.Unlock()
		return c.Close()
	})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() { defer wg.Done(); _ = establish("tcp", newCoalescingConn(c, time.Second, nil)) }()
		}
	}()
	t.Cleanup(func() { r.tp.close(); ln.Close(); wg.Wait() })
	return r
}

func (r *tarpitRig) setBackoff(host string, d time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.backoff[host] = d
}

func (r *tarpitRig) reached() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.established...)
}

func (r *tarpitRig) refused(reason string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.refusals[reason]
}

// dial connects from host and sends a CONNECT of the protocol version.
func (r *tarpitRig) dial(host string, version byte) net.Conn {
	r.t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(host)}}
	c, err := d.Dial("tcp", r.addr)
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(func() { c.Close() })
	pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: version,
		Connect: packets.ConnectParams{ProtocolName: []byte("MQTT"), Clean: true, Keepalive: 30, ClientIdentifier: "guesser",
			UsernameFlag: true, Username: []byte("demo-device"), PasswordFlag: true, Password: []byte("wrong")}}
	if version == 3 {
		pk.Connect.ProtocolName = []byte("MQIsdp")
	}
	var buf bytes.Buffer
	if err := pk.ConnectEncode(&buf); err != nil {
		r.t.Fatal(err)
	}
	// A connection closed at once may be reset before the CONNECT is
	// written; reading its answer then fails, as it should.
	_, _ = c.Write(buf.Bytes())
	_ = c.SetReadDeadline(time.Now().Add(time.Minute))
	return c
}

// connack reads the answer to a CONNECT: its reason code, or an error when
// the connection closed without one.
func connack(c net.Conn, version byte) (byte, string, error) {
	r := bufio.NewReader(c)
	hb, err := r.ReadByte()
	if err != nil {
		return 0, "", err
	}
	fh := packets.FixedHeader{}
	if err := fh.Decode(hb); err != nil || fh.Type != packets.Connack {
		return 0, "", errors.New("not a CONNACK")
	}
	n, _, err := packets.DecodeLength(r)
	if err != nil {
		return 0, "", err
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(r, body); err != nil {
		return 0, "", err
	}
	pk := packets.Packet{FixedHeader: fh, ProtocolVersion: version}
	if err := pk.ConnackDecode(body); err != nil {
		return 0, "", err
	}
	return pk.ReasonCode, pk.Properties.ReasonString, nil
}

func (r *tarpitRig) waitHolding(n int) {
	r.t.Helper()
	for deadline := time.Now().Add(30 * time.Second); r.tp.holding() != n; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			r.t.Fatalf("%d connections held, want %d", r.tp.holding(), n)
		}
	}
}

// A connection from an address in backoff never reaches mochi: once its
// hold is over it is refused with the CONNACK of a failed login in its own
// protocol version, and counted as a backoff refusal.
func TestTarpitRefusesAfterTheHold(t *testing.T) {
	for _, tc := range []struct {
		version    byte
		code       byte
		reasonText string
	}{
		{3, packets.Err3NotAuthorized.Code, ""},
		{4, packets.Err3NotAuthorized.Code, ""},
		{5, packets.ErrBadUsernameOrPassword.Code, packets.ErrBadUsernameOrPassword.Reason},
	} {
		r := newTarpitRig(t, TarpitConfig{MaxHold: time.Minute, PerAddress: 4, MaxHeld: 16})
		r.setBackoff("127.0.9.1", 20*time.Millisecond) // less than max_hold: held for what is left
		c := r.dial("127.0.9.1", tc.version)
		code, reason, err := connack(c, tc.version)
		if err != nil || code != tc.code || reason != tc.reasonText {
			t.Errorf("MQTT v%d: answered code %#x reason %q (%v), want %#x %q", tc.version, code, reason, err, tc.code, tc.reasonText)
		}
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Errorf("MQTT v%d: the refused connection stays open", tc.version)
		}
		if got := r.refused("backoff"); got != 1 {
			t.Errorf("MQTT v%d: %d backoff refusals counted, want 1", tc.version, got)
		}
		if r.tp.held.Load() != 1 || len(r.reached()) != 0 {
			t.Errorf("MQTT v%d: %d held, %v established; want 1 held and none established", tc.version, r.tp.held.Load(), r.reached())
		}
	}
}

// An address not in backoff goes straight through.
func TestTarpitLetsCleanAddressesThrough(t *testing.T) {
	r := newTarpitRig(t, TarpitConfig{MaxHold: time.Minute, PerAddress: 4, MaxHeld: 16})
	c := r.dial("127.0.9.2", 4)
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("establish closes the connection; it answered instead")
	}
	if got := r.reached(); len(got) != 1 || r.tp.held.Load() != 0 {
		t.Errorf("%v established, %d held; want the clean address established", got, r.tp.held.Load())
	}
}

// Holding cannot take every descriptor: past per_address connections of
// one address, or max_held in all, a connection is closed at once, unread
// and unanswered, and counted as tarpit_full; another address still has
// its share until max_held is reached.
func TestTarpitBoundsWhatItHolds(t *testing.T) {
	r := newTarpitRig(t, TarpitConfig{MaxHold: time.Minute, PerAddress: 2, MaxHeld: 3})
	for _, h := range []string{"127.0.9.3", "127.0.9.4", "127.0.9.5"} {
		r.setBackoff(h, time.Hour)
	}
	r.dial("127.0.9.3", 4)
	r.dial("127.0.9.3", 4)
	r.waitHolding(2)
	closedAtOnce := func(host string) {
		t.Helper()
		c := r.dial(host, 4)
		if code, _, err := connack(c, 4); err == nil {
			t.Errorf("a connection from %s past the bounds was answered %#x; want it closed unanswered", host, code)
		}
	}
	closedAtOnce("127.0.9.3") // its address holds per_address already
	r.dial("127.0.9.4", 4)    // another address: held, the third in all
	r.waitHolding(3)
	closedAtOnce("127.0.9.5") // max_held reached
	if got := r.refused(reasonTarpitFull); got != 2 {
		t.Errorf("%d connections counted as tarpit_full, want 2", got)
	}
	if got := r.tp.held.Load(); got != 3 {
		t.Errorf("%d connections held in all, want 3", got)
	}
}

// Closing the tarpit (the broker stopping) ends every hold: the held
// connections are closed unanswered and release their places.
func TestTarpitCloseEndsTheHolds(t *testing.T) {
	r := newTarpitRig(t, TarpitConfig{MaxHold: time.Minute, PerAddress: 4, MaxHeld: 16})
	r.setBackoff("127.0.9.6", time.Hour)
	c := r.dial("127.0.9.6", 4)
	r.waitHolding(1)
	r.tp.close()
	if code, _, err := connack(c, 4); err == nil {
		t.Errorf("a held connection was answered %#x at close; want it closed", code)
	}
	r.waitHolding(0)
	if got := r.refused("backoff"); got != 0 {
		t.Errorf("%d refusals counted for connections closed at shutdown, want 0", got)
	}
}

// What is not a CONNECT of a known protocol version, or is longer than the
// largest packet, is not answered (the connection is closed).
func TestTarpitReadsOnlyAConnect(t *testing.T) {
	connect := func(version byte, name string) []byte {
		pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connect}, ProtocolVersion: version,
			Connect: packets.ConnectParams{ProtocolName: []byte(name), Clean: true, ClientIdentifier: "c",
				UsernameFlag: true, Username: []byte("u"), PasswordFlag: true, Password: []byte("p")}}
		var buf bytes.Buffer
		if err := pk.ConnectEncode(&buf); err != nil {
			t.Fatal(err)
		}
		return buf.Bytes()
	}
	v4 := connect(4, "MQTT")
	v9 := append([]byte(nil), v4...)
	v9[2+2+4] = 9 // fixed header (2 bytes here), protocol name, version
	for _, tc := range []struct {
		name    string
		in      []byte
		max     int
		version byte // 0: refused
	}{
		{"MQTT 3.1.1", v4, 1 << 10, 4},
		{"MQTT 5", connect(5, "MQTT"), 1 << 10, 5},
		{"MQTT 3.1", connect(3, "MQIsdp"), 1 << 10, 3},
		{"a PUBLISH first", []byte{0x30, 0x05, 0x00, 0x01, 'a', 'x', 'y'}, 1 << 10, 0},
		{"another protocol name", connect(4, "HTTP"), 1 << 10, 0},
		{"an unknown version", v9, 1 << 10, 0},
		{"longer than the largest packet", v4, len(v4) - 3, 0},
		{"cut short", v4[:len(v4)-1], 1 << 10, 0},
		{"HTTP", []byte("GET / HTTP/1.1\r\n\r\n"), 1 << 10, 0},
	} {
		got, err := readConnectVersion(bufio.NewReader(bytes.NewReader(tc.in)), tc.max)
		if got != tc.version || (err == nil) != (tc.version != 0) {
			t.Errorf("%s: version %d, %v; want %d", tc.name, got, err, tc.version)
		}
	}
}

// An HTTP login from an address in backoff is held through Hold within the
// bounds the MQTT connections' holds count against, per address and in
// all, and counted by listener apart from them; a clean address, a
// cancelled request and a closed tarpit end or skip the hold.
func TestTarpitHoldsRequests(t *testing.T) {
	r := newTarpitRig(t, TarpitConfig{MaxHold: time.Minute, PerAddress: 2, MaxHeld: 3})
	r.setBackoff("127.0.9.20", time.Hour)
	r.setBackoff("127.0.9.21", 20*time.Millisecond)
	ctx := context.Background()

	if r.tp.Hold(ctx, "127.0.9.22:4000", "http") {
		t.Error("a request from a clean address was held")
	}
	// Held for what is left of the backoff, then answered.
	if !r.tp.Hold(ctx, "127.0.9.21:4000", "http") {
		t.Error("a request from an address in backoff was not held")
	}

	// One MQTT connection and one request of 127.0.9.20 fill its
	// per_address 2: a second request is refused a place at once.
	r.dial("127.0.9.20", 4)
	r.waitHolding(1)
	reqCtx, cancel := context.WithCancel(ctx)
	held := make(chan bool)
	go func() { held <- r.tp.Hold(reqCtx, "127.0.9.20:4001", "http") }()
	waitFor(t, func() bool { _, now := r.tp.byListener(); return now["http"] == 1 })
	if r.tp.Hold(ctx, "127.0.9.20:4002", "http") {
		t.Error("a request past per_address (one connection and one request held) was held")
	}
	if got := r.tp.holding(); got != 1 {
		t.Errorf("mqflux_mqtt_tarpit_holding counts %d, want the 1 MQTT connection", got)
	}
	cancel() // the client went away
	if !<-held {
		t.Error("a held request whose client went away reports it was not held")
	}

	heldBy, holdingBy := r.tp.byListener()
	if heldBy["http"] != 2 || heldBy["tcp"] != 1 || holdingBy["http"] != 0 {
		t.Errorf("held by listener %v, holding %v; want http 2, tcp 1, none http now", heldBy, holdingBy)
	}
	if got := r.tp.held.Load(); got != 1 {
		t.Errorf("%d MQTT connections counted held, want 1: requests are not", got)
	}

	// Closing the tarpit ends a request's hold too.
	go func() { held <- r.tp.Hold(ctx, "127.0.9.20:4003", "http") }()
	waitFor(t, func() bool { _, now := r.tp.byListener(); return now["http"] == 1 })
	r.tp.close()
	<-held
}

// waitFor polls cond until it holds, failing the test after a minute.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(time.Minute)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within a minute")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
