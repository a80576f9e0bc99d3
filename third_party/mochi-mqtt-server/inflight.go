// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2023 mochi-mqtt, mochi-co
// SPDX-FileContributor: mochi-co

package mqtt

import (
	"errors"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/mochi-mqtt/server/v2/packets"
)

// Inflight is a map of InflightMessage keyed on packet id.
type Inflight struct {
	sync.RWMutex
	internal            map[uint16]inflightEntry // internal contains the inflight packets (mqflux patch: by pointer, see add)
	n                   atomic.Int32             // mqflux patch: len(internal), for Len without the lock
	next                uint64                   // mqflux patch: the next inflightEntry.order
	expiring            int                      // mqflux patch: packets with an MQTT 5 expiry, see MayExpire
	held                int                      // mqflux patch (held-order): publishes held for the send quota, see add
	resending           bool                     // mqflux patch (resend-order): a returning session's queue not sent again yet, see add
	moved               bool                     // mqflux patch (takeover): the session went to another connection, see moveTo
	receiveQuota        int32                    // remaining inbound qos quota for flow control
	sendQuota           int32                    // remaining outbound qos quota for flow control
	maximumReceiveQuota int32                    // maximum allowed receive quota
	maximumSendQuota    int32                    // maximum allowed send quota
}

// inflightEntry is a packet in flight and when its packet id was first set
// (see GetAll). mqflux patch: the order was a second map beside the
// packets, and every delivery and acknowledgement updated both.
// expiring caches selfExpiring(pk): an acknowledgement comes long after
// the delivery, and reading the packet again only for that missed the
// cache.
//
// live (mqflux patch, resend-quota) says that the entry was sent, or held
// for the send quota, on the client's present connection: a resend on
// reconnect (resendPlan) handles only the entries that are not live, so
// that it never sends again what this connection sent already.
//
// An entry holds its message either as pk or, queued for a client that
// is not connected, as q (mqflux patch, compact-queue); see packet.
type inflightEntry struct {
	pk       *packets.Packet
	q        *queuedPublish
	order    uint64
	expiring bool
	live     bool
}

// packet returns the entry's message.
func (e inflightEntry) packet() packets.Packet {
	if e.pk != nil {
		return *e.pk
	}
	return e.q.packet()
}

// expiry returns the message's Expiry (-1: held for the send quota).
func (e inflightEntry) expiry() int64 {
	if e.pk != nil {
		return e.pk.Expiry
	}
	return e.q.expiry
}

// held says whether the message is a publish held for the send quota.
func (e inflightEntry) held() bool {
	if e.pk != nil {
		return isHeld(e.pk)
	}
	return e.q != nil && e.q.expiry < 0
}

// created returns the message's Created.
func (e inflightEntry) created() int64 {
	if e.pk != nil {
		return e.pk.Created
	}
	return e.q.created
}

// selfExpiring reports whether the message carries its own expiry.
func (e inflightEntry) selfExpiring() bool {
	if e.pk != nil {
		return selfExpiring(e.pk)
	}
	return e.q.version == 5 && e.q.expiry > 0
}

// NewInflights returns a new instance of an Inflight packets map.
func NewInflights() *Inflight {
	return &Inflight{
		internal: map[uint16]inflightEntry{},
	}
}

// Set adds or updates an inflight packet by packet id.
func (i *Inflight) Set(m packets.Packet) bool {
	i.Lock()
	defer i.Unlock()

	return i.put(&m)
}

// setQueued is Set for a client that is not connected: m is kept in its
// queued form where it has one (mqflux patch, compact-queue).
func (i *Inflight) setQueued(m packets.Packet) bool {
	i.Lock()
	defer i.Unlock()
	return i.putQueued(&m)
}

// putQueued stores pk in its queued form where it has one, or a copy of
// it; pk itself is not kept. i is locked (mqflux patch, compact-queue).
func (i *Inflight) putQueued(pk *packets.Packet) bool {
	if queueable(pk) {
		return i.putEntry(inflightEntry{q: queue(pk)}, pk.PacketID)
	}
	stored := *pk
	return i.put(&stored)
}

// setIfFree stores m unless its packet id is taken, and says whether it
// did (mqflux patch, packet-id-directions): the client's acknowledgements
// must not replace the server's own delivery of the same id.
func (i *Inflight) setIfFree(m packets.Packet) bool {
	i.Lock()
	defer i.Unlock()
	if _, ok := i.internal[m.PacketID]; ok {
		return false
	}
	return i.put(&m)
}

// put stores pk under its packet id; i is locked. pk is the stored
// packet: nobody changes it after (mqflux patch).
func (i *Inflight) put(pk *packets.Packet) bool {
	return i.putEntry(inflightEntry{pk: pk}, pk.PacketID)
}

// putEntry stores e, which holds a message, under id; i is locked.
func (i *Inflight) putEntry(e inflightEntry, id uint16) bool {
	old, ok := i.internal[id]
	if ok && old.expiring {
		i.expiring--
	}
	if ok {
		i.countHeld(old, -1)
	}
	i.countHeld(e, 1)
	e.expiring = e.selfExpiring()
	if e.expiring {
		i.expiring++
	}
	if ok {
		e.order = old.order
		i.internal[id] = e
		return false
	}
	e.order = i.next
	i.internal[id] = e
	i.next++
	i.n.Add(1)
	return true
}

// replace stores pk in place of the entry under its packet id, keeping its
// order, marked live; i is locked (mqflux patch, resend-quota).
func (i *Inflight) replace(e inflightEntry, pk *packets.Packet) {
	if e.expiring {
		i.expiring--
	}
	i.countHeld(e, -1)
	e.pk, e.q, e.expiring, e.live = pk, nil, selfExpiring(pk), true
	i.countHeld(e, 1)
	if e.expiring {
		i.expiring++
	}
	i.internal[pk.PacketID] = e
}

// add stores pk, which becomes the stored packet (nobody may change it
// after), under the next free packet id after *last, unless max packets
// are in flight already. mqflux patch: a delivery to a subscriber took
// the inflight lock four times (the window checked twice, every packet id
// tried, the packet set) and copied the packet into the map; runners
// delivering to the same subscriber at once waited for each other on
// every one. Now the window is checked, the id found and the packet set
// under one lock, and the packet queued for the client's writer is the
// one stored. The inflight lock is also what orders *last (the client's
// packet id, see Client.NextPacketID): a second lock around this one only
// made runners wait twice.
//
// limited says that the client has a send quota (an MQTT 5 Receive
// Maximum): pk then takes one of it, or is held (Expiry -1) and add
// reports it. mqflux patch (held-order): a publish is also held while
// older ones are, whatever the quota; taking a unit given back by a
// PUBACK before the oldest held message did, a live publish overtook the
// held ones, and the client saw its messages out of order ([MQTT-4.6.0-6]).
// Decided under the lock that holds and releases them (releaseNextQueued,
// resendPlan), so that no held message can be older than a publish sent.
//
// mqflux patch (resend-order): while a returning session's queue has not
// been sent again (resending, from Clone to the resend's last plan), pk
// is deferred: stored behind the queue, not live, and sent by the resend
// after it. Written at once, a live delivery went out while the resend
// was still writing the queue, among its last messages.
func (i *Inflight) add(pk *packets.Packet, last *uint32, maxID uint32, max int, limited bool) (held, deferred bool, err error) {
	i.Lock()
	defer i.Unlock()
	held, deferred, err = i.admit(pk, last, maxID, max, limited)
	if err != nil {
		return false, false, err
	}
	i.put(pk)
	if !deferred {
		i.markLive(pk.PacketID)
	}
	return held, deferred, nil
}

// addQueued is add for a client that is not connected (mqflux patch,
// compact-queue): pk is stored in its queued form where it has one, and
// pk itself is not kept, so that the caller's packet need not live on the
// heap.
func (i *Inflight) addQueued(pk *packets.Packet, last *uint32, maxID uint32, max int, limited bool) (held, deferred bool, err error) {
	i.Lock()
	defer i.Unlock()
	held, deferred, err = i.admit(pk, last, maxID, max, limited)
	if err != nil {
		return false, false, err
	}
	i.putQueued(pk)
	if !deferred {
		i.markLive(pk.PacketID)
	}
	return held, deferred, nil
}

// admit gives pk the next free packet id, and marks it held (Expiry -1)
// when it must wait for the send quota, for add and addQueued to store
// it; i is locked.
func (i *Inflight) admit(pk *packets.Packet, last *uint32, maxID uint32, max int, limited bool) (held, deferred bool, err error) {
	if i.moved {
		return false, false, errSessionMoved
	}
	if len(i.internal) >= max {
		return false, false, errInflightFull
	}
	id, err := i.nextFreeID(last, maxID)
	if err != nil {
		return false, false, err
	}
	pk.PacketID = id
	if i.resending {
		return false, true, nil
	}
	if limited && (i.held > 0 || !i.takeSendQuota()) {
		pk.Expiry = -1
		held = true
	}
	return held, false, nil
}

// markLive marks the entry under id as sent or held by this connection
// (mqflux patch, resend-quota); i is locked.
func (i *Inflight) markLive(id uint16) {
	e := i.internal[id]
	e.live = true
	i.internal[id] = e
}

// countHeld adds d to the count of held publishes if pk is one; i is
// locked (mqflux patch, held-order).
func (i *Inflight) countHeld(e inflightEntry, d int) {
	if e.held() {
		i.held += d
	}
}

// isHeld says whether pk is a publish held for the send quota.
func isHeld(pk *packets.Packet) bool {
	return pk != nil && pk.FixedHeader.Type == packets.Publish && pk.Expiry < 0
}

// nextFreeID finds the next packet id after *last not in flight and
// stores it in *last; i is locked (mqflux patch).
func (i *Inflight) nextFreeID(last *uint32, maxID uint32) (uint16, error) {
	id := atomic.LoadUint32(last)
	started, overflowed := id, false
	for {
		if overflowed && id == started {
			return 0, packets.ErrQuotaExceeded
		}
		if id >= maxID {
			overflowed, id = true, 0
			continue
		}
		id++
		if _, ok := i.internal[uint16(id)]; !ok {
			break
		}
	}
	atomic.StoreUint32(last, id)
	return uint16(id), nil
}

// nextID is nextFreeID under the lock (Client.NextPacketID).
func (i *Inflight) nextID(last *uint32, maxID uint32) (uint16, error) {
	i.Lock()
	defer i.Unlock()
	return i.nextFreeID(last, maxID)
}

// errInflightFull: add found max packets in flight (mqflux patch).
var errInflightFull = errors.New("inflight window full")

// errSessionMoved: add found the session taken over by another
// connection (mqflux patch, takeover; see moveTo).
var errSessionMoved = errors.New("session taken over")

// selfExpiring reports whether pk carries its own expiry (MQTT 5 only).
func selfExpiring(pk *packets.Packet) bool {
	return pk.ProtocolVersion == 5 && pk.Expiry > 0
}

// MayExpire reports whether any packet carries its own expiry (mqflux
// patch): without one, and without a server-wide maximum, nothing can
// expire and the once-a-second expiry scan has nothing to look at.
func (i *Inflight) MayExpire() bool {
	i.RLock()
	defer i.RUnlock()
	return i.expiring > 0
}

// Get returns an inflight packet by packet id.
func (i *Inflight) Get(id uint16) (packets.Packet, bool) {
	i.RLock()
	defer i.RUnlock()

	if m, ok := i.internal[id]; ok {
		return m.packet(), true
	}

	return packets.Packet{}, false
}

// Has says whether a packet is in flight under id, without the copy Get
// returns (mqflux patch).
func (i *Inflight) Has(id uint16) bool {
	i.RLock()
	defer i.RUnlock()
	_, ok := i.internal[id]
	return ok
}

// Len returns the size of the inflight messages map.
func (i *Inflight) Len() int {
	return int(i.n.Load()) // mqflux patch: no lock, see add
}

// Clone returns a new instance of Inflight with the same message data.
// This is used when transferring inflights from a taken-over session.
func (i *Inflight) Clone() *Inflight {
	c := NewInflights()
	i.RLock()
	defer i.RUnlock()
	i.copyInto(c)
	return c
}

// copyInto copies every message into dst, a new connection's map of the
// session; i is locked, and dst is locked or not shared yet (mqflux
// patch).
func (i *Inflight) copyInto(dst *Inflight) {
	for k, v := range i.internal {
		v.live = false // a new connection: for its resend (resend-quota)
		dst.internal[k] = v
	}
	dst.next, dst.expiring, dst.held = i.next, i.expiring, i.held
	dst.resending = true // until its client is sent the queue again (resendPlan)
	dst.n.Store(int32(len(dst.internal)))
}

// moveTo moves every message into dst, the new connection's map of a
// session taken over, and from then on refuses deliveries
// (errSessionMoved); a nil dst only refuses them (a session taken over
// by a clean start, cleared by the caller). mqflux patch (takeover): a
// copy left the source open, and a delivery made between the copy and
// the new client's registration stayed behind on the old client, lost
// when its map was cleared. Deliveries then go to the new client
// (publishToClient); its map is marked resending, so they wait behind
// the queue (see add).
func (i *Inflight) moveTo(dst *Inflight) {
	i.Lock()
	defer i.Unlock()
	i.moved = true
	if dst == nil {
		return
	}
	dst.Lock()
	defer dst.Unlock()
	i.copyInto(dst)
	i.internal = make(map[uint16]inflightEntry)
	i.expiring, i.held = 0, 0
	i.n.Store(0)
}

// GetAll returns all the inflight messages in the order they were first
// set (mqflux patch). Upstream sorts by uint16(Created): Created is in
// seconds, so messages of the same second came back in map order, and a
// session that reconnected got its queued messages shuffled.
func (i *Inflight) GetAll(immediate bool) []packets.Packet {
	i.RLock()
	defer i.RUnlock()
	return i.getAll(immediate)
}

func (i *Inflight) getAll(immediate bool) []packets.Packet {
	m := []packets.Packet{}
	for _, v := range i.internal {
		if !immediate || (immediate && v.expiry() < 0) {
			m = append(m, v.packet())
		}
	}

	sort.Slice(m, func(a, b int) bool {
		return i.internal[m[a].PacketID].order < i.internal[m[b].PacketID].order
	})

	return m
}

// Expired returns the packets that have expired at now, in no particular
// order (mqflux patch): a single pass under the read lock, where upstream
// copied and sorted every inflight packet of every client once a second.
func (i *Inflight) Expired(now, maximumExpiry int64) []packets.Packet {
	i.RLock()
	defer i.RUnlock()
	var m []packets.Packet
	for _, e := range i.internal {
		expired := e.selfExpiring() && e.expiry() < now // [MQTT-3.3.2-5]
		// If the maximum message expiry interval is set (greater than 0), and the message
		// retention period exceeds the maximum expiry, the message will be forcibly removed.
		enforced := maximumExpiry > 0 && now-e.created() > maximumExpiry
		if expired || enforced {
			m = append(m, e.packet())
		}
	}
	return m
}

// NextImmediate returns the next inflight packet which is indicated to be sent immediately.
// This typically occurs when the quota has been exhausted, and we need to wait until new quota
// is free to continue sending.
func (i *Inflight) NextImmediate() (packets.Packet, bool) {
	i.RLock()
	defer i.RUnlock()

	// mqflux patch: one pass for the earliest, instead of a sorted copy of
	// every packet on each acknowledgement (and a nested read lock, which
	// deadlocks if a writer queues between the two).
	next, ok := i.nextHeld()
	if !ok {
		return packets.Packet{}, false
	}
	return next.packet(), true
}

// releaseNextQueued marks the earliest message held for the send quota as
// sent and puts it in the client's write queue (queue) before the lock is
// let go (mqflux patch, resend-quota and release-order). Upstream
// (NextImmediate, then Delete) wrote it and removed it from the map: its
// PUBACK was then ignored, the quota it took never came back, and once
// every slot was lost so, the client got nothing more. It stays in flight
// now, for its PUBACK. Under the lock, so that a message is released
// once. Queued after the lock, a live delivery could find nothing held in
// between, be sent at once and reach the write queue first: the client
// saw a live message ahead of the last held one. A message the queue
// refuses is deleted here, under the same lock, and reported not queued;
// the caller rolls the rest of it back.
func (i *Inflight) releaseNextQueued(maximumExpiry int64, queue func(*packets.Packet) bool) (pk *packets.Packet, ok, queued bool) {
	i.Lock()
	defer i.Unlock()
	next, ok := i.nextHeld()
	if !ok {
		return nil, false, false
	}
	released := release(next.packet(), maximumExpiry)
	pk = &released
	i.replace(next, pk)
	if queue(pk) {
		return pk, true, true
	}
	i.deleteLocked(pk.PacketID)
	return pk, true, false
}

// nextHeld returns the earliest entry whose Expiry is below 0 (mqflux
// patch); i is locked.
func (i *Inflight) nextHeld() (next inflightEntry, ok bool) {
	for _, v := range i.internal {
		if v.expiry() < 0 && (!ok || v.order < next.order) {
			next, ok = v, true
		}
	}
	return next, ok
}

// release returns the held packet pk as sent: with the expiry it had
// before it was held (Expiry -1 marked it held), computed again as
// processPublish computes it (mqflux patch, resend-quota).
func release(pk packets.Packet, maximumExpiry int64) packets.Packet {
	pk.Expiry = 0
	if expiry := minimum(maximumExpiry, int64(pk.Properties.MessageExpiryInterval)); expiry > 0 {
		pk.Expiry = pk.Created + expiry
	}
	return pk
}

// resendPlan returns what a reconnected client is sent again, oldest
// first, and marks it live (mqflux patch, resend-quota): the messages not
// sent on this connection yet, a PUBLISH of QoS 1 or 2 only while the
// client's send quota (its Receive Maximum) lasts, the rest held for it
// (Expiry -1) for each acknowledgement to release one (releaseNextQueued).
// A PUBLISH sent before is marked DUP, a held one is sent for the first
// time. Upstream resent every message, the held ones too, past the
// client's Receive Maximum, and each acknowledgement then released a held
// one a second time. Under the lock, so that an acknowledgement arriving
// meanwhile releases only what the plan held.
func (i *Inflight) resendPlan(maximumExpiry int64) []packets.Packet {
	i.Lock()
	defer i.Unlock()
	var todo []inflightEntry
	for _, v := range i.internal {
		if !v.live {
			todo = append(todo, v)
		}
	}
	if len(todo) == 0 {
		i.resending = false // the queue is sent: deliveries go out as made (add)
		return nil
	}
	sort.Slice(todo, func(a, b int) bool { return todo[a].order < todo[b].order })
	limited := atomic.LoadInt32(&i.maximumSendQuota) > 0
	// mqflux patch (held-order): once one is held, every later one is;
	// so is every one while this connection holds others already (a
	// plan after the first). What the plan holds again is not counted.
	holding := i.held
	for _, e := range todo {
		if e.held() {
			holding--
		}
	}
	out := make([]packets.Packet, 0, len(todo))
	for _, e := range todo {
		pk := e.packet()
		if pk.FixedHeader.Type != packets.Publish {
			e.live = true
			i.internal[pk.PacketID] = e
			out = append(out, pk)
			continue
		}
		if pk.FixedHeader.Qos > 0 && limited && (holding > 0 || !i.takeSendQuota()) {
			holding++
			if pk.Expiry >= 0 {
				pk.Expiry = -1
				pk.FixedHeader.Dup = true // sent before: its release is a resend
			}
			i.replace(e, &pk)
			continue
		}
		if pk.Expiry < 0 {
			pk = release(pk, maximumExpiry)
		} else {
			pk.FixedHeader.Dup = true // [MQTT-3.3.1-1] [MQTT-3.3.1-3]
		}
		stored := pk
		i.replace(e, &stored)
		out = append(out, pk)
	}
	return out
}

// takeSendQuota takes one of the send quota if there is one (mqflux
// patch, resend-quota): a check and a decrease apart let two callers take
// the last one.
func (i *Inflight) takeSendQuota() bool {
	for {
		q := atomic.LoadInt32(&i.sendQuota)
		if q <= 0 {
			return false
		}
		if atomic.CompareAndSwapInt32(&i.sendQuota, q, q-1) {
			return true
		}
	}
}

// Delete removes an in-flight message from the map. Returns true if the message existed.
func (i *Inflight) Delete(id uint16) bool {
	i.Lock()
	defer i.Unlock()

	return i.deleteLocked(id)
}

// deleteLocked is Delete with i locked (mqflux patch, release-order).
func (i *Inflight) deleteLocked(id uint16) bool {
	old, ok := i.internal[id]
	if !ok {
		return false
	}
	if old.expiring {
		i.expiring--
	}
	i.countHeld(old, -1)
	i.n.Add(-1)
	delete(i.internal, id)
	return true
}

// TakeRecieveQuota reduces the receive quota by 1.
func (i *Inflight) DecreaseReceiveQuota() {
	if atomic.LoadInt32(&i.receiveQuota) > 0 {
		atomic.AddInt32(&i.receiveQuota, -1)
	}
}

// TakeRecieveQuota increases the receive quota by 1.
func (i *Inflight) IncreaseReceiveQuota() {
	if atomic.LoadInt32(&i.receiveQuota) < atomic.LoadInt32(&i.maximumReceiveQuota) {
		atomic.AddInt32(&i.receiveQuota, 1)
	}
}

// ResetReceiveQuota resets the receive quota to the maximum allowed value.
func (i *Inflight) ResetReceiveQuota(n int32) {
	atomic.StoreInt32(&i.receiveQuota, n)
	atomic.StoreInt32(&i.maximumReceiveQuota, n)
}

// DecreaseSendQuota reduces the send quota by 1.
func (i *Inflight) DecreaseSendQuota() {
	if atomic.LoadInt32(&i.sendQuota) > 0 {
		atomic.AddInt32(&i.sendQuota, -1)
	}
}

// IncreaseSendQuota increases the send quota by 1.
func (i *Inflight) IncreaseSendQuota() {
	if atomic.LoadInt32(&i.sendQuota) < atomic.LoadInt32(&i.maximumSendQuota) {
		atomic.AddInt32(&i.sendQuota, 1)
	}
}

// ResetSendQuota resets the send quota to the maximum allowed value.
func (i *Inflight) ResetSendQuota(n int32) {
	atomic.StoreInt32(&i.sendQuota, n)
	atomic.StoreInt32(&i.maximumSendQuota, n)
}
