// SPDX-License-Identifier: MIT

package mqtt

// mqflux patch (slow-start): a connected client's inflight window starts
// at Capabilities.InitialInflight and grows by one for each delivery it
// acknowledges, up to Capabilities.MaximumInflight, as TCP's congestion
// window does: it doubles with each round trip of a client that reads. A
// subscriber that never acknowledges (a laptop asleep, its connection
// open) so costs InitialInflight deliveries, copies held and written into
// its socket, instead of MaximumInflight; past its window its deliveries
// are dropped as a full window's are. A session that comes back with
// messages in flight starts that many above InitialInflight. An offline
// session's queue is bounded by MaximumInflight as before, and
// InitialInflight 0 turns this off: the window is MaximumInflight from the
// start, as upstream.

// inflightLimit is how many QoS 1 and 2 messages may be in flight to cl
// before a delivery to it is dropped: its window while it is connected,
// MaximumInflight otherwise.
func (s *Server) inflightLimit(cl *Client) int {
	max := int(s.Options.Capabilities.MaximumInflight)
	if w := int(cl.State.window.Load()); w > 0 && w < max {
		return w
	}
	return max
}

// startWindow opens cl's window once its session is settled (inherited or
// new): InitialInflight above what it has in flight.
func (s *Server) startWindow(cl *Client) {
	initial := int(s.Options.Capabilities.InitialInflight)
	if initial == 0 {
		return
	}
	cl.State.window.Store(int32(min(cl.State.Inflight.Len()+initial, int(s.Options.Capabilities.MaximumInflight))))
}

// closeWindow ends cl's window with its connection: what is queued for
// the session from now on is bounded by MaximumInflight.
func (cl *Client) closeWindow() { cl.State.window.Store(0) }

// widenWindow grows cl's window by one for a delivery it acknowledged.
func (s *Server) widenWindow(cl *Client) {
	max := int32(s.Options.Capabilities.MaximumInflight)
	for {
		w := cl.State.window.Load()
		if w <= 0 || w >= max || cl.State.window.CompareAndSwap(w, w+1) {
			return
		}
	}
}
