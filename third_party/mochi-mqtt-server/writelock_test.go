// SPDX-License-Identifier: MIT

package mqtt

import (
	"net"
	"testing"
	"time"

	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/stretchr/testify/require"
)

// stuckConn is a connection whose writes wait until released, as a write to
// a client that stopped reading does once its socket buffers are full.
type stuckConn struct {
	net.Conn
	entered chan struct{}
	release chan struct{}
}

func (c *stuckConn) Write(p []byte) (int, error) {
	c.entered <- struct{}{}
	<-c.release
	return len(p), nil
}

// mqflux patch: a write waiting for the network holds the client's write
// lock only. A delivery to the same client, which a publisher's runner
// makes (a packet id, an inflight entry, the queue), goes through while the
// write waits; with the client's own lock held across the write, the
// publisher's runner waited as long as the subscriber did not read.
func TestWriteLockLeavesPacketIDsFree(t *testing.T) {
	s := newServer()
	cl, _, w := newTestClient()
	stuck := &stuckConn{Conn: w, entered: make(chan struct{}, 1), release: make(chan struct{})}
	cl.Net.Conn = stuck
	defer close(stuck.release)

	written := make(chan error, 1)
	go func() {
		written <- cl.WritePacket(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Pingresp}})
	}()
	<-stuck.entered // the write waits for the network now

	delivered := make(chan error, 1)
	go func() {
		if _, err := cl.NextPacketID(); err != nil {
			delivered <- err
			return
		}
		pk := packets.Packet{TopicName: "a/b", Payload: []byte("1"), FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 1}}
		_, err := s.publishToClient(cl, packets.Subscription{Filter: "a/b", Qos: 1}, pk)
		delivered <- err
	}()
	select {
	case err := <-delivered:
		require.NoError(t, err)
	case <-time.After(10 * time.Second):
		t.Fatal("a delivery to the client waited for its write to the network")
	}
	require.Equal(t, 1, cl.State.Inflight.Len(), "the delivery is inflight")

	stuck.release <- struct{}{}
	require.NoError(t, <-written)
}
