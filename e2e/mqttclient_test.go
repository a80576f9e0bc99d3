package e2e

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/mqflux/mqflux/bench/mqttwire"
)

// rawClient speaks just enough MQTT 3.1.1 or 5 by hand to see the broker's
// exact answer to one QoS 1 PUBLISH: its PUBACK reason code, or no PUBACK
// at all. (The load tool speaks 3.1.1 only; client libraries hide reason
// codes or retry on their own.)
type rawClient struct {
	version byte // 4 (MQTT 3.1.1) or 5
	conn    net.Conn
	r       *mqttwire.Reader
}

// errNoPuback is returned by publish when no PUBACK came in time;
// errClosed when the broker closed the connection instead of answering.
var (
	errNoPuback = errors.New("no PUBACK")
	errClosed   = errors.New("connection closed by the broker without a PUBACK")
)

func dialRaw(t *testing.T, addr string, version byte, clientID, user, password string) *rawClient {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &rawClient{version: version, conn: conn, r: mqttwire.NewReader(conn, 1<<20)}

	var body []byte
	body = appendStr(body, "MQTT")
	body = append(body, version, 0x80|0x40|0x02, 0, 60) // user, password, clean start; keep alive 60 s
	if version == 5 {
		body = append(body, 0) // no properties
	}
	body = appendStr(body, clientID)
	body = appendStr(body, user)
	body = appendStr(body, password)
	c.write(t, mqttwire.CONNECT, 0, body)

	p := c.next(t, 10*time.Second)
	if p.Type != mqttwire.CONNACK || len(p.Body) < 2 || p.Body[1] != 0 {
		t.Fatalf("MQTT %d CONNECT as %s: answer %s % x, want an accepting CONNACK", version, user, p.Type, p.Body)
	}
	return c
}

func appendStr(b []byte, s string) []byte {
	b = append(b, byte(len(s)>>8), byte(len(s)))
	return append(b, s...)
}

func (c *rawClient) write(t *testing.T, typ mqttwire.Type, flags byte, body []byte) {
	t.Helper()
	if err := c.send(typ, flags, body); err != nil {
		t.Fatal(err)
	}
}

// send is write for goroutines other than the test's, which may not call
// t.Fatal.
func (c *rawClient) send(typ mqttwire.Type, flags byte, body []byte) error {
	pkt := []byte{byte(typ)<<4 | flags}
	pkt, err := mqttwire.AppendRemainingLength(pkt, len(body))
	if err != nil {
		return fmt.Errorf("MQTT %d encode %s: %w", c.version, typ, err)
	}
	if _, err := c.conn.Write(append(pkt, body...)); err != nil {
		return fmt.Errorf("MQTT %d write %s: %w", c.version, typ, err)
	}
	return nil
}

func (c *rawClient) next(t *testing.T, within time.Duration) mqttwire.Packet {
	t.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(within))
	p, err := c.r.Next()
	if err != nil {
		t.Fatalf("MQTT %d read: %v", c.version, err)
	}
	return p
}

// publish sends one QoS 1 PUBLISH (with DUP when resending) and returns the
// PUBACK's reason code (0 for a 3.1.1 PUBACK), errNoPuback when none came
// within wait, or errClosed.
func (c *rawClient) publish(t *testing.T, id uint16, topic string, payload []byte, dup bool, wait time.Duration) (byte, error) {
	t.Helper()
	code, err := c.tryPublish(id, topic, payload, dup, wait)
	var werr *writeError
	if errors.As(err, &werr) {
		t.Fatal(werr.err)
	}
	return code, err
}

// writeError is a PUBLISH that could not be written.
type writeError struct{ err error }

func (e *writeError) Error() string { return e.err.Error() }
func (e *writeError) Unwrap() error { return e.err }

// tryPublish is publish for goroutines other than the test's: a failed
// write is returned as a *writeError.
func (c *rawClient) tryPublish(id uint16, topic string, payload []byte, dup bool, wait time.Duration) (byte, error) {
	var body []byte
	body = appendStr(body, topic)
	body = append(body, byte(id>>8), byte(id))
	if c.version == 5 {
		body = append(body, 0) // no properties
	}
	body = append(body, payload...)
	flags := byte(0x02) // QoS 1
	if dup {
		flags |= 0x08
	}
	if err := c.send(mqttwire.PUBLISH, flags, body); err != nil {
		return 0, &writeError{err}
	}

	_ = c.conn.SetReadDeadline(time.Now().Add(wait))
	for {
		p, err := c.r.Next()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return 0, errNoPuback
		}
		if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
			return 0, errClosed
		}
		if err != nil {
			return 0, fmt.Errorf("MQTT %d read: %w", c.version, err)
		}
		if p.Type != mqttwire.PUBACK {
			return 0, fmt.Errorf("MQTT %d: got %s % x, want PUBACK", c.version, p.Type, p.Body)
		}
		if len(p.Body) < 2 || uint16(p.Body[0])<<8|uint16(p.Body[1]) != id {
			continue // a late PUBACK of an earlier attempt
		}
		if len(p.Body) == 2 {
			return 0, nil // MQTT 5 leaves out reason 0 (success)
		}
		return p.Body[2], nil
	}
}
