// SPDX-License-Identifier: MIT

package mqtt

import (
	"bytes"
	"io"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/stretchr/testify/require"
)

// mqflux patch: a writer is started by the push that finds none running,
// and ends when it finds the queue empty; the next push starts another.
func TestOutboundQueueStartsAWriterOnlyWhenNoneRuns(t *testing.T) {
	var q outboundQueue
	a, b, c := new(packets.Packet), new(packets.Packet), new(packets.Packet)

	steps := []struct {
		name      string
		push      *packets.Packet // else pop
		ok, start bool
		popped    *packets.Packet
	}{
		{name: "first push starts a writer", push: a, ok: true, start: true},
		{name: "second push finds it running", push: b, ok: true, start: false},
		{name: "full", push: c, ok: false, start: false},
		{name: "pop oldest", ok: true, popped: a},
		{name: "pop next", ok: true, popped: b},
		{name: "empty: the writer ends", ok: false},
		{name: "push after the writer ended starts one", push: c, ok: true, start: true},
	}
	for _, s := range steps {
		if s.push != nil {
			ok, start := q.push(s.push, 2)
			require.Equal(t, s.ok, ok, s.name)
			require.Equal(t, s.start, start, s.name)
			continue
		}
		pk, ok := q.pop()
		require.Equal(t, s.ok, ok, s.name)
		require.Same(t, s.popped, pk, s.name)
	}
	require.Equal(t, 1, q.Len())
}

// mqflux patch: a queue that never empties reuses the slots already sent
// instead of growing.
func TestOutboundQueueStaysBoundedWhileNeverEmpty(t *testing.T) {
	var q outboundQueue
	var want []*packets.Packet
	for i := 0; i < 10_000; i++ {
		pk := &packets.Packet{PacketID: uint16(i)}
		want = append(want, pk)
		ok, _ := q.push(pk, 8)
		require.True(t, ok)
		if i >= 4 { // keep 4 or 5 waiting
			got, ok := q.pop()
			require.True(t, ok)
			require.Same(t, want[0], got)
			want = want[1:]
		}
	}
	require.Equal(t, len(want), q.Len())
	require.LessOrEqual(t, cap(q.pks), 16)
}

// mqflux patch: no write loop runs for a new client; a delivery starts
// the writer, and deliveries arrive in the order they were queued.
func TestPublishToClientStartsTheWriter(t *testing.T) {
	s := newServer()
	cl, r, w := newTestClient()
	s.Clients.Add(cl)
	cl.ops.options.Capabilities.MaximumClientWritesPending = 100
	require.False(t, cl.State.outbound.writing)

	var want []byte
	for _, topic := range []string{"a/1", "a/2", "a/3"} {
		pk := packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Publish}, TopicName: topic, Payload: []byte("x")}
		enc := pk
		enc.ProtocolVersion = cl.Properties.ProtocolVersion
		enc.Mods.AllowResponseInfo = true
		var buf bytes.Buffer
		require.NoError(t, enc.PublishEncode(&buf))
		want = append(want, buf.Bytes()...)
		_, err := s.publishToClient(cl, packets.Subscription{Filter: "a/+"}, pk)
		require.NoError(t, err)
	}

	got := make([]byte, len(want))
	_, err := io.ReadFull(r, got)
	require.NoError(t, err)
	require.Equal(t, want, got)
	_ = w.Close()
}

// mqflux patch (sendNextInflight): once a packet is processed and send
// quota is free, the oldest message waiting for quota goes out and stays
// in flight for its PUBACK (patch resend-quota: it left the map, and the
// PUBACK that should give the quota back was ignored).
func TestServerProcessPacketSendsTheNextWaitingInflight(t *testing.T) {
	s := newServer()
	cl, r, w := newTestClient()
	waiting := *packets.TPacketData[packets.Publish].Get(packets.TPublishQos1).Packet
	waiting.Expiry = -1 // queued for lack of send quota
	cl.State.Inflight.Set(waiting)
	s.Info.Inflight = 1

	go func() {
		err := s.processPacket(cl, *packets.TPacketData[packets.Pingreq].Get(packets.TPingreq).Packet)
		require.NoError(t, err)
		// mqflux patch (held-order): the released message goes through
		// the client's write queue; closed once the queue has written it.
		for atomic.LoadInt32(&cl.State.outboundQty) > 0 {
			time.Sleep(time.Millisecond)
		}
		_ = w.Close()
	}()

	buf, err := io.ReadAll(r)
	require.NoError(t, err)
	want := append([]byte{}, packets.TPacketData[packets.Pingresp].Get(packets.TPingresp).RawBytes...)
	want = append(want, packets.TPacketData[packets.Publish].Get(packets.TPublishQos1).RawBytes...)
	require.Equal(t, want, buf)
	require.Equal(t, 1, cl.State.Inflight.Len())
	require.Equal(t, int64(1), s.Info.Inflight)
	require.Equal(t, int32(4), cl.State.Inflight.sendQuota)
	sent, ok := cl.State.Inflight.Get(waiting.PacketID)
	require.True(t, ok)
	require.GreaterOrEqual(t, sent.Expiry, int64(0), "no longer held")
}
