package bench

import (
	"strconv"
	"strings"
	"time"
)

// payloadFormat renders one reading. Every reading's value is unique in the
// run (see device.nextValue), so duplicates in storage can be told apart from
// distinct readings, and its timestamp is unique per device and measurement,
// so a redelivered reading overwrites itself instead of adding a point.
type payloadFormat struct {
	kind string // number, json, line
}

func (f payloadFormat) append(dst []byte, measurement, device string, value, ts int64) []byte {
	switch f.kind {
	case "number":
		return strconv.AppendInt(dst, value, 10)
	case "line":
		dst = append(dst, measurement...)
		dst = append(dst, ",device="...)
		dst = append(dst, device...)
		dst = append(dst, " value="...)
		dst = strconv.AppendInt(dst, value, 10)
		dst = append(dst, ' ')
		return strconv.AppendInt(dst, ts, 10)
	default:
		dst = append(dst, `{"value":`...)
		dst = strconv.AppendInt(dst, value, 10)
		dst = append(dst, `,"time":"`...)
		dst = time.Unix(0, ts).UTC().AppendFormat(dst, time.RFC3339Nano)
		return append(dst, `"}`...)
	}
}

// stampsTime reports whether the payload carries the reading's time; a bare
// number gets the broker's receive time instead.
func (f payloadFormat) stampsTime() bool { return f.kind != "number" }

func expandTopic(template, device, measurement string) string {
	return strings.NewReplacer("{device}", device, "{measurement}", measurement).Replace(template)
}

// probeMeasurement holds the latency probes: a measurement of their own keeps
// the poller's query small however many readings the run stores.
func probeMeasurement(m string) string { return m + "_probe" }
