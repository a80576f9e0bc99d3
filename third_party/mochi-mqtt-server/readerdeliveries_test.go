// SPDX-License-Identifier: MIT

package mqtt

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/stretchr/testify/require"
)

// mqflux patch: tests of what a delivery to a subscriber that reads and
// acknowledges costs (the inflight lock alone, one lookup per PUBACK, a
// packet decoded in place).

// waitWritten waits until cl's writer has written all that was queued.
func waitWritten(t *testing.T, cl *Client) {
	deadline := time.Now().Add(time.Minute)
	for atomic.LoadInt32(&cl.State.outboundQty) > 0 {
		if time.Now().After(deadline) {
			t.Fatal("the writer never emptied the queue")
		}
		time.Sleep(time.Millisecond)
	}
}

// A PUBACK for a delivery, from its bytes to the freed inflight slot,
// allocates nothing: upstream copied the bytes before decoding them (they
// are the packet's own already) — one allocation for every PUBACK.
func TestPubackOfADeliveryAllocatesNothing(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	s := quietServer(65535)
	cl := freshSubscriber(t, s, "reader")
	for i := 0; i < 300; i++ {
		s.publishToSubscribers(reading("devices/a/sensors/t", 1))
	}
	waitWritten(t, cl)
	var bodies [][]byte
	for _, pk := range cl.State.Inflight.GetAll(false) {
		bodies = append(bodies, []byte{byte(pk.PacketID >> 8), byte(pk.PacketID)})
	}
	require.Len(t, bodies, 300)
	fh := packets.FixedHeader{Type: packets.Puback, Remaining: 2}
	next := 0
	perPuback := testing.AllocsPerRun(200, func() {
		pk, err := cl.decodePacket(&fh, bodies[next])
		next++
		if err == nil {
			err = s.processPacket(cl, pk)
		}
		if err != nil {
			t.Fatal(err)
		}
	})
	require.Equal(t, 300-next, cl.State.Inflight.Len(), "each PUBACK frees its delivery")
	require.Zero(t, perPuback, "allocations per PUBACK")
}

// A PUBACK for an id not in flight (a duplicate, or one never sent) is
// ignored, and takes nothing from the window.
func TestPubackForAnUnknownIDIsIgnored(t *testing.T) {
	s := quietServer(16)
	cl := freshSubscriber(t, s, "reader")
	s.publishToSubscribers(reading("devices/a/sensors/t", 1))
	msgs := cl.State.Inflight.GetAll(false)
	require.Len(t, msgs, 1)
	inflight := atomic.LoadInt64(&s.Info.Inflight)
	puback := func(id uint16) error {
		return s.processPacket(cl, packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: id})
	}
	require.NoError(t, puback(msgs[0].PacketID+1))
	require.Equal(t, 1, cl.State.Inflight.Len())
	require.NoError(t, puback(msgs[0].PacketID))
	require.Zero(t, cl.State.Inflight.Len())
	require.NoError(t, puback(msgs[0].PacketID)) // again
	require.Equal(t, inflight-1, atomic.LoadInt64(&s.Info.Inflight), "counted once")
}

// NextPacketID and deliveries share the client's packet ids under the
// inflight lock alone: deliveries took 1 to 3, so the next free is 4, and
// an id in flight is skipped. Run with -race, callers of both at once
// also show the counter needs no other lock.
func TestNextPacketIDFollowsDeliveries(t *testing.T) {
	s := quietServer(1024)
	cl := freshSubscriber(t, s, "reader")
	for i := 0; i < 3; i++ {
		s.publishToSubscribers(reading("devices/a/sensors/t", 1))
	}
	id, err := cl.NextPacketID()
	require.NoError(t, err)
	require.Equal(t, uint32(4), id)
	cl.State.Inflight.Set(packets.Packet{PacketID: 6})
	s.publishToSubscribers(reading("devices/a/sensors/t", 1)) // takes 5
	id, err = cl.NextPacketID()
	require.NoError(t, err)
	require.Equal(t, uint32(7), id, "6 is in flight")

	var wg sync.WaitGroup
	var bad atomic.Int64
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				if g%2 == 0 {
					s.publishToSubscribers(reading("devices/a/sensors/t", 1))
				} else if id, err := cl.NextPacketID(); err != nil || id == 0 {
					bad.Add(1)
				}
			}
		}(g)
	}
	wg.Wait()
	require.Zero(t, bad.Load())
	ids := map[uint16]bool{}
	for _, pk := range cl.State.Inflight.GetAll(false) {
		require.False(t, ids[pk.PacketID], "packet id %d twice", pk.PacketID)
		ids[pk.PacketID] = true
	}
	require.Len(t, ids, 4+1+400)
}

// The writer learns from the queue whether more packets follow the one it
// takes, so that it buffers it without asking the queue again.
func TestOutboundQueueNextSaysWhetherMoreWait(t *testing.T) {
	var q outboundQueue
	a, b := new(packets.Packet), new(packets.Packet)
	q.push(a, 8)
	q.push(b, 8)
	pk, more, ok := q.next()
	require.True(t, ok)
	require.Same(t, a, pk)
	require.True(t, more)
	pk, more, ok = q.next()
	require.True(t, ok)
	require.Same(t, b, pk)
	require.False(t, more)
	_, _, ok = q.next()
	require.False(t, ok)
	require.False(t, q.writing, "the writer ends")
}

// Packets decoded in place keep their own bytes: the payload of one packet
// is untouched by reading and decoding the next.
func TestDecodedPacketsKeepTheirBytes(t *testing.T) {
	cl, r, _ := newTestClient()
	defer r.Close()
	go func() {
		_, _ = r.Write(append(rawPublishQos1("a/b", "one"), rawPublishQos1("a/b", "two")...))
	}()
	var fh packets.FixedHeader
	body, err := cl.readRaw(&fh)
	require.NoError(t, err)
	first, err := cl.decodePacket(&fh, body)
	require.NoError(t, err)
	body, err = cl.readRaw(&fh)
	require.NoError(t, err)
	second, err := cl.decodePacket(&fh, body)
	require.NoError(t, err)
	require.Equal(t, "one", string(first.Payload))
	require.Equal(t, "two", string(second.Payload))
	require.Equal(t, "a/b", first.TopicName)
}
