package pipeline

import (
	"context"
	"log/slog"
	"time"

	"github.com/mqflux/mqflux/flow/deadletter"
	"github.com/mqflux/mqflux/flow/fieldtypes"
	"github.com/mqflux/mqflux/internal/backoff"
)

// The field types the first output holds are asked again (SHOW FIELD
// KEYS) once at Start, then after the first output stored a batch while
// some type is still provisional, or refused a point (its verdict may be
// on a type), and after a failed attempt or replay, with a backoff. Asking
// is spaced by relearnMin while answers change the Store or readings bring
// new fields, and by up to relearnMax while they change nothing: a field
// whose every point the output refuses for another reason stays
// provisional, and must not cost a query per batch. After a failure the
// spacing grows to relearnRetryMax at most, so that an output back from an
// outage is asked soon after.
const (
	relearnMin      = time.Second
	relearnMax      = 5 * time.Minute
	relearnRetryMax = 30 * time.Second
	relearnTimeout  = 30 * time.Second
)

// replayReason is the reason mqflux gives a reading it refused for a field
// type; the ones whose type the output now confirms are replayed.
const replayReason = "field_type_conflict"

// kickRelearn asks the learn loop for the output's field types again; it
// never waits.
func (p *Pipeline) kickRelearn() {
	if p.relearn == nil {
		return
	}
	select {
	case p.relearn <- struct{}{}:
	default:
	}
}

// learnLoop keeps the Store in step with what the first output holds, and
// replays the dead letters the Store's corrections make storable.
func (p *Pipeline) learnLoop(ctx context.Context) {
	wait := relearnMin
	settle := true // the first answer also settles dead letters of earlier runs
	failures := 0
	learnt := p.types.Learnt()
	for {
		u, err := p.askFieldTypes(ctx)
		if ctx.Err() != nil {
			return
		}
		now := p.types.Learnt()
		switch {
		case err != nil:
			wait = min(2*wait, relearnRetryMax)
		case len(u.Confirmed) > 0 || u.Demoted > 0 || now != learnt:
			wait = relearnMin
		default:
			wait = min(2*wait, relearnMax)
		}
		learnt = now
		if err != nil {
			failures++
			level := slog.LevelDebug
			if failures == 1 {
				level = slog.LevelWarn
			}
			p.log.Log(ctx, level, "could not ask the first output for its field types; types learnt from readings stay provisional (never refused before the acknowledgement) until it answers",
				"output", p.runs[0].Name, "err", err, "retry_in", wait)
		} else {
			failures = 0
			if len(u.Confirmed) > 0 {
				settle = true
			}
			if settle {
				settle = !p.replayConfirmed()
			}
		}
		if backoff.Sleep(ctx, wait) != nil {
			return
		}
		if err != nil || settle {
			continue // try again without waiting for a write
		}
		select {
		case <-ctx.Done():
			return
		case <-p.relearn:
		}
	}
}

// askFieldTypes asks the first output for the field types it holds and
// corrects the Store with its answer.
func (p *Pipeline) askFieldTypes(ctx context.Context) (fieldtypes.Update, error) {
	ctx, cancel := context.WithTimeout(ctx, relearnTimeout)
	defer cancel()
	fields, err := p.o.FieldTypeSource.FieldKeys(ctx)
	if err != nil {
		return fieldtypes.Update{}, err
	}
	u := p.types.Relearn(fields)
	for _, f := range u.Corrected {
		p.log.Info("field type corrected by the first output", "output", p.runs[0].Name,
			"measurement", f.Measurement, "field", f.Field, "type", fieldtypes.KindName(f.Kind))
	}
	if u.Demoted > 0 {
		p.log.Info("field types the first output no longer holds are provisional again", "output", p.runs[0].Name, "fields", u.Demoted)
	}
	return u, nil
}

// replayConfirmed replays the field_type_conflict dead letters whose
// reading brings the type the output now confirms for its field: they were
// refused under a type the output does not hold (a guess of an earlier
// release, or a type the output has since dropped). One Replay per
// (measurement, field), filtered on reason, measurement and field. It
// reports whether every replay ran; what still fails stays in the file.
func (p *Pipeline) replayConfirmed() bool {
	type mf struct{ measurement, field string }
	var pairs []mf
	seen := map[mf]bool{}
	err := p.dead.Each(func(e deadletter.Entry) error {
		if !selected(e, ReplayFilter{Reason: replayReason}) {
			return nil
		}
		c, ok := fieldtypes.ParseConflict(e.Detail)
		k := mf{c.Measurement, c.Field}
		if !ok || seen[k] {
			return nil
		}
		if have, confirmed, ok := p.types.State(c.Measurement, c.Field); ok && confirmed && have == c.Got {
			seen[k] = true
			pairs = append(pairs, k)
		}
		return nil
	})
	if err != nil {
		p.log.Error("dead-letter file: could not look for readings refused under a corrected field type", "err", err)
		return false
	}
	done := true
	for _, k := range pairs {
		res, err := p.Replay(ReplayFilter{Reason: replayReason, Measurement: k.measurement, Field: k.field})
		if err != nil {
			p.log.Error("replay of readings refused under a corrected field type failed; the rest stay in the dead-letter file",
				"measurement", k.measurement, "field", k.field, "err", err)
			done = false
			continue
		}
		p.log.Info("replayed readings refused under a corrected field type", "measurement", k.measurement, "field", k.field,
			"stored", res.Stored, "still_failing", res.StillFailing)
	}
	return done
}
