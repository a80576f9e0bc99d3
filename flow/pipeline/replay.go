package pipeline

import (
	"errors"
	"fmt"

	"github.com/mqflux/mqflux/flow/deadletter"
	"github.com/mqflux/mqflux/flow/fieldtypes"
	"github.com/mqflux/mqflux/flow/ingest"
	"github.com/mqflux/mqflux/flow/point"
)

// ReplayFilter selects the dead letters a replay re-drives; empty fields
// select all.
type ReplayFilter struct {
	Reason string `json:"reason,omitempty"`
	Device string `json:"device,omitempty"`
	// Measurement and Field select field_type_conflict dead letters by the
	// field their detail names (fieldtypes.ParseConflict); a dead letter
	// of another kind has none and is not selected when either is set.
	Measurement string `json:"measurement,omitempty"`
	Field       string `json:"field,omitempty"`
	DryRun      bool   `json:"dry_run,omitempty"`
}

// ReplayResult counts what a replay did (or, dry, would do) with the
// selected dead letters.
type ReplayResult struct {
	Selected int `json:"selected"`
	Stored   int `json:"stored"`  // mapped now and spooled; gone from the file
	Ignored  int `json:"ignored"` // on a topic the mapping now ignores; gone from the file
	// StillFailing stay in the file with the reason they fail for now.
	StillFailing map[string]int `json:"still_failing"`
}

// Replay re-drives the dead letters of readings (sources mqtt and http)
// that f selects through the current mapping into the spool, with the time
// they were first received: what now maps leaves the dead-letter file,
// what still fails stays with its new reason. A second replay finds
// nothing left to store; were the process to stop between the spool and
// the file, the points written again are the same points (same series,
// same time), which InfluxDB keeps once.
func (p *Pipeline) Replay(f ReplayFilter) (ReplayResult, error) {
	res := ReplayResult{StillFailing: map[string]int{}}
	var pts point.Set
	try := func(e deadletter.Entry) (deadletter.Entry, bool, error) {
		if !selected(e, f) {
			return e, true, nil
		}
		res.Selected++
		pts.Reset()
		rec, err := p.mapper.AppendPoints(nil, &pts, e.Topic, e.Payload, e.Time)
		if err == nil {
			err = p.checkTypes(&pts)
		}
		var re *ingest.RejectError
		switch {
		case errors.As(err, &re):
			res.StillFailing[re.Reason]++
			if !f.DryRun {
				e.Reason, e.Detail = re.Reason, re.Detail
			}
			return e, true, nil
		case err != nil:
			return e, true, fmt.Errorf("replay %s: %w", e.Topic, err)
		case len(rec) == 0:
			res.Ignored++
			return e, f.DryRun, nil
		case f.DryRun:
			res.Stored++
			return e, true, nil
		}
		if err := p.spool.Append(rec); err != nil {
			return e, true, fmt.Errorf("replay %s: spool append: %w", e.Topic, err)
		}
		p.m.counts.spooled.with("replay", "").Add(1)
		res.Stored++
		return e, false, nil
	}
	if f.DryRun {
		return res, p.dead.Each(func(e deadletter.Entry) error { _, _, err := try(e); return err })
	}
	return res, p.dead.Rewrite(try)
}

// selected reports whether a dead letter is a reading f selects. The
// output's refusals (line protocol InfluxDB would not take) have no topic
// to map again and are never replayed.
func selected(e deadletter.Entry, f ReplayFilter) bool {
	if e.Topic == "" || (e.Source != "mqtt" && e.Source != "http") {
		return false
	}
	if (f.Reason != "" && e.Reason != f.Reason) || (f.Device != "" && e.Device != f.Device) {
		return false
	}
	if f.Measurement == "" && f.Field == "" {
		return true
	}
	c, ok := fieldtypes.ParseConflict(e.Detail)
	return ok && (f.Measurement == "" || c.Measurement == f.Measurement) && (f.Field == "" || c.Field == f.Field)
}

// DeadLetterPath is the file dead letters are kept in.
func (p *Pipeline) DeadLetterPath() string { return p.dead.Path() }
