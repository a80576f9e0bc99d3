package bench

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"
)

// Run parses args (its own flag.FlagSet named "bench"; -h prints the flags) and runs the load.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	level := slog.LevelWarn
	if cfg.Debug {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	rep, err := Load(ctx, cfg, stderr, log)
	if err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	if err := rep.write(stdout, cfg.JSON); err != nil {
		return fmt.Errorf("bench: write report: %w", err)
	}
	if err := rep.Err(); err != nil {
		return fmt.Errorf("bench: %w", err)
	}
	return nil
}

// Load runs the load described by cfg and measures it. progress receives the
// live line (nil or cfg.Progress == 0: none). The error is for a run that
// could not be measured at all; failed or lost readings are in the Report.
func Load(ctx context.Context, cfg Config, progress io.Writer, log *slog.Logger) (*Report, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	ticks := clockTicks()
	procs := append([]NamedPID{{Name: "bench", PID: os.Getpid()}}, cfg.PIDs...)
	before := make([]procSample, len(procs))
	for i, np := range procs {
		s, err := readProc(np.PID, ticks)
		if err != nil {
			return nil, fmt.Errorf("-pid %s=%d: %w", np.Name, np.PID, err)
		}
		before[i] = s
	}

	var influx *influxQL
	if cfg.InfluxURL != "" {
		influx = newInfluxQL(cfg.InfluxURL, cfg.Bucket, cfg.Token)
		if err := influx.ping(ctx); err != nil {
			return nil, err
		}
	}

	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := make(chan struct{})
	sh := &shared{cfg: &cfg, format: payloadFormat{kind: cfg.Payload}, pacer: newPacer(cfg.ConnectRate), stop: stop, log: log}
	var bg sync.WaitGroup
	bgCtx, stopBG := context.WithCancel(ctx)
	defer func() { stopBG(); bg.Wait() }()
	if influx != nil {
		sh.probes = newProbeLog()
		bg.Go(func() { tickProbes(bgCtx, sh.probes, cfg.ProbeEvery) })
		poll := cfg.ProbePoll
		if poll == 0 {
			poll = 100 * time.Millisecond
		}
		bg.Go(func() {
			pollProbes(bgCtx, influx, cfg.Measurement, sh.probes, poll, func(err error) {
				log.Warn("probe poll failed", "err", err)
			})
		})
	}

	devices := make([]*device, cfg.Devices)
	for i := range devices {
		devices[i] = newDevice(sh, i)
	}
	start := time.Now()
	if cfg.Duration > 0 {
		t := time.AfterFunc(cfg.Duration, func() { close(stop) })
		defer t.Stop()
	}
	var wg sync.WaitGroup
	for _, d := range devices {
		wg.Go(func() {
			if err := d.run(runCtx); err != nil {
				cancel(err)
			}
		})
	}
	progressDone := make(chan struct{})
	if progress != nil && cfg.Progress > 0 {
		go func() {
			defer close(progressDone)
			showProgress(runCtx, progress, devices, start, cfg.Progress)
		}()
	} else {
		close(progressDone)
	}
	wg.Wait()
	cancel(nil)
	<-progressDone
	if err := context.Cause(runCtx); err != nil && !errors.Is(err, context.Canceled) {
		return nil, err
	}
	rep := loadReport(cfg, devices)

	if influx != nil {
		target := rep.Acked
		if cfg.QoS == 0 {
			target = rep.Published
		}
		waitStart := time.Now()
		w, err := waitStored(ctx, influx, cfg.Measurement, target, cfg.Timeout, cfg.Settle, 200*time.Millisecond)
		if err != nil {
			return nil, err
		}
		points, distinct, err := influx.distinct(ctx, cfg.Measurement)
		if err != nil {
			return nil, fmt.Errorf("count distinct stored readings: %w", err)
		}
		// One more probe poll, so probes stored by now are counted.
		if oldest, ok := sh.probes.oldest(); ok {
			at := time.Now()
			if values, err := influx.probesVisible(ctx, cfg.Measurement, oldest); err == nil {
				sh.probes.visible(values, at)
			}
		}
		stopBG()
		bg.Wait()
		first := earliest(devices)
		rep.Storage = storageReport(target, points, distinct, w, first, time.Since(waitStart), sh.probes)
	}

	readings := rep.Acked
	if rep.Storage != nil {
		readings = rep.Storage.Stored
	} else if cfg.QoS == 0 {
		readings = rep.Published
	}
	for i, np := range procs {
		after, err := readProc(np.PID, ticks)
		if err != nil {
			return nil, fmt.Errorf("-pid %s=%d after the run: %w", np.Name, np.PID, err)
		}
		cpu := after.cpuSeconds - before[i].cpuSeconds
		rep.Processes = append(rep.Processes, Process{Name: np.Name, PID: np.PID, CPUSeconds: cpu,
			CPUPerMillion: perMillion(cpu, readings), PeakRSSBytes: after.peakRSS})
	}
	return rep, nil
}

func tickProbes(ctx context.Context, probes *probeLog, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			probes.due.Store(true)
		}
	}
}

func earliest(devices []*device) time.Time {
	var first int64
	for _, d := range devices {
		if f := d.firstPub.Load(); f != 0 && (first == 0 || f < first) {
			first = f
		}
	}
	return time.Unix(0, first)
}

func loadReport(cfg Config, devices []*device) *Report {
	r := &Report{Measurement: cfg.Measurement, Devices: cfg.Devices, QoS: int(cfg.QoS)}
	var first, lastPub, lastAck int64
	for _, d := range devices {
		r.Published += d.published.Load()
		r.Acked += d.acked.Load()
		r.Resent += d.resent.Load()
		r.Reconnects += d.reconnects.Load()
		if d.gaveUp.Load() {
			r.DevicesGaveUp++
		}
		if f := d.firstPub.Load(); f != 0 && (first == 0 || f < first) {
			first = f
		}
		lastPub = max(lastPub, d.lastPub.Load())
		lastAck = max(lastAck, d.lastAck.Load())
	}
	if cfg.QoS == 1 {
		r.Failed = r.Published - r.Acked
	}
	if first != 0 {
		pubDur := time.Duration(lastPub - first)
		r.PublishSecs, r.PublishRate = pubDur.Seconds(), rate(r.Published, pubDur)
		if lastAck != 0 {
			ackDur := time.Duration(lastAck - first)
			r.AckSecs, r.AckRate = ackDur.Seconds(), rate(r.Acked, ackDur)
		}
	}
	return r
}

func storageReport(target, points, distinct int64, w storedWait, first time.Time, waited time.Duration, probes *probeLog) *Storage {
	s := &Storage{
		Stored:        distinct,
		Points:        points,
		Duplicates:    max(0, points-distinct),
		Lost:          lost(target, distinct),
		Complete:      w.complete,
		StoreWaitSecs: waited.Seconds(),
	}
	if !first.IsZero() && w.count > 0 {
		d := w.lastGrew.Sub(first)
		s.EndToEndSecs, s.StoredRate = d.Seconds(), rate(distinct, d)
	}
	sent, lat := probes.result()
	s.ProbesSent, s.ProbesSeen = sent, len(lat)
	s.LatencyP50ms, s.LatencyP99ms, s.LatencyMaxms = ms(percentile(lat, 50)), ms(percentile(lat, 99)), ms(percentile(lat, 100))
	return s
}

// showProgress prints one line per interval: totals, in flight, ack rate.
func showProgress(ctx context.Context, w io.Writer, devices []*device, start time.Time, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	var prevAcked, prevPub int64
	prev := start
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			var pub, acked, inflight int64
			for _, d := range devices {
				pub += d.published.Load()
				acked += d.acked.Load()
				inflight += int64(d.inflight())
			}
			dt := now.Sub(prev)
			fmt.Fprintf(w, "%6.1fs published %d acked %d in flight %d  publish %.0f/s ack %.0f/s\n",
				now.Sub(start).Seconds(), pub, acked, inflight, rate(pub-prevPub, dt), rate(acked-prevAcked, dt))
			prevAcked, prevPub, prev = acked, pub, now
		}
	}
}
