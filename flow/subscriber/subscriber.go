// Package subscriber feeds the pipeline from an external MQTT broker
// (Mosquitto, EMQX, VerneMQ, HiveMQ): a persistent session with a fixed
// client id, QoS 1 subscriptions, and a PUBACK only once the spool holds the
// reading. Whatever was not acknowledged the broker redelivers to the same
// session after a reconnect or a restart, and since every spooled point
// carries its source timestamp a redelivered reading overwrites itself in
// InfluxDB.
//
// How a message travels: paho's router (OrderMatters(true)) calls onMessage,
// which gives the message the next place in its connection's ack order,
// appends it to an in-memory queue and returns, so the router never blocks
// and keeps reading PINGRESPs and acknowledgements even while the spool is
// full. A few workers take messages from the queue in order and hand them
// to the Sink in parallel. When the Sink has spooled a message (or
// dead-lettered it) the worker settles it in the ack order.
//
// PUBACKs leave in the order the PUBLISHes arrived, as MQTT 3.1.1 section
// 4.6 requires of a client, even though the workers finish out of order:
// a settled message waits for every earlier one, and whichever worker
// settles the oldest sends the PUBACKs of the whole settled run behind it,
// in sequence (see ackOrder). Messages the bridge ignores (a topic no
// mapping wants, a retained replay) take their place in the order too.
//
// When the spool is full (or failing) a worker keeps its message
// unacknowledged and retries it with a capped backoff until the writer has
// made room. Every later message is spooled meanwhile but not acknowledged
// either; the broker stops sending once its in-flight window for this client
// is used up, which bounds the queue and the ack order. Nothing is dropped.
//
// A message whose connection broke before it was spooled is dropped from
// its ack order: no PUBACK, and none for any later message of that
// connection. MQTT 3.1.1 has the broker resend every unacknowledged QoS 1
// message of the session, in order, when the client reconnects (section
// 4.4: the only time it is required to resend). A PUBACK sent on the new
// connection would carry a packet id that no longer means the message, and
// paho drops the acknowledgements of a connection that is gone, so every
// connection has its own ack order. A message the spool took twice because
// of a redelivery is one point in InfluxDB. Stop does the same: the
// messages not acknowledged yet stay with the broker for the next start.
package subscriber

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mqflux/mqflux/flow/ingest"
)

// Options configure a Subscriber.
type Options struct {
	URL          string // tcp://, ssl://, ws://, wss:// (mqtt:// and mqtts:// too)
	ClientID     string // fixed: the broker keys the persistent session by it
	Username     string
	Password     string
	Filters      []string // $share/<group>/<filter> splits one stream between bridges
	CAFile       string   // PEM bundle to verify the broker's certificate; "" = system roots
	KeepAlive    time.Duration
	MaxReconnect time.Duration // cap of the reconnect backoff

	Sink  ingest.Sink
	Wants func(topic string) bool // nil: every topic

	Workers int // goroutines spooling messages; default 4
	Logger  *slog.Logger
}

const (
	defaultWorkers   = 4
	firstRetry       = 10 * time.Millisecond
	maxRetry         = time.Second
	subscribeTimeout = 30 * time.Second
	disconnectQuiet  = 2 * time.Second
)

// Subscriber is one bridge's connection to the external broker.
type Subscriber struct {
	o      Options
	log    *slog.Logger
	client mqtt.Client
	q      *queue
	m      *metrics

	conn       atomic.Pointer[ackOrder] // replaced before every connection attempt
	stopping   atomic.Bool
	stop       chan struct{}
	wg         sync.WaitGroup
	pushedBack atomic.Bool // a pushback episode is in progress (log it once)

	firstSub chan error // the first subscription's outcome, for Start
	subOnce  sync.Once
}

// New checks the options and builds the client; nothing connects until
// Start.
func New(o Options) (*Subscriber, error) {
	if o.Sink == nil {
		return nil, errors.New("subscriber: no sink")
	}
	if o.ClientID == "" {
		return nil, errors.New("subscriber: a fixed client id is required for the persistent session")
	}
	if len(o.Filters) == 0 {
		return nil, errors.New("subscriber: no topic filters")
	}
	for i, f := range o.Filters {
		if err := checkFilter(f); err != nil {
			return nil, fmt.Errorf("bridge.filters[%d]: %w", i, err)
		}
	}
	if o.Workers <= 0 {
		o.Workers = defaultWorkers
	}
	if o.KeepAlive <= 0 {
		o.KeepAlive = DefaultKeepAlive
	}
	if o.MaxReconnect <= 0 {
		o.MaxReconnect = DefaultMaxReconnect
	}
	if o.Wants == nil {
		o.Wants = func(string) bool { return true }
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Subscriber{o: o, log: o.Logger, q: newQueue(), stop: make(chan struct{}), firstSub: make(chan error, 1)}
	s.m = newMetrics(func() float64 { return float64(s.q.len()) })
	s.conn.Store(s.newAckOrder())
	opts, err := s.clientOptions()
	if err != nil {
		return nil, err
	}
	s.client = mqtt.NewClient(opts)
	return s, nil
}

func (s *Subscriber) clientOptions() (*mqtt.ClientOptions, error) {
	o := s.o
	opts := mqtt.NewClientOptions().
		AddBroker(o.URL).
		SetClientID(o.ClientID).
		SetUsername(o.Username).
		SetPassword(o.Password).
		SetCleanSession(false).
		SetResumeSubs(true).
		SetAutoAckDisabled(true).
		// One message at a time, in arrival order: onMessage numbers them
		// for the ack order, and must not block.
		SetOrderMatters(true).
		SetStore(mqtt.NewMemoryStore()). // FileStore panics on an I/O error
		SetKeepAlive(o.KeepAlive).
		SetAutoReconnect(true).
		SetMaxReconnectInterval(o.MaxReconnect).
		SetConnectTimeout(30 * time.Second).
		SetWriteTimeout(30 * time.Second).
		// Messages of the persistent session can arrive before OnConnect has
		// subscribed again; the default handler takes every message, so none
		// waits for a route.
		SetDefaultPublishHandler(s.onMessage).
		SetConnectionAttemptHandler(s.onAttempt).
		SetOnConnectHandler(s.onConnect).
		SetConnectionLostHandler(s.onLost).
		SetReconnectingHandler(func(mqtt.Client, *mqtt.ClientOptions) {
			s.log.Info("reconnecting to the broker", "url", o.URL)
		})
	if o.CAFile != "" {
		tc, err := tlsConfig(o.CAFile)
		if err != nil {
			return nil, err
		}
		opts.SetTLSConfig(tc)
	}
	return opts, nil
}

// Collectors are the subscriber's Prometheus metrics.
func (s *Subscriber) Collectors() []prometheus.Collector { return s.m.collectors() }

// Connected reports whether the connection to the broker is up.
func (s *Subscriber) Connected() bool { return s.client.IsConnectionOpen() }

// Start starts the workers, connects and subscribes. A broker that does not
// answer is retried with a capped backoff until ctx ends; a broker that
// refuses the connection (bad credentials, client id, protocol) or a filter
// is an error. After Start, paho reconnects by itself and onConnect
// subscribes again.
func (s *Subscriber) Start(ctx context.Context) error {
	for i := 0; i < s.o.Workers; i++ {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.work()
		}()
	}
	if err := s.connect(ctx); err != nil {
		return err
	}
	select {
	case err := <-s.firstSub:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Subscriber) connect(ctx context.Context) error {
	wait := time.Second
	for {
		tok := s.client.Connect()
		select {
		case <-tok.Done():
		case <-ctx.Done():
			return ctx.Err()
		}
		err := tok.Error()
		if err == nil {
			return nil
		}
		if ct, ok := tok.(*mqtt.ConnectToken); ok && refused(ct.ReturnCode()) {
			return fmt.Errorf("connect to %s as %q: the broker refused: %w", s.o.URL, s.o.ClientID, err)
		}
		s.log.Warn("broker unreachable, retrying", "url", s.o.URL, "err", err, "retry_in", wait)
		select {
		case <-time.After(wait):
		case <-ctx.Done():
			return ctx.Err()
		}
		wait = min(2*wait, s.o.MaxReconnect)
	}
}

// refused reports a CONNACK refusal that retrying cannot fix. 3 (server
// unavailable) and network errors are worth retrying.
func refused(rc byte) bool { return rc == 1 || rc == 2 || rc == 4 || rc == 5 }

// onAttempt runs before every connection attempt, after paho has stopped
// the previous connection's router: every message of that connection is in
// the queue by now, and none of the next one is.
func (s *Subscriber) onAttempt(_ *url.URL, tc *tls.Config) *tls.Config {
	s.conn.Store(s.newAckOrder())
	return tc
}

// newAckOrder starts the ack order of a connection. The previous one's
// messages still settle into theirs, whose PUBACKs paho drops: their packet
// ids mean nothing on the new connection.
func (s *Subscriber) newAckOrder() *ackOrder {
	return newAckOrder(func(acked bool, label string) {
		if acked {
			s.m.acked.WithLabelValues(label).Inc()
		} else {
			s.m.notAcked.WithLabelValues(label).Inc()
		}
	})
}

func (s *Subscriber) onConnect(mqtt.Client) {
	s.m.connected.Set(1)
	s.m.connects.Inc()
	s.log.Info("connected to the broker", "url", s.o.URL, "client_id", s.o.ClientID)
	// The persistent session normally keeps the subscriptions; subscribing
	// again covers a broker that lost its sessions (restart without
	// persistence, expiry) so a reconnect never stalls silently.
	conn := s.conn.Load()
	wait := time.Second
	for {
		err := s.subscribe()
		var re *refusedError
		if err == nil || errors.As(err, &re) {
			// Start waits for this first answer: a refused filter is a
			// configuration error, not something to retry quietly.
			s.subOnce.Do(func() { s.firstSub <- err })
		}
		if err == nil {
			return
		}
		s.m.subscribeFailures.Inc()
		s.log.Error("subscribe failed; retrying while connected", "filters", s.o.Filters, "err", err, "retry_in", wait)
		select {
		case <-time.After(wait):
		case <-s.stop:
			return
		}
		if s.conn.Load() != conn || !s.client.IsConnectionOpen() {
			return // the next connection subscribes for itself
		}
		wait = min(2*wait, s.o.MaxReconnect)
	}
}

func (s *Subscriber) subscribe() error {
	filters := make(map[string]byte, len(s.o.Filters))
	for _, f := range s.o.Filters {
		filters[f] = 1
	}
	tok := s.client.SubscribeMultiple(filters, nil) // nil: the default handler takes every message
	if !tok.WaitTimeout(subscribeTimeout) {
		return fmt.Errorf("subscribe %q: no SUBACK within %s", s.o.Filters, subscribeTimeout)
	}
	if err := tok.Error(); err != nil {
		return fmt.Errorf("subscribe %q: %w", s.o.Filters, err)
	}
	st, ok := tok.(*mqtt.SubscribeToken)
	if !ok {
		return nil
	}
	for f, code := range st.Result() {
		if code > 2 { // 0x80: refused (ACL, or an unsupported $share filter)
			return &refusedError{filter: f, code: code}
		}
		s.log.Info("subscribed", "filter", f, "qos", code)
	}
	return nil
}

type refusedError struct {
	filter string
	code   byte
}

func (e *refusedError) Error() string {
	return fmt.Sprintf("subscribe %q: the broker refused it (SUBACK 0x%02x: not allowed, or $share not supported)", e.filter, e.code)
}

func (s *Subscriber) onLost(_ mqtt.Client, err error) {
	s.m.connected.Set(0)
	s.m.lost.Inc()
	s.log.Warn("connection to the broker lost; unacknowledged messages will be redelivered after reconnecting",
		"url", s.o.URL, "err", err, "queued", s.q.len())
}

// onMessage is paho's handler: it must not block (OrderMatters(true)).
// It runs on paho's router, one message at a time in the order they came
// off the network, so this is where each takes its place in the ack order.
func (s *Subscriber) onMessage(_ mqtt.Client, msg mqtt.Message) {
	s.m.received.Inc()
	acks := s.conn.Load()
	seq := acks.add(msg)
	switch {
	case msg.Retained():
		// Brokers set retain only on the copy sent because of a
		// (re)subscription: a replay of state the bridge has already
		// seen live, or that predates it. Spooling it would write a
		// receive-time-stamped point again at every reconnect.
		s.log.Debug("retained message ignored", "topic", msg.Topic())
		acks.ack(seq, "ignored_retained")
	case !s.o.Wants(msg.Topic()):
		s.log.Debug("message on a topic no mapping wants, ignored", "topic", msg.Topic())
		acks.ack(seq, "ignored_topic")
	default:
		d := delivery{msg: msg, received: time.Now(), acks: acks, seq: seq}
		if !s.q.push(d) {
			acks.drop(seq, "shutdown")
		}
	}
}

// Stop ends the subscription's effects without ending the subscription (the
// persistent session keeps collecting messages for the next start): no new
// message is spooled or acknowledged, the workers finish the message they
// hold, the acknowledgements already made are flushed and the connection is
// closed. Unacknowledged messages stay with the broker.
func (s *Subscriber) Stop() {
	if s.stopping.Swap(true) {
		return
	}
	close(s.stop)
	if left := s.q.close(); len(left) > 0 {
		for _, d := range left {
			d.acks.drop(d.seq, "shutdown")
		}
		s.log.Info("messages left to the broker for redelivery", "count", len(left))
	}
	s.wg.Wait()
	s.client.Disconnect(uint(disconnectQuiet / time.Millisecond))
	s.m.connected.Set(0)
	s.log.Info("disconnected from the broker", "url", s.o.URL)
}
