// SPDX-License-Identifier: MIT

package mqtt

import (
	"sync"
	"sync/atomic"
	"testing"

	"github.com/stretchr/testify/require"
)

// mqflux patch (send-quota-race): deliveries made at once to an MQTT 5
// client never send it more than its Receive Maximum: each takes one of
// its send quota, or is held, in one step. A check of the quota and a
// decrease apart let two deliveries take the last one, and the quota went
// below zero, where nothing was held any more.
func TestConcurrentDeliveriesKeepTheSendQuota(t *testing.T) {
	const quota, publishers, each = 5, 8, 50
	for round := 0; round < 20; round++ {
		s := quietServer(1024)
		cl := freshSubscriber(t, s, "reader")
		cl.State.Inflight.ResetSendQuota(quota) // an MQTT 5 Receive Maximum
		start := make(chan struct{})
		var wg sync.WaitGroup
		for p := 0; p < publishers; p++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				for i := 0; i < each; i++ {
					s.publishToSubscribers(reading("devices/a/sensors/t", 1))
				}
			}()
		}
		close(start)
		wg.Wait()
		sent := 0
		for _, pk := range cl.State.Inflight.GetAll(false) {
			if pk.Expiry != -1 {
				sent++
			}
		}
		require.Equal(t, publishers*each, cl.State.Inflight.Len(), "round %d: every delivery in flight, sent or held", round)
		require.Equal(t, quota, sent, "round %d: sent, not held", round)
		require.Zero(t, atomic.LoadInt32(&cl.State.Inflight.sendQuota), "round %d: the quota, all taken", round)
	}
}
