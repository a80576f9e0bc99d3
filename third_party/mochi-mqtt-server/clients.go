// SPDX-License-Identifier: MIT
// SPDX-FileCopyrightText: 2023 mochi-mqtt, mochi-co
// SPDX-FileContributor: mochi-co

package mqtt

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/rs/xid"

	"github.com/mochi-mqtt/server/v2/mempool"
	"github.com/mochi-mqtt/server/v2/packets"
)

const (
	defaultKeepalive             uint16 = 10 // the default connection keepalive value in seconds.
	defaultClientProtocolVersion byte   = 4  // the default mqtt protocol version of connecting clients (if somehow unspecified).
	minimumKeepalive             uint16 = 5  // the minimum recommended keepalive - values under with display a warning.
)

var (
	ErrMinimumKeepalive = errors.New("client keepalive is below minimum recommended value and may exhibit connection instability")
)

// ReadFn is the function signature for the function used for reading and processing new packets.
type ReadFn func(*Client, packets.Packet) error

// Clients contains a map of the clients known by the broker.
type Clients struct {
	internal map[string]*Client // clients known by the broker, keyed on client id.
	sync.RWMutex
}

// NewClients returns an instance of Clients.
func NewClients() *Clients {
	return &Clients{
		internal: make(map[string]*Client),
	}
}

// Add adds a new client to the clients map, keyed on client id.
func (cl *Clients) Add(val *Client) {
	cl.Lock()
	defer cl.Unlock()
	cl.internal[val.ID] = val
}

// GetAll returns all the clients.
func (cl *Clients) GetAll() map[string]*Client {
	cl.RLock()
	defer cl.RUnlock()
	m := map[string]*Client{}
	for k, v := range cl.internal {
		m[k] = v
	}
	return m
}

// Get returns the value of a client if it exists.
func (cl *Clients) Get(id string) (*Client, bool) {
	cl.RLock()
	defer cl.RUnlock()
	val, ok := cl.internal[id]
	return val, ok
}

// Len returns the length of the clients map.
func (cl *Clients) Len() int {
	cl.RLock()
	defer cl.RUnlock()
	val := len(cl.internal)
	return val
}

// Delete removes a client from the internal map.
func (cl *Clients) Delete(id string) {
	cl.Lock()
	defer cl.Unlock()
	delete(cl.internal, id)
}

// GetByListener returns clients matching a listener id.
func (cl *Clients) GetByListener(id string) []*Client {
	cl.RLock()
	defer cl.RUnlock()
	clients := make([]*Client, 0, cl.Len())
	for _, client := range cl.internal {
		if client.Net.Listener == id && !client.Closed() {
			clients = append(clients, client)
		}
	}
	return clients
}

// Client contains information about a client known by the broker.
type Client struct {
	Properties   ClientProperties // client properties
	State        ClientState      // the operational state of the client.
	Net          ClientConnection // network connection state of the client
	ID           string           // the client id.
	ops          *ops             // ops provides a reference to server ops.
	sync.RWMutex                  // mutex
}

// ClientConnection contains the connection transport and metadata for the client.
type ClientConnection struct {
	Conn  net.Conn      // the net.Conn used to establish the connection
	bconn *bufio.Reader // a buffered net.Conn for reading packets
	// mqflux patch: the last read filled the buffer; the next gets the
	// large one (readbuffer.go)
	largeReads bool
	outbuf     *bytes.Buffer // a buffer for writing packets
	// mqflux patch: writeMu orders the writes to Conn and guards outbuf.
	// It is not a lock a delivery takes (the inflight lock guards the
	// packet ids, see Client.addInflight): a write can wait for the
	// network as long as the client does not read, and a delivery must
	// never wait for that.
	writeMu  sync.Mutex
	Remote   string // the remote address of the client
	Listener string // listener id of the client
	Inline   bool   // if true, the client is the built-in 'inline' embedded client
}

// ClientProperties contains the properties which define the client behaviour.
type ClientProperties struct {
	Props           packets.Properties
	Will            Will
	Username        []byte
	ProtocolVersion byte
	Clean           bool
}

// Will contains the last will and testament details for a client connection.
type Will struct {
	Payload           []byte                 // -
	User              []packets.UserProperty // -
	TopicName         string                 // -
	Flag              uint32                 // 0,1
	WillDelayInterval uint32                 // -
	Qos               byte                   // -
	Retain            bool                   // -
}

// ClientState tracks the state of the client.
type ClientState struct {
	TopicAliases    TopicAliases           // a map of topic aliases
	stopCause       atomic.Value           // reason for stopping
	Inflight        *Inflight              // a map of in-flight qos messages
	Subscriptions   *Subscriptions         // a map of the subscription filters a client maintains
	disconnected    int64                  // the time the client disconnected in unix time, for calculating expiry
	outbound        outboundQueue          // queue for pending outbound packets (mqflux patch: no channel)
	endOnce         sync.Once              // only end once
	isTakenOver     atomic.Bool            // used to identify orphaned clients
	takenOverBy     atomic.Pointer[Client] // mqflux patch (takeover): the client the session moved to, see Inflight.moveTo
	packetID        uint32                 // the current highest packetID
	open            context.Context        // indicate that the client is open for packet exchange
	cancelOpen      context.CancelFunc     // cancel function for open context
	outboundQty     int32                  // number of messages currently in the outbound queue
	drops           atomic.Int64           // mqflux patch: deliveries dropped in this episode (Options.DropReport)
	lastDrop        atomic.Int64           // mqflux patch: when the last delivery was dropped, unix nanoseconds
	paused          atomic.Bool            // mqflux patch: out of the topic index, losing every delivery (stalled.go)
	pauseMu         sync.Mutex             // mqflux patch: orders pausing, resuming and unsubscribing
	window          atomic.Int32           // mqflux patch: the inflight window while connected, 0 for none (window.go)
	Keepalive       uint16                 // the number of seconds the connection can wait
	ServerKeepalive bool                   // keepalive was set by the server
}

// newClient returns a new instance of Client. This is almost exclusively used by Server
// for creating new clients, but it lives here because it's not dependent.
func newClient(c net.Conn, o *ops) *Client {
	ctx, cancel := context.WithCancel(context.Background())
	cl := &Client{
		State: ClientState{
			Inflight:      NewInflights(),
			Subscriptions: NewSubscriptions(),
			TopicAliases:  NewTopicAliases(o.options.Capabilities.TopicAliasMaximum),
			open:          ctx,
			cancelOpen:    cancel,
			Keepalive:     defaultKeepalive,
		},
		Properties: ClientProperties{
			ProtocolVersion: defaultClientProtocolVersion, // default protocol version
		},
		ops: o,
	}

	if c != nil {
		cl.Net = ClientConnection{
			Conn:   c,
			bconn:  bufio.NewReaderSize(c, min(smallReadBuffer, o.options.ClientNetReadBufferSize)),
			Remote: c.RemoteAddr().String(),
		}
	}

	return cl
}

// queueOutbound queues pk for the client's writer, starting one if none is
// running; false if MaximumClientWritesPending packets are waiting already.
// mqflux patch: the writer runs only while something is queued, instead of
// one goroutine per client for the life of its connection.
func (cl *Client) queueOutbound(pk *packets.Packet) bool {
	ok, start := cl.State.outbound.push(pk, int(cl.ops.options.Capabilities.MaximumClientWritesPending))
	if !ok {
		return false
	}
	atomic.AddInt32(&cl.State.outboundQty, 1)
	if start {
		go cl.writeQueued()
	}
	return true
}

// writeQueued writes the queued packets in order and returns once the
// queue is empty. After the connection is closed each write fails at once,
// so the queue still empties and the goroutine ends.
func (cl *Client) writeQueued() {
	w, waits := cl.Net.Conn.(WriteWaiter)
	for {
		pk, more, ok := cl.State.outbound.next()
		if !ok {
			cl.endDrops(cl.Closed())
			return
		}
		if waits {
			// mqflux patch: a connection that holds back writes lets the
			// writer wait here, outside every lock, rather than hold more.
			_ = w.WaitToWrite()
		}
		if err := cl.writePacket(*pk, more); err != nil {
			// TODO : Figure out what to do with error
			cl.ops.log.Debug("failed publishing packet", "error", err, "client", cl.ID, "packet", pk)
		}
		atomic.AddInt32(&cl.State.outboundQty, -1)
		cl.maybeResume() // mqflux patch: its queue has room (stalled.go)
	}
}

// WriteWaiter is a connection that holds back writes at times (mqflux's
// coalescing connection holds the answers to what it read until its reader
// reads again). WaitToWrite returns once it will take a delivery without
// holding more than it bounds, or the connection failed. Only the client's
// writer goroutine calls it: a runner's answer must never wait. mqflux
// patch.
type WriteWaiter interface {
	WaitToWrite() error
}

// dropped counts a delivery to the client that was dropped and reports
// the first of an episode (Options.DropReport). mqflux patch.
func (cl *Client) dropped() {
	cl.State.lastDrop.Store(time.Now().UnixNano())
	if cl.State.drops.Add(1) == 1 && cl.ops.options.DropReport != nil {
		cl.ops.options.DropReport(cl, 1, false)
	}
}

// dropsQuiet is how long a client must have lost no delivery before its
// emptied write queue ends an episode of drops: a client that reads, but
// slower than it is sent to, empties its queue between bursts, and would
// otherwise start an episode with every burst.
const dropsQuiet = 10 * time.Second

// endDrops ends an episode of drops, if one is running: the client's write
// queue emptied dropsQuiet after its last drop, or (gone) the client is
// gone. mqflux patch.
func (cl *Client) endDrops(gone bool) {
	if cl.State.drops.Load() == 0 {
		return
	}
	if !gone && time.Since(time.Unix(0, cl.State.lastDrop.Load())) < dropsQuiet {
		return
	}
	if n := cl.State.drops.Swap(0); n > 0 && cl.ops.options.DropReport != nil {
		cl.ops.options.DropReport(cl, n, true)
	}
}

// ParseConnect parses the connect parameters and properties for a client.
func (cl *Client) ParseConnect(lid string, pk packets.Packet) {
	cl.Net.Listener = lid

	cl.Properties.ProtocolVersion = pk.ProtocolVersion
	cl.Properties.Username = pk.Connect.Username
	cl.Properties.Clean = pk.Connect.Clean
	cl.Properties.Props = pk.Properties.Copy(false)

	if cl.Properties.Props.ReceiveMaximum > cl.ops.options.Capabilities.MaximumInflight { // 3.3.4 Non-normative
		cl.Properties.Props.ReceiveMaximum = cl.ops.options.Capabilities.MaximumInflight
	}

	if pk.Connect.Keepalive <= minimumKeepalive {
		cl.ops.log.Warn(
			ErrMinimumKeepalive.Error(),
			"client", cl.ID,
			"keepalive", pk.Connect.Keepalive,
			"recommended", minimumKeepalive,
		)
	}

	cl.State.Keepalive = pk.Connect.Keepalive                                              // [MQTT-3.2.2-22]
	cl.State.Inflight.ResetReceiveQuota(int32(cl.ops.options.Capabilities.ReceiveMaximum)) // server receive max per client
	cl.State.Inflight.ResetSendQuota(int32(cl.Properties.Props.ReceiveMaximum))            // client receive max
	cl.State.TopicAliases.Outbound = NewOutboundTopicAliases(cl.Properties.Props.TopicAliasMaximum)

	cl.ID = pk.Connect.ClientIdentifier
	if cl.ID == "" {
		cl.ID = xid.New().String() // [MQTT-3.1.3-6] [MQTT-3.1.3-7]
		cl.Properties.Props.AssignedClientID = cl.ID
	}

	if pk.Connect.WillFlag {
		cl.Properties.Will = Will{
			Qos:               pk.Connect.WillQos,
			Retain:            pk.Connect.WillRetain,
			Payload:           pk.Connect.WillPayload,
			TopicName:         pk.Connect.WillTopic,
			WillDelayInterval: pk.Connect.WillProperties.WillDelayInterval,
			User:              pk.Connect.WillProperties.User,
		}
		if pk.Properties.SessionExpiryIntervalFlag &&
			pk.Properties.SessionExpiryInterval < pk.Connect.WillProperties.WillDelayInterval {
			cl.Properties.Will.WillDelayInterval = pk.Properties.SessionExpiryInterval
		}
		if pk.Connect.WillFlag {
			cl.Properties.Will.Flag = 1 // atomic for checking
		}
	}
}

// refreshDeadline refreshes the read/write deadline for the net.Conn connection.
func (cl *Client) refreshDeadline(keepalive uint16) {
	var expiry time.Time // nil time can be used to disable deadline if keepalive = 0
	if keepalive > 0 {
		expiry = time.Now().Add(time.Duration(keepalive+(keepalive/2)) * time.Second) // [MQTT-3.1.2-22]
	}

	if cl.Net.Conn != nil {
		_ = cl.Net.Conn.SetDeadline(expiry) // [MQTT-3.1.2-22]
	}
}

// NextPacketID returns the next available (unused) packet id for the client.
// If no unused packet ids are available, an error is returned and the client
// should be disconnected.
//
// mqflux patch: under the inflight lock, which guards the ids in flight it
// skips, not the client's: a delivery (addInflight) takes only that lock.
func (cl *Client) NextPacketID() (i uint32, err error) {
	id, err := cl.State.Inflight.nextID(&cl.State.packetID, cl.ops.options.Capabilities.maximumPacketID)
	if err != nil {
		return 0, err
	}
	return uint32(id), nil
}

// addInflight puts pk in the client's inflight messages under the next
// free packet id, unless max are in flight already (errInflightFull).
// mqflux patch, see Inflight.add: one lock, the inflight map's, which
// also orders the client's packet ids.
func (cl *Client) addInflight(pk *packets.Packet, max int, limited bool) (held, deferred bool, err error) {
	return cl.State.Inflight.add(pk, &cl.State.packetID, cl.ops.options.Capabilities.maximumPacketID, max, limited)
}

// addQueuedInflight is addInflight for a client that is not connected:
// pk is stored in its queued form (Inflight.addQueued, mqflux patch).
func (cl *Client) addQueuedInflight(pk *packets.Packet, max int, limited bool) (held, deferred bool, err error) {
	return cl.State.Inflight.addQueued(pk, &cl.State.packetID, cl.ops.options.Capabilities.maximumPacketID, max, limited)
}

// ResendInflightMessages attempts to resend any pending inflight messages to connected clients.
//
// mqflux patch (resend-order): plan after plan until one is empty, which
// ends the resend (Inflight.resendPlan). A delivery made meanwhile waits
// in the map (Inflight.add) and goes in the next plan, behind the queue;
// it is never written before the queue is. Upstream returned at once for
// an empty map, and wrote live deliveries beside the resend.
func (cl *Client) ResendInflightMessages(force bool) error {
	for {
		// mqflux patch: what is sent, and what is held for the client's
		// send quota, is decided under the inflight lock (Inflight.resendPlan).
		plan := cl.State.Inflight.resendPlan(cl.ops.options.Capabilities.MaximumMessageExpiryInterval)
		if len(plan) == 0 {
			return nil
		}
		for _, tk := range plan {
			cl.ops.hooks.OnQosPublish(cl, tk, tk.Created, 0)
			err := cl.WritePacket(tk)
			if err != nil {
				return err
			}

			if tk.FixedHeader.Type == packets.Puback || tk.FixedHeader.Type == packets.Pubcomp {
				if ok := cl.State.Inflight.Delete(tk.PacketID); ok {
					cl.ops.hooks.OnQosComplete(cl, tk)
					atomic.AddInt64(&cl.ops.info.Inflight, -1)
				}
			}
		}
	}
}

// ClearInflights deletes all inflight messages for the client, e.g. for a disconnected user with a clean session.
func (cl *Client) ClearInflights() {
	for _, tk := range cl.State.Inflight.GetAll(false) {
		if ok := cl.State.Inflight.Delete(tk.PacketID); ok {
			cl.ops.hooks.OnQosDropped(cl, tk)
			atomic.AddInt64(&cl.ops.info.Inflight, -1)
		}
	}
}

// ClearExpiredInflights deletes any inflight messages which have expired.
func (cl *Client) ClearExpiredInflights(now, maximumExpiry int64) []uint16 {
	deleted := []uint16{}
	// mqflux patch: a session queue that cannot expire is not looked at, and
	// one that can is scanned without a sorted copy (Inflight.Expired).
	if maximumExpiry <= 0 && !cl.State.Inflight.MayExpire() {
		return deleted
	}
	for _, tk := range cl.State.Inflight.Expired(now, maximumExpiry) {
		if ok := cl.State.Inflight.Delete(tk.PacketID); ok {
			cl.ops.hooks.OnQosDropped(cl, tk)
			atomic.AddInt64(&cl.ops.info.Inflight, -1)
			deleted = append(deleted, tk.PacketID)
		}
	}
	if len(deleted) > 0 {
		cl.maybeResume() // mqflux patch: its inflight window has room (stalled.go)
	}

	return deleted
}

// Read reads incoming packets from the connected client and transforms them into
// packets to be handled by the packetHandler.
func (cl *Client) Read(packetHandler ReadFn) error {
	var job *packetJob
	var fh packets.FixedHeader
	var body []byte
	if cl.ops.runner != nil {
		job = newPacketJob(func() error { return cl.handleAndFlush(&fh, body, packetHandler) })
	}
	for {
		if cl.Closed() {
			return nil
		}

		cl.refreshDeadline(cl.State.Keepalive)
		// mqflux patch: a client spends most of its life waiting here, so
		// it waits in this small frame; the packet, and the stack needed to
		// handle it, come after. Go halves a goroutine's stack at a
		// collection only while it uses less than a quarter of it.
		if cl.Net.bconn != nil {
			if err := cl.waitForData(); err != nil {
				return err
			}
		}
		// mqflux patch: the packet's bytes are read here, then decoded and
		// handled on a runner (handlers.go), so this goroutine's stack
		// stays small and no runner ever waits for the network.
		if job != nil {
			var err error
			if body, err = cl.readRaw(&fh); err != nil {
				return err
			}
			if err := cl.ops.runner.do(job); err != nil {
				return err
			}
		} else if err := cl.readOne(packetHandler); err != nil {
			return err
		}
	}
}

// readOne reads the next packet and hands it to packetHandler.
//
//go:noinline
func (cl *Client) readOne(packetHandler ReadFn) error {
	fh := new(packets.FixedHeader)
	err := cl.ReadFixedHeader(fh)
	if err != nil {
		return err
	}

	pk, err := cl.ReadPacket(fh)
	if err != nil {
		return err
	}

	return packetHandler(cl, pk) // Process inbound packet.
}

// Stop instructs the client to shut down all processing goroutines and disconnect.
func (cl *Client) Stop(err error) {
	cl.State.endOnce.Do(func() {

		if cl.Net.Conn != nil {
			_ = cl.Net.Conn.Close() // omit close error
		}

		if err != nil {
			cl.State.stopCause.Store(err)
		}

		if cl.State.cancelOpen != nil {
			cl.State.cancelOpen()
		}

		atomic.StoreInt64(&cl.State.disconnected, time.Now().Unix())
	})
}

// StopCause returns the reason the client connection was stopped, if any.
func (cl *Client) StopCause() error {
	if cl.State.stopCause.Load() == nil {
		return nil
	}
	return cl.State.stopCause.Load().(error)
}

// StopTime returns the the time the client disconnected in unix time, else zero.
func (cl *Client) StopTime() int64 {
	return atomic.LoadInt64(&cl.State.disconnected)
}

// Closed returns true if client connection is closed.
func (cl *Client) Closed() bool {
	return cl.State.open == nil || cl.State.open.Err() != nil
}

func (cl *Client) IsTakenOver() bool {
	return cl.State.isTakenOver.Load()
}

// ReadFixedHeader reads in the values of the next packet's fixed header.
func (cl *Client) ReadFixedHeader(fh *packets.FixedHeader) error {
	if cl.Net.bconn == nil {
		return ErrConnectionClosed
	}

	b, err := cl.Net.bconn.ReadByte()
	if err != nil {
		return err
	}

	err = fh.Decode(b)
	if err != nil {
		return err
	}

	var bu int
	fh.Remaining, bu, err = packets.DecodeLength(cl.Net.bconn)
	if err != nil {
		return err
	}

	if cl.ops.options.Capabilities.MaximumPacketSize > 0 && uint32(fh.Remaining+1) > cl.ops.options.Capabilities.MaximumPacketSize {
		return packets.ErrPacketTooLarge // [MQTT-3.2.2-15]
	}

	atomic.AddInt64(&cl.ops.info.BytesReceived, int64(bu+1))
	return nil
}

// ReadPacket reads the remaining buffer into an MQTT packet.
func (cl *Client) ReadPacket(fh *packets.FixedHeader) (pk packets.Packet, err error) {
	p, err := cl.readBody(fh)
	if err != nil {
		pk.ProtocolVersion = cl.Properties.ProtocolVersion
		pk.FixedHeader = *fh
		return pk, err
	}
	return cl.decodePacket(fh, p)
}

// readRaw reads the fixed header and the remaining bytes of the client's
// next packet.
//
// mqflux patch: ReadPacket in two halves, reading (readBody, on the
// client's goroutine) and decoding (decodePacket, on a runner).
func (cl *Client) readRaw(fh *packets.FixedHeader) ([]byte, error) {
	if err := cl.ReadFixedHeader(fh); err != nil {
		return nil, err
	}
	return cl.readBody(fh)
}

// readBody reads the remaining bytes of the packet whose fixed header is fh.
func (cl *Client) readBody(fh *packets.FixedHeader) ([]byte, error) {
	atomic.AddInt64(&cl.ops.info.PacketsReceived, 1)
	p := make([]byte, fh.Remaining)
	n, err := io.ReadFull(cl.Net.bconn, p)
	if err != nil {
		return nil, err
	}
	atomic.AddInt64(&cl.ops.info.BytesReceived, int64(n))
	return p, nil
}

// decodePacket decodes a packet read by readBody and hands it to the
// OnPacketRead hooks.
func (cl *Client) decodePacket(fh *packets.FixedHeader, p []byte) (pk packets.Packet, err error) {
	pk.ProtocolVersion = cl.Properties.ProtocolVersion // inherit client protocol version for decoding
	pk.FixedHeader = *fh

	// mqflux patch: p is the packet's own (readBody allocates it for this
	// packet and nothing reuses it), so it is decoded in place; upstream
	// copied it first, one more allocation for every packet read, each
	// PUBACK of a subscriber included.
	px := p
	switch pk.FixedHeader.Type {
	case packets.Connect:
		err = pk.ConnectDecode(px)
	case packets.Disconnect:
		err = pk.DisconnectDecode(px)
	case packets.Connack:
		err = pk.ConnackDecode(px)
	case packets.Publish:
		err = pk.PublishDecode(px)
		if err == nil {
			atomic.AddInt64(&cl.ops.info.MessagesReceived, 1)
		}
	case packets.Puback:
		err = pk.PubackDecode(px)
	case packets.Pubrec:
		err = pk.PubrecDecode(px)
	case packets.Pubrel:
		err = pk.PubrelDecode(px)
	case packets.Pubcomp:
		err = pk.PubcompDecode(px)
	case packets.Subscribe:
		err = pk.SubscribeDecode(px)
	case packets.Suback:
		err = pk.SubackDecode(px)
	case packets.Unsubscribe:
		err = pk.UnsubscribeDecode(px)
	case packets.Unsuback:
		err = pk.UnsubackDecode(px)
	case packets.Pingreq:
	case packets.Pingresp:
	case packets.Auth:
		err = pk.AuthDecode(px)
	default:
		err = fmt.Errorf("invalid packet type; %v", pk.FixedHeader.Type)
	}

	if err != nil {
		return pk, err
	}

	pk, err = cl.ops.hooks.OnPacketRead(cl, pk)
	return
}

// WritePacket encodes and writes a packet to the client.
func (cl *Client) WritePacket(pk packets.Packet) error {
	return cl.writePacket(pk, false)
}

// writePacket is WritePacket; more says that the client's writer has
// more packets to write right after this one (outboundQueue.next), so pk
// is buffered rather than sent on its own. mqflux patch: upstream asked
// the queue (Len, under its lock) on every write.
func (cl *Client) writePacket(pk packets.Packet, more bool) error {
	if cl.Closed() {
		return ErrConnectionClosed
	}

	if cl.Net.Conn == nil {
		return nil
	}

	if pk.Expiry > 0 {
		expiry := pk.Expiry - time.Now().Unix()
		if expiry < 1 {
			expiry = 1
		}
		pk.Properties.MessageExpiryInterval = uint32(expiry) // [MQTT-3.3.2-6]
	}

	pk.ProtocolVersion = cl.Properties.ProtocolVersion
	if pk.Mods.MaxSize == 0 { // NB we use this statement to embed client packet sizes in tests
		pk.Mods.MaxSize = cl.Properties.Props.MaximumPacketSize
	}

	if cl.Properties.Props.RequestProblemInfoFlag && cl.Properties.Props.RequestProblemInfo == 0x0 {
		pk.Mods.DisallowProblemInfo = true // [MQTT-3.1.2-29] strict, no problem info on any packet if set
	}

	if pk.FixedHeader.Type != packets.Connack || cl.Properties.Props.RequestResponseInfo == 0x1 || cl.ops.options.Capabilities.Compatibilities.AlwaysReturnResponseInfo {
		pk.Mods.AllowResponseInfo = true // [MQTT-3.1.2-28] we need to know which properties we can encode
	}

	pk = cl.ops.hooks.OnPacketEncode(cl, pk)

	var err error
	// mqflux patch: a pooled buffer, not one (and its growth) per packet
	// written: every PUBACK and every delivery. Hooks get its bytes for
	// the call only (OnPacketSent).
	buf := writeBuffers.Get()
	defer writeBuffers.Put(buf)
	switch pk.FixedHeader.Type {
	case packets.Connect:
		err = pk.ConnectEncode(buf)
	case packets.Connack:
		err = pk.ConnackEncode(buf)
	case packets.Publish:
		err = pk.PublishEncode(buf)
	case packets.Puback:
		err = pk.PubackEncode(buf)
	case packets.Pubrec:
		err = pk.PubrecEncode(buf)
	case packets.Pubrel:
		err = pk.PubrelEncode(buf)
	case packets.Pubcomp:
		err = pk.PubcompEncode(buf)
	case packets.Subscribe:
		err = pk.SubscribeEncode(buf)
	case packets.Suback:
		err = pk.SubackEncode(buf)
	case packets.Unsubscribe:
		err = pk.UnsubscribeEncode(buf)
	case packets.Unsuback:
		err = pk.UnsubackEncode(buf)
	case packets.Pingreq:
		err = pk.PingreqEncode(buf)
	case packets.Pingresp:
		err = pk.PingrespEncode(buf)
	case packets.Disconnect:
		err = pk.DisconnectEncode(buf)
	case packets.Auth:
		err = pk.AuthEncode(buf)
	default:
		err = fmt.Errorf("%w: %v", packets.ErrNoValidPacketAvailable, pk.FixedHeader.Type)
	}
	if err != nil {
		return err
	}

	if pk.Mods.MaxSize > 0 && uint32(buf.Len()) > pk.Mods.MaxSize {
		return packets.ErrPacketTooLarge // [MQTT-3.1.2-24] [MQTT-3.1.2-25]
	}

	n, err := func() (int64, error) {
		// mqflux patch: the write lock, which no delivery takes: a
		// delivery to this client, made on the publisher's runner, must
		// not wait while this write waits for the network.
		cl.Net.writeMu.Lock()
		defer cl.Net.writeMu.Unlock()
		if !more && cl.State.outbound.Len() == 0 {
			if cl.Net.outbuf == nil {
				return buf.WriteTo(cl.Net.Conn)
			}

			// first write to buffer, then flush buffer
			n, _ := cl.Net.outbuf.Write(buf.Bytes()) // will always be successful
			err = cl.flushOutbuf()
			return int64(n), err
		}

		// there are more writes in the queue
		if cl.Net.outbuf == nil {
			if buf.Len() >= cl.ops.options.ClientNetWriteBufferSize {
				return buf.WriteTo(cl.Net.Conn)
			}
			cl.Net.outbuf = new(bytes.Buffer)
		}

		n, _ := cl.Net.outbuf.Write(buf.Bytes()) // will always be successful
		if cl.Net.outbuf.Len() < cl.ops.options.ClientNetWriteBufferSize {
			return int64(n), nil
		}

		err = cl.flushOutbuf()
		return int64(n), err
	}()
	if err != nil {
		return err
	}

	atomic.AddInt64(&cl.ops.info.BytesSent, n)
	atomic.AddInt64(&cl.ops.info.PacketsSent, 1)
	if pk.FixedHeader.Type == packets.Publish {
		atomic.AddInt64(&cl.ops.info.MessagesSent, 1)
	}

	cl.ops.hooks.OnPacketSent(cl, pk, buf.Bytes())

	return err
}

// writeBuffers are WritePacket's encoding buffers; one grown past 64 KiB
// (a large packet) is left to the collector. mqflux patch.
var writeBuffers = mempool.NewBuffer(64 << 10)

func (cl *Client) flushOutbuf() (err error) {
	if cl.Net.outbuf == nil {
		return
	}

	_, err = cl.Net.outbuf.WriteTo(cl.Net.Conn)
	if err == nil {
		cl.Net.outbuf = nil
	}
	return
}
