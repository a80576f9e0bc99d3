package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mqflux/mqflux/bench/mqttwire"
	"github.com/mqflux/mqflux/internal/backoff"
)

// refusedError is a CONNACK refusal: retrying cannot help, so the run stops.
type refusedError struct {
	device string
	code   byte
}

func (e *refusedError) Error() string {
	return fmt.Sprintf("connect %s: broker refused: %s", e.device, mqttwire.ReturnCodeText(e.code))
}

var errAckTimeout = errors.New("no PUBACK within -ack-timeout")

// shared is what all devices of a run use.
type shared struct {
	cfg    *Config
	format payloadFormat
	pacer  *pacer
	probes *probeLog // nil without -influx
	stop   <-chan struct{}
	log    *slog.Logger
}

// device is one simulated device: one MQTT connection, a window of QoS 1
// packet ids, and the readings in flight under them.
type device struct {
	*shared
	index      int
	name       string
	topic      string
	probeTopic string

	seq       int64 // readings published so far (first sends only)
	lastTS    int64
	rateStart time.Time
	pkt       []byte // scratch for QoS 0 packets and payloads

	free   chan uint16   // packet ids not in flight
	notify chan struct{} // poked on a PUBACK that frees a batch's worth of the window
	mu     sync.Mutex
	slots  []slot // by packet id - 1
	inuse  int

	published, acked, resent, reconnects atomic.Int64
	firstPub, lastPub, lastAck           atomic.Int64 // unix ns; 0 = never
	lastProgress                         atomic.Int64 // unix ns of the last PUBACK (or idle moment)
	gaveUp                               atomic.Bool
}

type slot struct {
	buf   []byte // the encoded PUBLISH, resent with the DUP bit after a reconnect
	seq   int64
	inUse bool
	// What the reading was, for Config.Ledger.
	value, ts int64
	probe     bool
	sentAt    int64 // unix ns of the last send, first or resend
}

// oldestSent is when the oldest reading in flight was last sent; now when
// none is in flight.
func (d *device) oldestSent() time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	oldest := time.Now().UnixNano()
	for i := range d.slots {
		if s := &d.slots[i]; s.inUse && s.sentAt < oldest {
			oldest = s.sentAt
		}
	}
	return time.Unix(0, oldest)
}

func newDevice(sh *shared, index int) *device {
	name := fmt.Sprintf("%s%d", sh.cfg.DevicePrefix, index)
	d := &device{
		shared:     sh,
		index:      index,
		name:       name,
		topic:      expandTopic(sh.cfg.Topic, name, sh.cfg.Measurement),
		probeTopic: expandTopic(sh.cfg.Topic, name, probeMeasurement(sh.cfg.Measurement)),
		notify:     make(chan struct{}, 1),
	}
	if sh.cfg.QoS == 1 {
		d.slots = make([]slot, sh.cfg.Inflight)
		d.free = make(chan uint16, sh.cfg.Inflight)
		for id := 1; id <= sh.cfg.Inflight; id++ {
			d.free <- uint16(id)
		}
	}
	return d
}

func (d *device) inflight() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.inuse
}

func (d *device) sendingDone() bool {
	if d.cfg.Messages > 0 {
		return d.seq >= int64(d.cfg.Messages)
	}
	select {
	case <-d.stop:
		return true
	default:
		return false
	}
}

// run connects, publishes and reconnects until every reading is sent and
// acknowledged, the device gives up, or ctx ends. Only a refused CONNECT is
// returned as an error: it would fail for every device alike.
func (d *device) run(ctx context.Context) error {
	d.lastProgress.Store(time.Now().UnixNano())
	d.rateStart = time.Now()
	// Reconnects wait 25-50 ms at first, doubling up to 1-2 s.
	bo := backoff.Policy{Min: 50 * time.Millisecond, Max: 2 * time.Second, Jitter: true}
	retries := 0
	for attempt := 0; ; attempt++ {
		if d.sendingDone() && d.inflight() == 0 {
			return nil
		}
		if time.Since(time.Unix(0, d.lastProgress.Load())) > d.cfg.GiveUp {
			d.gaveUp.Store(true)
			d.log.Warn("device gave up", "device", d.name, "in_flight", d.inflight(), "give_up", d.cfg.GiveUp)
			return nil
		}
		if attempt > 0 {
			d.reconnects.Add(1)
			if backoff.Sleep(ctx, bo.Delay(retries, 0)) != nil {
				return nil
			}
			retries++
		}
		if d.pacer.wait(ctx) != nil {
			return nil
		}
		conn, r, err := d.connect(ctx)
		var refused *refusedError
		switch {
		case errors.As(err, &refused):
			return err
		case ctx.Err() != nil:
			return nil
		case err != nil:
			d.log.Debug("connect failed", "device", d.name, "err", err)
			continue
		}
		err = d.session(ctx, conn, r)
		if ctx.Err() != nil {
			return nil
		}
		if err == nil {
			return nil
		}
		if d.inflight() == 0 {
			d.lastProgress.Store(time.Now().UnixNano())
		} else {
			retries = 0 // a stall, not a dead broker: come back quickly
		}
		d.log.Debug("connection lost", "device", d.name, "err", err)
	}
}

func (d *device) connect(ctx context.Context) (net.Conn, *mqttwire.Reader, error) {
	dialer := net.Dialer{Timeout: 10 * time.Second}
	conn, err := dialer.DialContext(ctx, "tcp", d.cfg.Broker)
	if err != nil {
		return nil, nil, fmt.Errorf("connect %s: %w", d.cfg.Broker, err)
	}
	fail := func(err error) (net.Conn, *mqttwire.Reader, error) {
		conn.Close()
		return nil, nil, err
	}
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	pkt, err := mqttwire.AppendConnect(nil, mqttwire.Connect{
		ClientID: d.name, Username: d.cfg.Username, Password: d.cfg.Password,
		CleanSession: true, KeepAlive: uint16(d.cfg.KeepAlive / time.Second),
	})
	if err != nil {
		return fail(fmt.Errorf("connect %s as %s: %w", d.cfg.Broker, d.name, err))
	}
	if _, err := conn.Write(pkt); err != nil {
		return fail(fmt.Errorf("connect %s as %s: send CONNECT: %w", d.cfg.Broker, d.name, err))
	}
	r := mqttwire.NewReader(conn, 1<<20)
	p, err := r.Next()
	if err != nil {
		return fail(fmt.Errorf("connect %s as %s: read CONNACK: %w", d.cfg.Broker, d.name, err))
	}
	ack, err := mqttwire.DecodeConnack(p)
	if err != nil {
		return fail(fmt.Errorf("connect %s as %s: %w", d.cfg.Broker, d.name, err))
	}
	if ack.ReturnCode != 0 {
		return fail(&refusedError{device: d.name, code: ack.ReturnCode})
	}
	_ = conn.SetDeadline(time.Time{})
	return conn, r, nil
}

// session publishes over one connection until the device is done (nil) or
// the connection fails.
func (d *device) session(ctx context.Context, conn net.Conn, r *mqttwire.Reader) error {
	var readErr error
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		readErr = d.readLoop(r)
	}()
	defer func() {
		conn.Close()
		<-readDone
	}()
	w := bufio.NewWriterSize(conn, min(64<<10, max(4<<10, d.cfg.Inflight*256)))
	if err := d.resend(w); err != nil {
		return err
	}
	tick := time.NewTicker(max(time.Millisecond, min(time.Second, d.cfg.AckTimeout/4, d.cfg.GiveUp/4, d.cfg.KeepAlive/4)))
	defer tick.Stop()
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	started := time.Now()
	lastWrite := time.Now()

	housekeep := func() error {
		now := time.Now()
		// The oldest reading in flight, not the last PUBACK: a broker may
		// withhold one PUBACK and go on acknowledging later readings, and
		// an MQTT 3.1.1 client resends only after reconnecting.
		oldest := d.oldestSent()
		if oldest.Before(started) {
			oldest = started
		}
		since := now.Sub(oldest)
		if d.inflight() > 0 && now.Sub(time.Unix(0, d.lastProgress.Load())) > d.cfg.GiveUp {
			return fmt.Errorf("%s: no PUBACK within -give-up %s", d.name, d.cfg.GiveUp)
		}
		if d.inflight() > 0 && since > d.cfg.AckTimeout {
			return fmt.Errorf("%s: %w (%d in flight)", d.name, errAckTimeout, d.inflight())
		}
		if now.Sub(lastWrite) > d.cfg.KeepAlive/2 {
			lastWrite = now
			if _, err := w.Write(mqttwire.AppendPingreq(nil)); err != nil {
				return err
			}
			return w.Flush()
		}
		return nil
	}
	wait := &sessionWait{
		ctx: ctx, readDone: readDone, tick: tick.C, housekeep: housekeep,
		lost: func() error { return fmt.Errorf("%s: connection lost: %w", d.name, readErr) },
	}

	for {
		if d.sendingDone() {
			if d.inflight() == 0 {
				w.Write(mqttwire.AppendDisconnect(nil))
				return w.Flush()
			}
			if err := w.Flush(); err != nil {
				return err
			}
			if _, _, err := await(wait, d.notify, nil); err != nil {
				return err
			}
			continue
		}
		if delay := d.untilNext(); delay > 0 {
			if err := w.Flush(); err != nil {
				return err
			}
			timer.Reset(delay)
			if _, _, err := await(wait, timer.C, d.stop); err != nil {
				return err
			}
			continue
		}
		var id uint16
		if d.cfg.QoS == 1 {
			select {
			case id = <-d.free:
			default:
				// The window is full: send what is buffered, then wait until a
				// quarter of it is free again, so that each write carries a
				// batch of readings instead of one per PUBACK.
				if err := w.Flush(); err != nil {
					return err
				}
				if len(d.free) < d.refill() {
					if _, _, err := await(wait, d.notify, d.stop); err != nil {
						return err
					}
					continue
				}
				free, got, err := await(wait, d.free, d.stop)
				if err != nil {
					return err
				}
				if !got {
					continue
				}
				id = free
			}
		}
		if err := d.publish(w, id); err != nil {
			return err
		}
		lastWrite = time.Now()
	}
}

// sessionWait is what every wait of a session's sender gives way to.
type sessionWait struct {
	ctx       context.Context
	readDone  <-chan struct{} // closed when the connection failed
	tick      <-chan time.Time
	housekeep func() error
	lost      func() error
}

// await waits for wake and returns what it delivered with got true. A tick
// (after housekeeping) or stop (nil: never) ends the wait with got false,
// so the sender looks again; a lost connection, the end of ctx or a failed
// housekeeping end it with the error that ends the session.
func await[T any](s *sessionWait, wake <-chan T, stop <-chan struct{}) (v T, got bool, err error) {
	select {
	case v = <-wake:
		return v, true, nil
	case <-s.readDone:
		return v, false, s.lost()
	case <-s.ctx.Done():
		return v, false, s.ctx.Err()
	case <-s.tick:
		return v, false, s.housekeep()
	case <-stop:
		return v, false, nil
	}
}

// refill is how many packet ids must be free before a full window sends again.
func (d *device) refill() int { return max(1, d.cfg.Inflight/4) }

// untilNext is how long -rate says to wait before the next reading.
func (d *device) untilNext() time.Duration {
	if d.cfg.Rate <= 0 {
		return 0
	}
	due := d.rateStart.Add(time.Duration(float64(d.seq) / d.cfg.Rate * float64(time.Second)))
	return time.Until(due)
}

// resend writes the readings still in flight from a previous connection, in
// their original order, with the DUP flag.
func (d *device) resend(w *bufio.Writer) error {
	d.mu.Lock()
	var pending []*slot
	for i := range d.slots {
		if d.slots[i].inUse {
			pending = append(pending, &d.slots[i])
		}
	}
	d.mu.Unlock()
	slices.SortFunc(pending, func(a, b *slot) int { return int(a.seq - b.seq) })
	now := time.Now().UnixNano()
	d.mu.Lock()
	for _, s := range pending {
		s.sentAt = now
	}
	d.mu.Unlock()
	for _, s := range pending {
		s.buf[0] |= 0x08 // DUP
		if _, err := w.Write(s.buf); err != nil {
			return fmt.Errorf("%s: resend: %w", d.name, err)
		}
	}
	d.resent.Add(int64(len(pending)))
	return nil
}

func (d *device) publish(w *bufio.Writer, id uint16) error {
	now := time.Now()
	ts, step := now.UnixNano(), max(int64(d.cfg.TimeStep), 1)
	if d.lastTS != 0 && ts < d.lastTS+step {
		ts = d.lastTS + step
	}
	d.lastTS = ts
	seq := d.seq
	value := seq*int64(d.cfg.Devices) + int64(d.index)
	topic, measurement := d.topic, d.cfg.Measurement
	isProbe := d.probes.take()
	if isProbe {
		topic, measurement = d.probeTopic, probeMeasurement(measurement)
	}
	d.pkt = d.format.append(d.pkt[:0], measurement, d.name, value, ts)
	pub := mqttwire.Publish{Topic: topic, Payload: d.pkt, QoS: d.cfg.QoS, PacketID: id}
	var out []byte
	var err error
	if id != 0 {
		s := &d.slots[id-1]
		if s.buf, err = mqttwire.AppendPublish(s.buf[:0], pub); err != nil {
			return fmt.Errorf("%s: %w", d.name, err)
		}
		d.mu.Lock()
		s.seq, s.inUse = seq, true
		s.value, s.ts, s.probe, s.sentAt = value, ts, isProbe, now.UnixNano()
		d.inuse++
		d.mu.Unlock()
		out = s.buf
	} else {
		// QoS 0: encode after the payload in the same scratch buffer.
		n := len(d.pkt)
		buf, err := mqttwire.AppendPublish(d.pkt, mqttwire.Publish{Topic: topic, Payload: d.pkt[:n], QoS: 0})
		if err != nil {
			return fmt.Errorf("%s: %w", d.name, err)
		}
		d.pkt, out = buf, buf[n:]
	}
	d.seq++
	d.published.Add(1)
	d.firstPub.CompareAndSwap(0, ts)
	d.lastPub.Store(ts)
	if isProbe {
		d.probes.add(value, ts, now)
	}
	// A failed write leaves the reading in flight: it is resent after reconnecting.
	if _, err := w.Write(out); err != nil {
		return fmt.Errorf("%s: publish: %w", d.name, err)
	}
	return nil
}

// readLoop takes PUBACKs off the connection until it fails.
func (d *device) readLoop(r *mqttwire.Reader) error {
	for {
		p, err := r.Next()
		if err != nil {
			return err
		}
		switch p.Type {
		case mqttwire.PUBACK:
			id, err := mqttwire.DecodePuback(p)
			if err != nil {
				return err
			}
			if err := d.ack(id); err != nil {
				return err
			}
		case mqttwire.PINGRESP:
		default:
			return fmt.Errorf("unexpected %s from the broker", p.Type)
		}
	}
}

func (d *device) ack(id uint16) error {
	if id == 0 || int(id) > len(d.slots) {
		return fmt.Errorf("PUBACK for packet id %d, which was never sent", id)
	}
	d.mu.Lock()
	s := &d.slots[id-1]
	if !s.inUse {
		d.mu.Unlock()
		return nil // a second PUBACK for one packet: count it once
	}
	s.inUse = false
	d.inuse--
	value, ts, probe := s.value, s.ts, s.probe
	// Wake the sender only once enough of the window is free for a batch.
	wake := d.inuse <= len(d.slots)-d.refill()
	d.mu.Unlock()
	now := time.Now().UnixNano()
	d.acked.Add(1)
	d.lastAck.Store(now)
	d.lastProgress.Store(now)
	if l := d.cfg.Ledger; l != nil {
		r := Reading{Device: d.name, Measurement: d.cfg.Measurement, Value: value}
		if probe {
			r.Measurement = probeMeasurement(r.Measurement)
		}
		if d.format.stampsTime() {
			r.Time = ts
		}
		l.add(r)
	}
	d.free <- id // never blocks: the channel holds every id
	if wake {
		select {
		case d.notify <- struct{}{}:
		default:
		}
	}
	return nil
}
