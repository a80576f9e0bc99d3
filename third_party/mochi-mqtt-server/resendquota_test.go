// SPDX-License-Identifier: MIT

package mqtt

import (
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/mochi-mqtt/server/v2/system"
	"github.com/stretchr/testify/require"
)

// mqflux patch (resend-quota): a session that comes back to more queued
// messages than its Receive Maximum is resent at most that many, and each
// PUBACK releases the next one, once.

// wireReader decodes what the server writes to a test client's pipe.
func wireReader(t *testing.T, r net.Conn, version byte) <-chan packets.Packet {
	rd := newClient(r, &ops{
		info:    new(system.Info),
		hooks:   new(Hooks),
		log:     logger,
		options: &Options{Capabilities: &Capabilities{}},
	})
	rd.Properties.ProtocolVersion = version
	out := make(chan packets.Packet, 1024)
	go func() {
		defer close(out)
		for {
			var fh packets.FixedHeader
			if err := rd.ReadFixedHeader(&fh); err != nil {
				return
			}
			pk, err := rd.ReadPacket(&fh)
			if err != nil {
				t.Errorf("decode %v: %v", fh, err)
				return
			}
			out <- pk
		}
	}()
	return out
}

// written returns what the server wrote to cl since the last call: its
// write queue emptied first (deliveries go through the client's writer,
// a PINGRESP does not), then everything before the PINGRESP.
func written(t *testing.T, s *Server, cl *Client, wire <-chan packets.Packet) []packets.Packet {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for atomic.LoadInt32(&cl.State.outboundQty) > 0 {
		require.True(t, time.Now().Before(deadline), "the client's write queue never emptied")
		time.Sleep(time.Millisecond)
	}
	return untilPingresp(t, s, cl, wire)
}

// untilPingresp returns the packets written before the next PINGRESP: the
// server answers a PINGREQ after whatever it wrote before it.
func untilPingresp(t *testing.T, s *Server, cl *Client, wire <-chan packets.Packet) []packets.Packet {
	t.Helper()
	require.NoError(t, s.processPacket(cl, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pingreq}}))
	var got []packets.Packet
	deadline := time.After(30 * time.Second)
	for {
		select {
		case pk, ok := <-wire:
			require.True(t, ok, "connection closed")
			if pk.FixedHeader.Type == packets.Pingresp {
				return got
			}
			got = append(got, pk)
		case <-deadline:
			t.Fatalf("no PINGRESP; got %d packets", len(got))
		}
	}
}

func TestResendInflightRespectsTheSendQuota(t *testing.T) {
	cases := []struct {
		name    string
		version byte
		quota   int32 // the client's Receive Maximum; 0: none (MQTT 3.1.1)
		queued  int
		sent    int // of the queued, how many the last connection was sent
	}{
		{"mqtt5 all held", 5, 3, 10, 0},
		{"mqtt5 some sent, rest held", 5, 3, 10, 2},
		{"mqtt5 more sent than the quota", 5, 3, 10, 5},
		{"mqtt5 quota above the queue", 5, 20, 6, 2},
		{"mqtt5 quota of one", 5, 1, 5, 1},
		{"mqtt3 no quota: all at once", 4, 0, 10, 4},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := newServer()
			cl, r, w := newTestClient()
			defer func() { _ = w.Close(); _ = r.Close() }()
			cl.Properties.ProtocolVersion = tc.version
			cl.State.Inflight.ResetSendQuota(tc.quota)
			for id := 1; id <= tc.queued; id++ {
				pk := packets.Packet{
					FixedHeader:     packets.FixedHeader{Type: packets.Publish, Qos: 1},
					ProtocolVersion: tc.version,
					TopicName:       "devices/a/sensors/t",
					Payload:         []byte{byte(id)},
					PacketID:        uint16(id),
					Created:         1,
				}
				if id > tc.sent {
					pk.Expiry = -1 // held for the last connection's quota
				}
				cl.State.Inflight.Set(pk) // carried over, as Clone leaves them
			}
			s.Info.Inflight = int64(tc.queued)
			wire := wireReader(t, r, tc.version)

			limit := tc.queued
			if tc.quota > 0 && int(tc.quota) < limit {
				limit = int(tc.quota)
			}
			require.NoError(t, cl.ResendInflightMessages(true))
			outstanding := untilPingresp(t, s, cl, wire)
			require.Equal(t, limit, len(outstanding), "resent at once")

			var order []int
			for len(outstanding) > 0 {
				pk := outstanding[0]
				outstanding = outstanding[1:]
				require.Equal(t, packets.Publish, pk.FixedHeader.Type)
				id := int(pk.Payload[0])
				order = append(order, id)
				require.Equal(t, id <= tc.sent, pk.FixedHeader.Dup, "DUP of message %d", id)
				ack := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: pk.PacketID, ProtocolVersion: tc.version}
				require.NoError(t, s.processPacket(cl, ack))
				next := written(t, s, cl, wire)
				require.LessOrEqual(t, len(next), 1, "one PUBACK releases one message at most")
				outstanding = append(outstanding, next...)
				require.LessOrEqual(t, len(outstanding), limit, "never more in flight than the quota")
			}
			want := make([]int, tc.queued)
			for i := range want {
				want[i] = i + 1
			}
			require.Equal(t, want, order, "each once, oldest first")
			require.Equal(t, 0, cl.State.Inflight.Len())
			require.Equal(t, int64(0), s.Info.Inflight)
			require.Equal(t, tc.quota, cl.State.Inflight.sendQuota, "the quota is back for live messages")
		})
	}
}
