package e2e

import (
	"errors"
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"github.com/mqflux/mqflux/bench/mqttwire"
)

// rawConnect is a CONNECT as an attacker writes it: any client id, any
// Last Will, MQTT 3.1.1 or 5.
type rawConnect struct {
	version            byte // 4 or 5
	clientID           string
	user, password     string
	persistent         bool // no clean session / clean start
	willTopic, willMsg string
	willRetain         bool
}

// dial sends the CONNECT and returns the CONNACK's return (3.1.1) or
// reason (5) code, with the client ready for publish when the code is 0.
func (rc rawConnect) dial(t *testing.T, addr string) (byte, *rawClient) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	t.Cleanup(func() { conn.Close() })
	c := &rawClient{version: rc.version, conn: conn, r: mqttwire.NewReader(conn, 1<<20)}
	c.write(t, mqttwire.CONNECT, 0, rc.body())

	p := c.next(t, 30*time.Second)
	if p.Type != mqttwire.CONNACK || len(p.Body) < 2 {
		t.Fatalf("MQTT %d CONNECT as %s: answer %s % x, want a CONNACK", rc.version, rc.user, p.Type, p.Body)
	}
	return p.Body[1], c
}

// try is dial for goroutines other than the test's: the caller closes the
// client's connection.
func (rc rawConnect) try(addr string) (byte, *rawClient, error) {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return 0, nil, fmt.Errorf("dial %s: %w", addr, err)
	}
	c := &rawClient{version: rc.version, conn: conn, r: mqttwire.NewReader(conn, 1<<20)}
	if err := c.send(mqttwire.CONNECT, 0, rc.body()); err != nil {
		conn.Close()
		return 0, nil, err
	}
	_ = conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	p, err := c.r.Next()
	if err != nil {
		conn.Close()
		return 0, nil, fmt.Errorf("MQTT %d CONNECT as %s: read CONNACK: %w", rc.version, rc.user, err)
	}
	if p.Type != mqttwire.CONNACK || len(p.Body) < 2 {
		conn.Close()
		return 0, nil, fmt.Errorf("MQTT %d CONNECT as %s: answer %s % x, want a CONNACK", rc.version, rc.user, p.Type, p.Body)
	}
	return p.Body[1], c, nil
}

// body is the CONNECT packet's variable header and payload.
func (rc rawConnect) body() []byte {
	flags := byte(0x80 | 0x40) // user name, password
	if !rc.persistent {
		flags |= 0x02
	}
	if rc.willTopic != "" {
		flags |= 0x04 | 0x08 // will, QoS 1
		if rc.willRetain {
			flags |= 0x20
		}
	}
	var body []byte
	body = appendStr(body, "MQTT")
	body = append(body, rc.version, flags, 0, 60)
	if rc.version == 5 {
		if rc.persistent {
			body = append(body, 5, 0x11, 0, 0, 0x0e, 0x10) // session expiry 3600 s
		} else {
			body = append(body, 0)
		}
	}
	body = appendStr(body, rc.clientID)
	if rc.willTopic != "" {
		if rc.version == 5 {
			body = append(body, 0) // no will properties
		}
		body = appendStr(body, rc.willTopic)
		body = appendStr(body, rc.willMsg)
	}
	body = appendStr(body, rc.user)
	return appendStr(body, rc.password)
}

// closed reports whether the broker closed c's connection: it reads until
// the end of the stream, skipping whatever the broker sent before.
func (c *rawClient) closed(within time.Duration) bool {
	_ = c.conn.SetReadDeadline(time.Now().Add(within))
	for {
		if _, err := c.r.Next(); err != nil {
			return !isTimeout(err)
		}
	}
}

func isTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }

// drop ends the connection without a DISCONNECT, as a crashed device or a
// cut network does: the broker must send the Last Will.
func (c *rawClient) drop() { _ = c.conn.Close() }
