package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"syscall"

	"github.com/mqflux/mqflux/flow/deadletter"
	"github.com/mqflux/mqflux/flow/pipeline"
	"github.com/mqflux/mqflux/server"
)

// runDeadLetter lists the dead letters, or replays them through the
// current mapping: through the running server when it answers at
// http.address, else on the data directory itself.
func runDeadLetter(p program, ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 || (args[0] != "list" && args[0] != "replay") {
		fmt.Fprintln(stderr, "Usage: mqflux deadletter list|replay [flags]   (mqflux deadletter replay -h for its flags)")
		return errUsage
	}
	fs := newFlags("deadletter "+args[0], stderr)
	path := fs.String("config", "", "configuration file (default: built-in defaults)")
	n := fs.Int("n", 10, "list: how many of the newest entries to show")
	reason := fs.String("reason", "", "replay: only dead letters with this reason")
	device := fs.String("device", "", "replay: only dead letters of this device")
	dry := fs.Bool("dry-run", false, "replay: count what would be stored and change nothing")
	creds := addLoginFlags(fs, "reader or admin")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	cfg, err := p.loadConfig(*path, stderr)
	if err != nil {
		return err
	}
	if args[0] == "list" {
		sum, err := deadletter.Summarize(deadletter.PathIn(cfg.DataDir), *n, "")
		if err != nil {
			return err
		}
		printSummary(stdout, sum)
		return nil
	}
	f := pipeline.ReplayFilter{Reason: *reason, Device: *device, DryRun: *dry}
	login, err := creds.login()
	if err != nil {
		return err
	}
	res, err := replayThroughServer(ctx, cfg.HTTP.Address, f, login)
	if errors.Is(err, syscall.ECONNREFUSED) {
		fmt.Fprintf(stderr, "no server answers at %s: replaying on %s directly\n", cfg.HTTP.Address, cfg.DataDir)
		res, err = replayOffline(cfg, stderr, f)
	}
	if err != nil {
		return err
	}
	printResult(stdout, res, *dry)
	return nil
}

func replayThroughServer(ctx context.Context, addr string, f pipeline.ReplayFilter, login [2]string) (pipeline.ReplayResult, error) {
	var res pipeline.ReplayResult
	q := url.Values{"reason": {f.Reason}, "device": {f.Device}, "dry_run": {fmt.Sprint(f.DryRun)}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://"+addr+"/v1/deadletter/replay?"+q.Encode(), nil)
	if err != nil {
		return res, fmt.Errorf("replay: %w", err)
	}
	if login[0] != "" {
		req.SetBasicAuth(login[0], login[1])
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return res, fmt.Errorf("replay through %s: %w", addr, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return res, fmt.Errorf("replay through %s: %s: %s", addr, resp.Status, body)
	}
	if err := json.Unmarshal(body, &res); err != nil {
		return res, fmt.Errorf("replay through %s: answer: %w", addr, err)
	}
	return res, nil
}

// replayOffline opens the data directory as the server would; only while
// no server runs on it.
func replayOffline(cfg server.Config, stderr io.Writer, f pipeline.ReplayFilter) (pipeline.ReplayResult, error) {
	pipe, err := server.OpenPipeline(cfg, newLogger(cfg.Log, stderr), nil)
	if err != nil {
		return pipeline.ReplayResult{}, err
	}
	res, err := pipe.Replay(f)
	return res, errors.Join(err, pipe.Stop(0))
}

func printSummary(w io.Writer, s deadletter.Summary) {
	fmt.Fprintf(w, "%d dead letters\n", s.Entries)
	for _, part := range []struct {
		title  string
		counts map[string]int
	}{{"by reason", s.ByReason}, {"by device", s.ByDevice}} {
		fmt.Fprintf(w, "%s:\n", part.title)
		keys := make([]string, 0, len(part.counts))
		for k := range part.counts {
			keys = append(keys, k)
		}
		sort.Slice(keys, func(i, j int) bool {
			return part.counts[keys[i]] > part.counts[keys[j]] || (part.counts[keys[i]] == part.counts[keys[j]] && keys[i] < keys[j])
		})
		for _, k := range keys {
			fmt.Fprintf(w, "  %6d  %s\n", part.counts[k], k)
		}
	}
	fmt.Fprintln(w, "newest:")
	for _, e := range s.Newest {
		fmt.Fprintf(w, "  %s  %-20s %-14s %s  %s\n", e.Time.Format("2006-01-02T15:04:05Z07:00"), e.Reason, e.Device, e.Topic, e.Detail)
	}
}

func printResult(w io.Writer, r pipeline.ReplayResult, dry bool) {
	verb := "stored"
	if dry {
		verb = "would be stored"
	}
	fmt.Fprintf(w, "selected %d: %d %s, %d ignored, %d still failing\n", r.Selected, r.Stored, verb, r.Ignored, r.Selected-r.Stored-r.Ignored)
	for reason, c := range r.StillFailing {
		fmt.Fprintf(w, "  %6d  %s\n", c, reason)
	}
}
