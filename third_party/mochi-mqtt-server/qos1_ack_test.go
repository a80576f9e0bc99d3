package mqtt

import (
	"io"
	"sync/atomic"
	"testing"

	"github.com/mochi-mqtt/server/v2/packets"
	"github.com/stretchr/testify/require"
)

// qosCountingHook counts the QoS hooks a PUBACK goes through (mqflux patch test).
type qosCountingHook struct {
	HookBase
	published, completed atomic.Int32
}

func (h *qosCountingHook) ID() string { return "qos-counting" }
func (h *qosCountingHook) Provides(b byte) bool {
	return b == OnQosPublish || b == OnQosComplete
}
func (h *qosCountingHook) OnQosPublish(*Client, packets.Packet, int64, int) { h.published.Add(1) }
func (h *qosCountingHook) OnQosComplete(*Client, packets.Packet)            { h.completed.Add(1) }

// A QoS 1 publish is acknowledged without its PUBACK staying in (or going
// through) the inflight map; the hooks see one publish and one completion.
func TestServerProcessPublishQos1AckSkipsInflight(t *testing.T) {
	s := newServer()
	hook := new(qosCountingHook)
	require.NoError(t, s.AddHook(hook, nil))
	_ = s.Serve()
	defer s.Close()
	cl, r, w := newTestClient()
	s.Clients.Add(cl)
	go func() {
		require.NoError(t, s.processPublish(cl, *packets.TPacketData[packets.Publish].Get(packets.TPublishQos1).Packet))
		_ = w.Close()
	}()
	buf, err := io.ReadAll(r)
	require.NoError(t, err)
	require.Equal(t, packets.TPacketData[packets.Puback].Get(packets.TPuback).RawBytes, buf)
	require.Equal(t, 0, cl.State.Inflight.Len())
	require.Equal(t, int64(0), atomic.LoadInt64(&s.Info.Inflight))
	require.Equal(t, int32(1), hook.published.Load())
	require.Equal(t, int32(1), hook.completed.Load())
}

// A QoS 1 PUBACK that cannot be written stays inflight, as before the patch.
func TestServerProcessPublishQos1AckFailureKeepsAck(t *testing.T) {
	s := newServer()
	_ = s.Serve()
	defer s.Close()
	cl, _, w := newTestClient()
	s.Clients.Add(cl)
	_ = w.Close()
	err := s.processPublish(cl, *packets.TPacketData[packets.Publish].Get(packets.TPublishQos1).Packet)
	require.ErrorIs(t, err, io.ErrClosedPipe)
	require.Equal(t, 1, cl.State.Inflight.Len())
	require.Equal(t, int64(1), atomic.LoadInt64(&s.Info.Inflight))
}
