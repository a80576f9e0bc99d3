package alert

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"github.com/mqflux/mqflux/alert/notify"
)

// Recorder spools line protocol (the pipeline's AppendLines), so that
// alert transitions reach InfluxDB the way readings do.
type Recorder func(lines []byte) error

// recordMeasurement is where transitions are written, one point each:
// alerts,device=pi-1,rule=disk-full state="firing",value=93,message="…"
// (no bool field: a query averaging every field of a device must not
// trip over one).
const recordMeasurement = "alerts"

// record is the notifier that writes transitions to InfluxDB: it rides the
// outbox like any notifier, so a transition that was saved is spooled even
// if the server stops in between. A repeat after a crash writes the same
// point again, which InfluxDB stores once.
type record struct {
	spool Recorder
}

// recordName names the InfluxDB notifier in the outbox and the metrics.
const recordName = "influx"

func (r *record) Name() string { return recordName }
func (r *record) Kind() string { return recordName }

func (r *record) Send(_ context.Context, n *notify.Notification) error {
	if err := r.spool(appendLine(nil, n)); err != nil {
		return fmt.Errorf("spool alert transition: %w", err)
	}
	return nil
}

// appendLine writes n as one line of line protocol, at the time mqflux saw
// the transition: a firing's since may equal the time of the resolution
// before it (the reading that resolved a silence is where the next one
// starts), and the two must not be one point.
func appendLine(b []byte, n *notify.Notification) []byte {
	b = append(b, recordMeasurement...)
	b = appendTag(b, "device", n.Device)
	b = appendTag(b, "rule", n.Rule)
	b = append(b, " state="...)
	b = appendString(b, n.State)
	if n.Value != nil {
		b = append(b, ",value="...)
		b = strconv.AppendFloat(b, *n.Value, 'g', -1, 64)
	}
	b = append(b, ",message="...)
	b = appendString(b, n.Message)
	b = append(b, ' ')
	b = strconv.AppendInt(b, n.Time.UnixNano(), 10)
	return append(b, '\n')
}

var tagEscaper = strings.NewReplacer(",", `\,`, "=", `\=`, " ", `\ `, "\n", `\ `)

func appendTag(b []byte, k, v string) []byte {
	b = append(b, ',')
	b = append(b, k...)
	b = append(b, '=')
	return append(b, tagEscaper.Replace(v)...)
}

// A line ends a point: a newline in a message becomes a space.
var stringEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", " ")

func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	b = append(b, stringEscaper.Replace(s)...)
	return append(b, '"')
}
