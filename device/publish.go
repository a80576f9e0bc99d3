package device

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/mqflux/mqflux/device/queue"
	"github.com/mqflux/mqflux/internal/backoff"
)

// publisher owns the MQTT connection. It does not use paho's reconnect or
// its stores: each connection is a fresh clean session, and after any loss
// the queue is replayed from its oldest unacknowledged record. paho's
// FileStore panics on an I/O error and never fsyncs; the queue does both
// right, and replaying it after a reconnect costs at most max_inflight
// duplicates, which the receiver absorbs (each reading carries its time).
type publisher struct {
	cfg    Config
	status string // the presence topic
	// discovery are the Home Assistant configs announced on each connect.
	discovery []announcement
	password  string
	tls       *tls.Config
	q         *queue.Queue
	log       *slog.Logger
	// logs is the log lines' queue (nil: none forwarded), published on
	// logsTopic beside the readings.
	logs      *queue.Queue
	logsTopic string
	acked     ackFunc // nil outside the benchmarks

	connected atomic.Bool
	connects  atomic.Uint64
	logsSent  atomic.Uint64
}

var errLost = errors.New("connection lost")

func (p *publisher) run(ctx context.Context) {
	bo := backoff.Policy{Min: time.Second, Max: p.cfg.MaxReconnectInterval, Jitter: true}
	var failures int
	var down time.Time
	for ctx.Err() == nil {
		err := p.session(ctx, func() {
			if failures > 0 {
				p.log.Info("connected", "broker", p.cfg.Broker, "after_failures", failures, "offline_for", time.Since(down).Round(time.Second))
			} else {
				p.log.Info("connected", "broker", p.cfg.Broker)
			}
			failures = 0
		})
		if ctx.Err() != nil {
			return
		}
		if failures == 0 {
			p.log.Warn("broker unreachable or connection lost; readings stay queued, retrying", "err", err)
			down = time.Now()
		} else {
			p.log.Debug("retry failed", "err", err)
		}
		// Jitter, so a fleet of devices does not reconnect in lockstep
		// after the broker restarts.
		if backoff.Sleep(ctx, bo.Delay(failures, 0)) != nil {
			return
		}
		failures++
	}
}

// session connects, announces the device online, and sends the queue
// until the connection fails or ctx is done.
func (p *publisher) session(ctx context.Context, onConnect func()) error {
	lost := make(chan struct{})
	var lostOnce sync.Once
	var lostErr atomic.Value
	markLost := func(err error) {
		if err == nil {
			err = errLost
		}
		lostOnce.Do(func() {
			lostErr.Store(err)
			close(lost)
		})
	}
	c := mqtt.NewClient(p.options(func(_ mqtt.Client, err error) { markLost(err) }))
	if err := wait(ctx, lost, c.Connect()); err != nil {
		c.Disconnect(0)
		return fmt.Errorf("connect %s: %w", p.cfg.Broker, err)
	}
	p.connects.Add(1)
	p.connected.Store(true)
	defer p.connected.Store(false)
	status := p.status
	if err := wait(ctx, lost, c.Publish(status, 1, true, "online")); err != nil {
		c.Disconnect(0)
		return fmt.Errorf("publish online to %s: %w", status, err)
	}
	if err := p.announce(ctx, c, lost); err != nil {
		c.Disconnect(0)
		return err
	}
	onConnect()
	drained := make(chan struct{})
	var logs sync.WaitGroup
	if p.logs != nil {
		logs.Go(func() { p.drainLogs(ctx, c, lost, drained, markLost) })
	}
	err := p.drain(ctx, c, lost, markLost)
	close(drained)
	logs.Wait()
	if ctx.Err() != nil {
		// A clean DISCONNECT suppresses the will, so say offline first.
		tok := c.Publish(status, 1, true, "offline")
		tok.WaitTimeout(2 * time.Second)
		c.Disconnect(250)
		return ctx.Err()
	}
	c.Disconnect(0)
	if v, ok := lostErr.Load().(error); ok {
		return fmt.Errorf("%w: %w", errLost, v)
	}
	return err
}

func (p *publisher) options(onLost mqtt.ConnectionLostHandler) *mqtt.ClientOptions {
	o := mqtt.NewClientOptions().
		AddBroker(p.cfg.Broker).
		SetClientID(p.cfg.ClientID).
		SetUsername(p.cfg.Username).
		SetPassword(p.password).
		SetCleanSession(true).
		SetAutoReconnect(false).
		SetConnectRetry(false).
		SetStore(mqtt.NewMemoryStore()).
		SetOrderMatters(false).
		SetKeepAlive(p.cfg.KeepAlive).
		SetPingTimeout(10*time.Second).
		SetConnectTimeout(15*time.Second).
		SetWriteTimeout(15*time.Second).
		SetWill(p.status, "offline", 1, true).
		SetConnectionLostHandler(onLost)
	if p.tls != nil {
		o.SetTLSConfig(p.tls)
	}
	return o
}

type inflight struct {
	id   uint64
	tok  mqtt.Token
	body []byte // for acked only
}

// drain publishes queued records, keeping at most max_inflight without a
// PUBACK; a record is acknowledged in the queue only when its token
// completes without error.
func (p *publisher) drain(ctx context.Context, c mqtt.Client, lost <-chan struct{}, markLost func(error)) error {
	p.q.Rewind()
	window := make(chan inflight, p.cfg.MaxInflight)
	acksDone := make(chan struct{})
	go func() {
		defer close(acksDone)
		for f := range window {
			<-f.tok.Done()
			if err := f.tok.Error(); err != nil {
				markLost(fmt.Errorf("publish record %d: %w", f.id, err))
				continue
			}
			p.q.Ack(f.id)
			if p.acked != nil {
				p.acked(f.body, time.Now())
			}
		}
	}()
	defer func() {
		close(window)
		if ctx.Err() != nil {
			// Give the PUBACKs of what is in flight a moment; what does not
			// come back is sent again after the next start.
			select {
			case <-acksDone:
			case <-time.After(2 * time.Second):
			}
		}
	}()
	for {
		rec, ok, err := p.q.Next()
		if errors.Is(err, queue.ErrClosed) {
			return err
		}
		if err != nil {
			p.log.Error("queued records unreadable; skipped", "err", err)
			continue
		}
		if !ok {
			select {
			case <-p.q.Notify():
				continue
			case <-lost:
				return errLost
			case <-ctx.Done():
				return ctx.Err()
			}
		}
		topic, body, err := decodeRecord(rec.Data)
		if err != nil {
			// CRC-checked, so only a bug writes such a record: keep the
			// queue moving, but say so loudly.
			p.log.Error("queued record undecodable; dropped", "id", rec.ID, "err", err)
			p.q.Ack(rec.ID)
			continue
		}
		tok := c.Publish(topic, 1, false, body)
		f := inflight{id: rec.ID, tok: tok}
		if p.acked != nil {
			f.body = bytes.Clone(body) // the queue may reuse the record's buffer
		}
		select {
		case window <- f:
		case <-lost:
			return errLost
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// wait waits for a token, giving up when the connection is lost or ctx is
// done.
func wait(ctx context.Context, lost <-chan struct{}, tok mqtt.Token) error {
	select {
	case <-tok.Done():
		return tok.Error()
	case <-lost:
		return errLost
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (c *Config) password() (string, error) {
	if c.PasswordFile == "" {
		return c.Password, nil
	}
	b, err := os.ReadFile(c.PasswordFile)
	if err != nil {
		return "", fmt.Errorf("device.password_file: %w", err)
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}

func (c *Config) tlsConfig() (*tls.Config, error) {
	if !strings.HasPrefix(c.Broker, "ssl://") && !strings.HasPrefix(c.Broker, "wss://") {
		return nil, nil
	}
	t := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: c.TLS.InsecureSkipVerify}
	if c.TLS.CAFile != "" {
		pem, err := os.ReadFile(c.TLS.CAFile)
		if err != nil {
			return nil, fmt.Errorf("device.tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("device.tls.ca_file: %s holds no PEM certificate", c.TLS.CAFile)
		}
		t.RootCAs = pool
	}
	return t, nil
}

// announce publishes the Home Assistant discovery configs, retained, and
// removes (an empty retained payload) those announced before that are no
// longer configured. The list of what is announced is written only once
// the broker took it all, so a removal lost to a dropped connection is
// sent again on the next.
func (p *publisher) announce(ctx context.Context, c mqtt.Client, lost <-chan struct{}) error {
	path := p.cfg.announcedPath()
	before, err := readAnnounced(path)
	if err != nil {
		p.log.Warn("home assistant discovery: previous announcements unknown; none removed", "err", err)
	}
	all := withRemovals(p.discovery, before)
	for _, a := range all {
		if err := wait(ctx, lost, c.Publish(a.topic, 1, true, a.payload)); err != nil {
			return fmt.Errorf("home assistant discovery %s: %w", a.topic, err)
		}
	}
	if len(all) == 0 {
		return nil
	}
	now := make([]string, 0, len(p.discovery))
	for _, a := range p.discovery {
		now = append(now, a.topic)
	}
	if err := writeAnnounced(path, now); err != nil {
		p.log.Warn("home assistant discovery", "err", err)
	}
	p.log.Debug("home assistant discovery announced", "configs", len(p.discovery), "removed", len(all)-len(p.discovery))
	return nil
}
