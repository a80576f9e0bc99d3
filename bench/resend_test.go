package bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strings"
	"testing"

	"github.com/mqflux/mqflux/bench/mqttwire"
)

// scriptedBroker accepts MQTT connections on a real socket and hands each to
// the next script; it lets a test see the exact packets the tool sends.
func scriptedBroker(t *testing.T, scripts ...func(conn net.Conn, r *mqttwire.Reader) error) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, len(scripts))
	go func() {
		for _, script := range scripts {
			conn, err := l.Accept()
			if err != nil {
				errs <- err
				return
			}
			errs <- script(conn, mqttwire.NewReader(conn, 0))
			conn.Close()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		for range scripts {
			if err := <-errs; err != nil {
				t.Errorf("broker script: %v", err)
			}
		}
	})
	return l.Addr().String()
}

func expectConnect(r *mqttwire.Reader) (mqttwire.Connect, error) {
	p, err := r.Next()
	if err != nil {
		return mqttwire.Connect{}, err
	}
	return mqttwire.DecodeConnect(p)
}

func readPublishes(r *mqttwire.Reader, n int) ([]mqttwire.Publish, error) {
	var out []mqttwire.Publish
	for len(out) < n {
		p, err := r.Next()
		if err != nil {
			return out, err
		}
		pub, err := mqttwire.DecodePublish(p)
		if err != nil {
			return out, err
		}
		pub.Payload = bytes.Clone(pub.Payload)
		out = append(out, pub)
	}
	return out, nil
}

// TestResendWithDupAfterReconnect: the first connection acknowledges two of
// five readings and drops; the second must start with the other three, in
// order, with the DUP flag, the same packet ids and the same payloads.
func TestResendWithDupAfterReconnect(t *testing.T) {
	var first []mqttwire.Publish
	check := make(chan error, 1)
	addr := scriptedBroker(t,
		func(conn net.Conn, r *mqttwire.Reader) error {
			c, err := expectConnect(r)
			if err != nil {
				return err
			}
			if c.ClientID != "dev-0" || c.Username != "demo-gateway" || c.Password != "secret" || !c.CleanSession {
				t.Errorf("CONNECT = %+v", c)
			}
			conn.Write(mqttwire.AppendConnack(nil, mqttwire.Connack{}))
			if first, err = readPublishes(r, 5); err != nil {
				return err
			}
			conn.Write(mqttwire.AppendPuback(mqttwire.AppendPuback(nil, first[0].PacketID), first[1].PacketID))
			return nil // closing the connection drops the three unacknowledged readings
		},
		func(conn net.Conn, r *mqttwire.Reader) error {
			if _, err := expectConnect(r); err != nil {
				return err
			}
			conn.Write(mqttwire.AppendConnack(nil, mqttwire.Connack{}))
			again, err := readPublishes(r, 3)
			if err != nil {
				return err
			}
			for i, p := range again {
				want := first[i+2]
				if !p.Dup || p.PacketID != want.PacketID || p.Topic != want.Topic || !bytes.Equal(p.Payload, want.Payload) {
					t.Errorf("resent #%d = dup %v id %d %s %s; want dup, id %d %s %s", i, p.Dup, p.PacketID, p.Topic, p.Payload,
						want.PacketID, want.Topic, want.Payload)
				}
			}
			for _, p := range again {
				conn.Write(mqttwire.AppendPuback(nil, p.PacketID))
			}
			// The client disconnects once everything is acknowledged.
			p, err := r.Next()
			if err == nil && p.Type != mqttwire.DISCONNECT {
				t.Errorf("after the last PUBACK: %s, want DISCONNECT", p.Type)
			}
			check <- nil
			return err
		},
	)
	cfg, err := parseFlags([]string{"-broker", addr, "-devices", "1", "-messages", "5", "-inflight", "8",
		"-device-prefix", "dev-", "-username", "demo-gateway", "-password", "secret", "-connect-rate", "0"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Load(context.Background(), cfg, nil, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	<-check
	if rep.Published != 5 || rep.Acked != 5 || rep.Resent != 3 || rep.Reconnects != 1 || rep.Failed != 0 {
		t.Fatalf("report %+v: want published 5, acked 5, resent 3, reconnects 1, failed 0", rep)
	}
	for i, p := range first {
		if p.Dup || p.QoS != 1 || !strings.HasPrefix(p.Topic, "devices/dev-0/sensors/bench_") {
			t.Errorf("first send #%d: dup %v qos %d topic %s", i, p.Dup, p.QoS, p.Topic)
		}
	}
}

func TestRefusedConnectStopsTheRun(t *testing.T) {
	addr := scriptedBroker(t, func(conn net.Conn, r *mqttwire.Reader) error {
		if _, err := expectConnect(r); err != nil {
			return err
		}
		conn.Write(mqttwire.AppendConnack(nil, mqttwire.Connack{ReturnCode: 5}))
		return nil
	})
	err := Run(context.Background(), []string{"-broker", addr, "-devices", "1", "-messages", "3"}, io.Discard, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "not authorized") {
		t.Fatalf("Run = %v, want a refusal naming 'not authorized'", err)
	}
}

// TestUnackedReadingsFail: a broker that never acknowledges makes the device
// give up, the readings count as failed and the run returns an error.
func TestUnackedReadingsFail(t *testing.T) {
	addr := scriptedBroker(t, func(conn net.Conn, r *mqttwire.Reader) error {
		if _, err := expectConnect(r); err != nil {
			return err
		}
		conn.Write(mqttwire.AppendConnack(nil, mqttwire.Connack{}))
		_, err := readPublishes(r, 2)
		io.Copy(io.Discard, conn) // swallow resends until the client leaves
		return err
	})
	rep, err := runJSON(t, "-broker", addr, "-devices", "1", "-messages", "2", "-ack-timeout", "10m", "-give-up", "300ms")
	if err == nil || !strings.Contains(err.Error(), "2 readings failed") {
		t.Fatalf("Run = %v, want '2 readings failed'", err)
	}
	if rep.Acked != 0 || rep.Failed != 2 || rep.DevicesGaveUp != 1 {
		t.Fatalf("acked %d failed %d gave up %d, want 0, 2, 1", rep.Acked, rep.Failed, rep.DevicesGaveUp)
	}
}

// TestResendWhenOnePubackIsWithheld: the broker acknowledges every reading
// but the first, as mqflux does when the spool is full for one reading and
// has room again for the next. The device must notice the old reading and
// reconnect to resend it while the stream goes on, not only once it ends.
func TestResendWhenOnePubackIsWithheld(t *testing.T) {
	const messages = 40
	firstConn := make(chan int, 1)
	addr := scriptedBroker(t,
		func(conn net.Conn, r *mqttwire.Reader) error {
			if _, err := expectConnect(r); err != nil {
				return err
			}
			conn.Write(mqttwire.AppendConnack(nil, mqttwire.Connack{}))
			n := 0
			for {
				pubs, err := readPublishes(r, 1)
				if err != nil {
					firstConn <- n // the client left to resend
					return nil
				}
				if n++; n > 1 {
					conn.Write(mqttwire.AppendPuback(nil, pubs[0].PacketID))
				}
			}
		},
		func(conn net.Conn, r *mqttwire.Reader) error {
			if _, err := expectConnect(r); err != nil {
				return err
			}
			conn.Write(mqttwire.AppendConnack(nil, mqttwire.Connack{}))
			for {
				p, err := r.Next()
				if err != nil || p.Type == mqttwire.DISCONNECT {
					return nil
				}
				pub, err := mqttwire.DecodePublish(p)
				if err != nil {
					return err
				}
				conn.Write(mqttwire.AppendPuback(nil, pub.PacketID))
			}
		},
	)
	// 40 readings at 10/s: four seconds of stream, PUBACKs every 100 ms.
	rep, err := runJSON(t, "-broker", addr, "-devices", "1", "-messages", fmt.Sprint(messages), "-rate", "10",
		"-inflight", "8", "-ack-timeout", "500ms", "-connect-rate", "0")
	if err != nil {
		t.Fatal(err)
	}
	if n := <-firstConn; n >= messages {
		t.Errorf("the device sent all %d readings before resending the one without PUBACK", n)
	}
	// The withheld reading is resent, and with it any whose PUBACK was
	// still on its way when the connection closed.
	if rep.Acked != messages || rep.Reconnects != 1 || rep.Resent < 1 {
		t.Errorf("acked %d, reconnects %d, resent %d; want %d, 1, at least 1", rep.Acked, rep.Reconnects, rep.Resent, messages)
	}
}
