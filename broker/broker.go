// Package broker is the MQTT broker embedded in `mqflux serve`: mochi-mqtt
// with TCP, TLS and WebSocket listeners, bcrypt users with roles, sessions
// and retained messages kept across restarts, and a hook that puts every
// reading into the spool before it is acknowledged.
package broker

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"sync/atomic"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/hooks/storage/pebble"
	"github.com/mochi-mqtt/server/v2/listeners"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/mqflux/mqflux/flow/ingest"
	"github.com/mqflux/mqflux/internal/loglimit"
	"github.com/mqflux/mqflux/passwd"
	"github.com/mqflux/mqflux/topic"
)

// Options wires a Broker.
type Options struct {
	Config  Config
	DataDir string // sessions and retained messages live in DataDir/broker
	// Sink receives every publish whose topic Wants accepts; nil runs a
	// plain broker.
	Sink  ingest.Sink
	Wants func(topic string) bool
	// Layout is the topic layout the roles are drawn from: the mapping's
	// templates, status template included (mapping.Mapper.Templates). Nil
	// means the default layout.
	Layout []topic.Template
	// Readable are topic prefixes beyond the layout that readers may
	// subscribe to, at the prefix and below: what the server itself
	// publishes for them, such as the alerts of the mqtt notifier.
	Readable []string
	// Status are the presence templates: a device's own presence topic is
	// always retained, whatever the retained limits.
	Status  []topic.Template
	Checker *passwd.Checker
	Logger  *slog.Logger
	// MochiLogger receives the MQTT library's own log; it reports each
	// refused client again with a packet dump, so it is quieter than Logger.
	MochiLogger *slog.Logger
}

// Broker is a configured, not yet listening, MQTT server.
type Broker struct {
	srv       *mqtt.Server
	ingest    *ingestHook
	log       *slog.Logger
	metrics   []prometheus.Collector
	listeners []*tcpListener // TCP and TLS: the ones whose accept loop is ours
	tarpit    *tarpit        // every listener's: holds what backoff refuses
	logs      *loglimit.Limiter
	store     *sessionStore
	// What Stats reads beside mochi's own counters.
	retained       *retainedLimits
	denied         *tally // {what, reason}
	offlineDropped *atomic.Int64
}

// New builds the broker and opens its session store; Serve starts it.
func New(o Options) (*Broker, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.MochiLogger == nil {
		o.MochiLogger = o.Logger
	}
	if o.Checker == nil {
		o.Checker = passwd.NewChecker()
	}
	if o.Layout == nil {
		o.Layout = []topic.Template{topic.MustParse(topic.DefaultReadings), topic.MustParse(topic.DefaultStatus)}
	}
	if o.Wants == nil {
		o.Wants = func(string) bool { return true }
	}
	srv := mqtt.New(&mqtt.Options{
		InlineClient: true, // the HTTP shim publishes through it
		Logger:       o.MochiLogger,
		Capabilities: capabilities(o.Config),
		// Large enough that a burst of PUBACKs and deliveries rarely waits.
		ClientNetWriteBufferSize: 4096,
		ClientNetReadBufferSize:  4096,
		Runners:                  o.Config.Runners,
		DropReport:               newDropLog(o.Logger, o.Config.MaxQueued).report,
	})

	b := &Broker{srv: srv, log: o.Logger, logs: loglimit.New(o.Logger)}
	b.ingest = &ingestHook{sink: o.Sink, wants: o.Wants, log: o.Logger, refused: new(tally)}
	b.denied = new(tally)
	auth := newAuthHook(o.Config.Users, roles{layout: o.Layout, readable: o.Readable}, o.Checker, o.Logger, b.logs, b.denied, srv.Clients.Get)
	auth.offline = newOfflineLimit(o.Config.MaxOfflineQueue, srv, o.Logger)
	b.offlineDropped = &auth.offline.dropped
	b.tarpit = newTarpit(o.Config.Tarpit, o.Checker.BackoffWait, o.Config.ConnectTimeout, int(o.Config.MaxPacketSize), auth.refuseRemote)
	// Before auth: the ACL and the ingest judge the topic an alias stands for.
	if err := srv.AddHook(&topicAliasHook{max: topicAliasMaximum}, nil); err != nil {
		return nil, fmt.Errorf("broker topic alias hook: %w", err)
	}
	if err := srv.AddHook(auth, nil); err != nil {
		return nil, fmt.Errorf("broker auth hook: %w", err)
	}
	// Before the ingest hook: a retained publish refused with 0x97 must
	// not be spooled.
	retained := newRetainedLimits(o.Config, o.Status, o.Logger)
	b.retained = retained
	if err := srv.AddHook(&retainHook{limits: retained}, nil); err != nil {
		return nil, fmt.Errorf("broker retained hook: %w", err)
	}
	if err := srv.AddHook(b.ingest, nil); err != nil {
		return nil, fmt.Errorf("broker ingest hook: %w", err)
	}
	if err := srv.AddHook(newKeepaliveHook(o.Config.MaxKeepalive), nil); err != nil {
		return nil, fmt.Errorf("broker keep-alive hook: %w", err)
	}
	if err := srv.AddHook(new(v3Hook), nil); err != nil {
		return nil, fmt.Errorf("broker MQTT 3.1.1 hook: %w", err)
	}
	dir := filepath.Join(o.DataDir, "broker")
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("broker session store: %w", err)
	}
	store := newSessionStore(retained)
	if err := srv.AddHook(store, &pebble.Options{Path: dir, Mode: pebble.Sync}); err != nil {
		return nil, fmt.Errorf("broker session store %s: %w", dir, err)
	}
	b.store = store
	acceptErrors := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "mqflux_mqtt_accept_errors_total",
		Help: "Failed accepts of new connections (e.g. no free descriptor), each retried with backoff.",
	}, []string{"listener"})
	if err := b.addListeners(o.Config, acceptErrors); err != nil {
		_ = srv.Close()
		return nil, err
	}
	b.metrics = []prometheus.Collector{acceptErrors, newStatsCollector(b)}
	return b, nil
}

func capabilities(c Config) *mqtt.Capabilities {
	caps := mqtt.NewDefaultServerCapabilities()
	// mochi deletes retained and queued messages after a day by default.
	caps.MaximumMessageExpiryInterval = int64(c.MessageExpiry.Seconds())
	caps.MaximumInflight = uint16(min(c.MaxInflight, math.MaxUint16))
	caps.InitialInflight = uint16(min(c.InitialInflight, c.MaxInflight, math.MaxUint16))
	caps.MaximumPacketSize = uint32(c.MaxPacketSize)
	caps.MaximumSessionExpiryInterval = uint32(min(c.SessionExpiry.Seconds(), math.MaxUint32))
	caps.MaximumClientWritesPending = int32(min(c.MaxQueued, math.MaxInt32))
	caps.TopicAliasMaximum = topicAliasMaximum
	// A PUBACK carried the publish's properties back, user properties
	// included; strict MQTT 5 clients close the connection on it.
	caps.Compatibilities.NoInheritedPropertiesOnAck = true
	return caps
}

func (b *Broker) addListeners(c Config, acceptErrors *prometheus.CounterVec) error {
	tcp := func(id, addr string, tc *tls.Config) error {
		l := newTCPListener(id, addr, tc, c.ConnectTimeout, c.WriteTimeout, newAcceptState(acceptErrors.WithLabelValues(id)), b.log)
		l.tarpit = b.tarpit
		if err := b.srv.AddListener(l); err != nil {
			return err
		}
		b.listeners = append(b.listeners, l)
		return nil
	}
	if c.TCP != "" {
		if err := tcp("tcp", c.TCP, nil); err != nil {
			return fmt.Errorf("broker.tcp %s: %w", c.TCP, err)
		}
	}
	if c.TLS.Address != "" {
		cert, err := tls.LoadX509KeyPair(c.TLS.Cert, c.TLS.Key)
		if err != nil {
			return fmt.Errorf("broker.tls: loading cert %s and key %s: %w", c.TLS.Cert, c.TLS.Key, err)
		}
		tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
		if err := tcp("tls", c.TLS.Address, tc); err != nil {
			return fmt.Errorf("broker.tls.address %s: %w", c.TLS.Address, err)
		}
	}
	if c.Websocket != "" {
		ws := &wsListener{Websocket: listeners.NewWebsocket(listeners.Config{ID: "ws", Address: c.Websocket}), connectTimeout: c.ConnectTimeout, writeTimeout: c.WriteTimeout, log: b.log.With("listener", "ws"), tarpit: b.tarpit}
		if err := b.srv.AddListener(ws); err != nil {
			return fmt.Errorf("broker.websocket %s: %w", c.Websocket, err)
		}
	}
	return nil
}

// Serve starts the listeners and returns; the broker runs until Close.
func (b *Broker) Serve() error {
	if err := b.srv.Serve(); err != nil {
		return fmt.Errorf("broker serve: %w", err)
	}
	return nil
}

// Drain stops acknowledging readings: from now on publishers keep what
// they send, for the next start or another server. When it returns, every
// reading acknowledged or about to be is in the spool.
func (b *Broker) Drain() { b.ingest.drain() }

// Publish sends a message from the server itself (the HTTP shim's
// readings, already spooled) to the subscribers.
func (b *Broker) Publish(topic string, payload []byte, retain bool, qos byte) error {
	return b.srv.Publish(topic, payload, retain, qos)
}

// Tarpit holds the logins of other protocols (HTTP) from addresses in
// backoff, within the bounds and counts of the MQTT connections' tarpit;
// closing the broker ends their holds.
func (b *Broker) Tarpit() passwd.Tarpit { return b.tarpit }

// Close disconnects every client and closes the session store.
func (b *Broker) Close() error {
	b.tarpit.close()
	err := b.srv.Close()
	b.logs.Close() // the counts of refusals not logged yet
	if errors.Is(err, os.ErrClosed) {
		return nil
	}
	return err
}

// SessionStoreFault says why MQTT sessions are not persisted (the session
// store could not be opened or a write to it failed, e.g. for a full
// disk); "" while they are. Readings do not depend on it.
func (b *Broker) SessionStoreFault() string { return b.store.Fault() }

// Listeners reports whether each TCP and TLS listener is accepting
// connections. (The WebSocket listener's accept loop is net/http's, which
// retries on its own and reports nothing.)
func (b *Broker) Listeners() []ListenerHealth {
	out := make([]ListenerHealth, 0, len(b.listeners))
	for _, l := range b.listeners {
		out = append(out, l.state.health(l.id, l.Address()))
	}
	return out
}

// Collectors are the broker's metrics, for /metrics.
func (b *Broker) Collectors() []prometheus.Collector { return b.metrics }
