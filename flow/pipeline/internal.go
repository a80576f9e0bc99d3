package pipeline

import (
	"errors"
	"fmt"

	"github.com/mqflux/mqflux/flow/ingest"
)

// AppendLines spools line protocol that mqflux writes itself (alert
// transitions), counted under source. It goes to the output like any
// reading, but is not mapped and the observers do not see it. It answers
// like Sink.Ingest: nil once spooled, ingest.ErrFull, or a spool error.
func (p *Pipeline) AppendLines(source string, rec []byte) error {
	if len(rec) == 0 || rec[len(rec)-1] != '\n' {
		return errors.New("spool append: internal record does not end in a newline")
	}
	if err := p.spool.Append(rec); err != nil {
		if errors.Is(err, ingest.ErrFull) {
			p.m.counts.pushedBack.with(source, "").Add(1)
			return ingest.ErrFull
		}
		return fmt.Errorf("spool append: %w", err)
	}
	p.m.counts.spooled.with(source, "").Add(1)
	return nil
}
