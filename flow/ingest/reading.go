package ingest

import (
	"time"

	"github.com/mqflux/mqflux/flow/point"
)

// Reading is one reading its input has decoded already (the legacy HTTP
// API does): the mapping takes it as a value instead of parsing a payload
// the input would first have to encode.
type Reading struct {
	Device      string
	Measurement string
	Fields      []point.Field
	Time        time.Time // zero: stamped with the time it was received
}

// ReadingSink takes decoded readings. IngestReading answers as
// Sink.Ingest does: nil once spooled, ErrFull, a *RejectError (counted,
// logged and dead-lettered), or a spool error.
type ReadingSink interface {
	IngestReading(r Reading, received time.Time) error
}
