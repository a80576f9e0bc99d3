// Package ingest names the one seam every input of mqflux feeds: the MQTT
// broker hook and the external-broker subscriber hand a message to a Sink,
// the legacy HTTP shim hands the reading it decoded to a ReadingSink, and
// either answers only once the reading is in the spool (or in the
// dead-letter file, for a reading that can never be stored).
package ingest

import (
	"errors"
	"fmt"
	"time"
)

// ErrFull reports that the spool has no room: the caller must push back
// (MQTT 5 reason 0x97, no PUBACK for MQTT 3.1.1, HTTP 503) and never drop.
var ErrFull = errors.New("spool full")

// Sink takes one MQTT-shaped message. received is the time the message reached
// mqflux; a reading without its own time is stamped with it.
//
// Ingest returns nil once the reading is spooled; ErrFull when it must be
// retried later; a *RejectError when the message can never become a point (it
// has been counted, logged and dead-lettered: acknowledge it); any other error
// when the spool could not be written (do not acknowledge).
type Sink interface {
	Ingest(topic string, payload []byte, received time.Time) error
}

// RejectError says why a message cannot become a point.
type RejectError struct {
	Reason string // short, stable, a metric label: "bad_json", "nan", "topic", ...
	Detail string // for people: what is wrong and where
}

func (e *RejectError) Error() string { return fmt.Sprintf("%s: %s", e.Reason, e.Detail) }

// IsReject reports whether err is (or wraps) a *RejectError.
func IsReject(err error) bool {
	var re *RejectError
	return errors.As(err, &re)
}
