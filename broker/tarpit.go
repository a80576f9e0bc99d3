package broker

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/mochi-mqtt/server/v2/packets"

	"github.com/mqflux/mqflux/passwd"
)

// tarpit answers the connections of an address in login backoff itself,
// slowly. Such a connection's login would be refused whatever it presents
// (passwd.Checker.Login), so the tarpit holds it for what is left of the
// backoff (at most maxHold) without reading it, then reads its CONNECT
// and refuses it with the CONNACK mochi sends for a failed login, counted
// and logged as a backoff refusal. Nothing of it reaches mochi, a runner or
// bcrypt.
//
// Answered at once, 32 guessers looped through accept, CONNECT, CONNACK
// and close thousands of times a second on the same two cores as the
// devices, and an honest device's PUBACK rate fell to a fifth
// (BENCHMARKS.md, "Fresh logins under a password-guessing flood"). Held,
// each guesser makes one attempt per hold.
//
// Holding costs a descriptor and a small goroutine per connection, so it
// is bounded: at most perAddress connections per address (IPv6: per /64,
// passwd.AddressKey) and maxHeld in all. A connection past either bound
// is closed at once, unread (denied reason tarpit_full).
type tarpit struct {
	wait        func(remote string) time.Duration // passwd.Checker.BackoffWait
	maxHold     time.Duration
	perAddress  int
	maxHeld     int
	readTimeout time.Duration // for the CONNECT once the hold is over
	maxPacket   int           // a longer CONNECT is not read
	// refuse counts and logs a refusal of the connection from remote.
	refuse func(remote, reason string)

	done      chan struct{} // closed by close: holds end, their connections close
	closeOnce sync.Once

	mu    sync.Mutex
	byKey map[string]int
	total int
	// By listener ("tcp", "tls", "ws", "http"): holds so far, and now.
	heldBy    map[string]int64
	holdingBy map[string]int
	requests  int // held now through Hold: HTTP requests, not MQTT connections

	held atomic.Int64 // MQTT connections held so far
}

// Tarpit refusal reasons of mqflux_mqtt_denied_total{what="connect"}: a
// held connection is refused as "backoff" like any login refused for its
// address's failures.
const reasonTarpitFull = "tarpit_full"

func newTarpit(c TarpitConfig, wait func(string) time.Duration, readTimeout time.Duration, maxPacket int, refuse func(remote, reason string)) *tarpit {
	return &tarpit{
		wait: wait, maxHold: c.MaxHold, perAddress: c.PerAddress, maxHeld: c.MaxHeld,
		readTimeout: readTimeout, maxPacket: maxPacket, refuse: refuse,
		done: make(chan struct{}), byKey: make(map[string]int),
		heldBy: make(map[string]int64), holdingBy: make(map[string]int),
	}
}

// wrap has establish see only the connections of addresses not in
// backoff; with a nil tarpit or no hold it is establish itself.
func (t *tarpit) wrap(establish listeners.EstablishFn) listeners.EstablishFn {
	if t == nil || t.maxHold <= 0 {
		return establish
	}
	return func(id string, c net.Conn) error {
		remote := c.RemoteAddr().String()
		hold := min(t.wait(remote), t.maxHold)
		if hold <= 0 {
			return establish(id, c)
		}
		t.serve(c, id, remote, hold)
		return nil
	}
}

// serve holds c for hold, or closes it at once past the bounds, then
// refuses its login.
func (t *tarpit) serve(c net.Conn, listener, remote string, hold time.Duration) {
	defer c.Close()
	key := passwd.AddressKey(remote)
	if !t.take(key, listener, false) {
		t.refuse(remote, reasonTarpitFull)
		return
	}
	defer t.give(key, listener, false)
	t.held.Add(1)
	timer := time.NewTimer(hold)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-t.done:
		return
	}
	// A client that is gone, or sends no CONNECT, is closed unanswered;
	// it was refused all the same.
	_ = answerRefusal(c, t.readTimeout, t.maxPacket)
	t.refuse(remote, "backoff")
}

// Hold holds a request from remote that arrived on listener (HTTP: the
// MQTT listeners' connections are held by wrap) while remote's address is
// in backoff: for what is left of it, at most maxHold, or until ctx ends
// or the broker closes. Its holds share the bounds of the MQTT
// connections', per address and in all: what a hold costs, a descriptor
// and a goroutine, comes from the same process. It reports whether the
// request was held; past a bound, or with the address not in backoff or
// holding off, it returns at once. It implements passwd.Tarpit.
func (t *tarpit) Hold(ctx context.Context, remote, listener string) bool {
	if t == nil || t.maxHold <= 0 {
		return false
	}
	hold := min(t.wait(remote), t.maxHold)
	if hold <= 0 {
		return false
	}
	key := passwd.AddressKey(remote)
	if !t.take(key, listener, true) {
		return false
	}
	defer t.give(key, listener, true)
	timer := time.NewTimer(hold)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-ctx.Done():
	case <-t.done:
	}
	return true
}

// take reserves a place for a hold of key on listener (request: through
// Hold); false past a bound.
func (t *tarpit) take(key, listener string, request bool) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.total >= t.maxHeld || t.byKey[key] >= t.perAddress {
		return false
	}
	t.total++
	t.byKey[key]++
	t.heldBy[listener]++
	t.holdingBy[listener]++
	if request {
		t.requests++
	}
	return true
}

func (t *tarpit) give(key, listener string, request bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.total--
	if t.byKey[key]--; t.byKey[key] <= 0 {
		delete(t.byKey, key)
	}
	t.holdingBy[listener]--
	if request {
		t.requests--
	}
}

// holding is how many MQTT connections are held now.
func (t *tarpit) holding() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.total - t.requests
}

// byListener is what has been held so far and what is held now, by
// listener, HTTP's included.
func (t *tarpit) byListener() (held, holding map[string]int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	held, holding = make(map[string]int64, len(t.heldBy)), make(map[string]int64, len(t.holdingBy))
	for l, n := range t.heldBy {
		held[l] = n
		holding[l] = int64(t.holdingBy[l])
	}
	return held, holding
}

// close ends every hold: the held connections are closed unanswered. The
// broker calls it before it stops, so that no hold ends in a server that
// is gone.
func (t *tarpit) close() {
	if t != nil {
		t.closeOnce.Do(func() { close(t.done) })
	}
}

var errNotConnect = errors.New("first packet is not an MQTT CONNECT")

// answerRefusal reads one CONNECT from c within timeout, all of it (a
// socket closed with unread bytes is reset, and the reset can overtake the
// answer), and answers it with the CONNACK "bad user name or password" in
// the client's protocol version, as mochi answers a refused login. Only the
// protocol name and version are kept; the rest is discarded as it comes,
// so a held connection costs no buffer of its CONNECT's size.
func answerRefusal(c net.Conn, timeout time.Duration, maxPacket int) error {
	if timeout > 0 {
		if err := c.SetReadDeadline(time.Now().Add(timeout)); err != nil {
			return fmt.Errorf("connect deadline: %w", err)
		}
	}
	r := bufio.NewReaderSize(c, 64)
	version, err := readConnectVersion(r, maxPacket)
	if err != nil {
		return err
	}
	code := packets.ErrBadUsernameOrPassword
	ack := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Connack}, ProtocolVersion: version}
	if version < 5 {
		code = packets.V5CodesToV3[code]
	} else {
		ack.Properties.ReasonString = code.Reason
	}
	ack.ReasonCode = code.Code
	var buf bytes.Buffer
	if err := ack.ConnackEncode(&buf); err != nil {
		return fmt.Errorf("encode CONNACK: %w", err)
	}
	if _, err := c.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("write CONNACK: %w", err)
	}
	return nil
}

// readConnectVersion reads a CONNECT packet of at most maxPacket bytes
// from r and returns its protocol version (3, 4 or 5).
func readConnectVersion(r *bufio.Reader, maxPacket int) (byte, error) {
	hb, err := r.ReadByte()
	if err != nil {
		return 0, fmt.Errorf("read CONNECT: %w", err)
	}
	fh := packets.FixedHeader{}
	if err := fh.Decode(hb); err != nil || fh.Type != packets.Connect {
		return 0, errNotConnect
	}
	n, _, err := packets.DecodeLength(r)
	if err != nil {
		return 0, fmt.Errorf("read CONNECT length: %w", err)
	}
	if n > maxPacket {
		return 0, fmt.Errorf("CONNECT of %d bytes, more than %d", n, maxPacket)
	}
	// Protocol name ("MQTT", or "MQIsdp" for 3.1) with its length, then
	// the version.
	var head [2 + 6 + 1]byte
	if n < 2+4+1 {
		return 0, errNotConnect
	}
	if _, err := io.ReadFull(r, head[:2]); err != nil {
		return 0, fmt.Errorf("read CONNECT: %w", err)
	}
	name := int(binary.BigEndian.Uint16(head[:2]))
	if (name != 4 && name != 6) || n < 2+name+1 {
		return 0, errNotConnect
	}
	if _, err := io.ReadFull(r, head[2:2+name+1]); err != nil {
		return 0, fmt.Errorf("read CONNECT: %w", err)
	}
	if _, err := io.CopyN(io.Discard, r, int64(n-(2+name+1))); err != nil {
		return 0, fmt.Errorf("read CONNECT: %w", err)
	}
	version := head[2+name]
	if p := string(head[2 : 2+name]); (p != "MQTT" && p != "MQIsdp") || version < 3 || version > 5 {
		return 0, errNotConnect
	}
	return version, nil
}
