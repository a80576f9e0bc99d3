package device

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	mqtt "github.com/eclipse/paho.mqtt.golang"

	"github.com/mqflux/mqflux/device/hostlogs"
	"github.com/mqflux/mqflux/device/queue"
)

// Log lines are published in batches: a JSON array of lines, at most
// logBatchLines of them and logBatchBytes (half the server's default
// mapping.max_payload_bytes), with logWindow batches awaiting their PUBACK.
// The window is small so that log lines never hold many of the
// connection's packets while readings wait behind them.
const (
	logBatchLines = 100
	logBatchBytes = 32 << 10
	logWindow     = 2
)

// logForwarding is the log lines' queue, their shipper and sources.
type logForwarding struct {
	q    *queue.Queue
	ship *hostlogs.Shipper
	wg   sync.WaitGroup
}

// openLogs opens the log queue and starts the sources; nil when no source
// is configured.
func openLogs(ctx context.Context, cfg Config, fsync queue.Fsync, log *slog.Logger) (*logForwarding, error) {
	if !cfg.Logs.Enabled() {
		return nil, nil
	}
	max := int64(cfg.Logs.Queue.MaxBytes)
	q, err := queue.Open(queue.Options{
		Dir: cfg.Logs.Queue.Dir, MaxBytes: max, SegmentBytes: max / 16, Fsync: fsync,
		Logger: log.With("component", "log-queue"),
	})
	if err != nil {
		return nil, fmt.Errorf("device.logs.queue: %w", err)
	}
	lf := &logForwarding{q: q}
	llog := log.With("component", "logs")
	lf.ship = hostlogs.NewShipper(hostlogs.ShipperOptions{
		Queue: q, StatePath: cfg.logsStatePath(), MaxLine: int(cfg.Logs.MaxLine),
		PerSecond: cfg.Logs.MaxPerSecond, QueueMax: max, Logger: llog,
	})
	lf.wg.Go(func() { lf.ship.Run(ctx) })
	if cfg.Logs.Journal.Enabled {
		src := &hostlogs.JournalSource{Journal: cfg.Logs.Journal, Ship: lf.ship, Log: llog}
		lf.wg.Go(func() { src.Run(ctx) })
	}
	for _, f := range cfg.Logs.Files {
		src := &hostlogs.FileSource{File: f, Ship: lf.ship, Log: llog}
		lf.wg.Go(func() { src.Run(ctx) })
	}
	return lf, nil
}

// close waits for the sources (ctx must be done) and closes the queue.
func (lf *logForwarding) close(log *slog.Logger) {
	if lf == nil {
		return
	}
	lf.wg.Wait()
	if err := lf.q.Close(); err != nil {
		log.Error("close log queue", "err", err)
	}
}

type logBatch struct {
	ids []uint64
	tok mqtt.Token
}

// drainLogs publishes the log queue in batches on the connection until it
// is lost, done (the readings' drain ended) or ctx is done. It runs beside
// drain, with a window of its own, so a reading never waits for a log
// line's PUBACK, and the two queues are bounded apart on the card.
func (p *publisher) drainLogs(ctx context.Context, c mqtt.Client, lost, done <-chan struct{}, markLost func(error)) {
	q := p.logs
	q.Rewind()
	window := make(chan logBatch, logWindow)
	acksDone := make(chan struct{})
	go func() {
		defer close(acksDone)
		for b := range window {
			<-b.tok.Done()
			if err := b.tok.Error(); err != nil {
				markLost(fmt.Errorf("publish %d log lines: %w", len(b.ids), err))
				continue
			}
			for _, id := range b.ids {
				q.Ack(id)
			}
			p.logsSent.Add(uint64(len(b.ids)))
		}
	}()
	defer func() {
		close(window)
		// As for readings: a moment for the PUBACKs in flight; a batch
		// whose PUBACK does not come is sent again after the next start
		// (an Ack after the queue closed does nothing).
		select {
		case <-acksDone:
		case <-time.After(2 * time.Second):
		}
	}()
	body := make([]byte, 0, logBatchBytes+4<<10)
	for {
		var ids []uint64
		body = append(body[:0], '[')
		for len(ids) < logBatchLines && len(body) < logBatchBytes {
			rec, ok, err := q.Next()
			if errors.Is(err, queue.ErrClosed) {
				return
			}
			if err != nil {
				p.log.Error("queued log lines unreadable; skipped", "err", err)
				continue
			}
			if !ok {
				break
			}
			if len(ids) > 0 {
				body = append(body, ',')
			}
			body = append(body, rec.Data...)
			ids = append(ids, rec.ID)
		}
		if len(ids) == 0 {
			select {
			case <-q.Notify():
				continue
			case <-lost:
			case <-done:
			case <-ctx.Done():
			}
			return
		}
		body = append(body, ']')
		tok := c.Publish(p.logsTopic, 1, false, append([]byte(nil), body...))
		select {
		case window <- logBatch{ids: ids, tok: tok}:
		case <-lost:
			return
		case <-done:
			return
		case <-ctx.Done():
			return
		}
	}
}
