package mapping

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"strconv"
	"time"

	"github.com/mqflux/mqflux/flow/ingest"
)

// appendBatch reads a JSON array of objects on the logs template, each a
// point of its own, as read alone: the device agent publishes its log
// lines in batches. An element without its own time gets the receive time
// plus its index in nanoseconds, so the lines of one batch stay distinct
// points. One bad element refuses the whole message, naming the element.
func (m *Mapper) appendBatch(sc *scratch, dst []byte, r *rule, meas string, payload []byte, received time.Time) ([]byte, *ingest.RejectError) {
	dec := json.NewDecoder(bytes.NewReader(payload))
	dec.UseNumber()
	if _, err := dec.Token(); err != nil {
		return nil, reject("bad_json", "byte %d: %v", dec.InputOffset(), err)
	}
	out := dst
	n := 0
	for dec.More() {
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return nil, reject("bad_json", "element %d after byte %d: %v", n, dec.InputOffset(), err)
		}
		at := dec.InputOffset() - int64(len(raw)) // where the element starts
		if len(raw) == 0 || raw[0] != '{' {
			return nil, reject("bad_json", "element %d at byte %d: a log line is a JSON object", n, at)
		}
		sc.tags, sc.fields, sc.groups, sc.gtags, sc.path = sc.tags[:0], sc.fields[:0], sc.groups[:0], sc.gtags[:0], sc.path[:0]
		var rej *ingest.RejectError
		out, rej = m.appendJSON(sc, out, r, meas, raw, received.Add(time.Duration(n)))
		if rej != nil {
			rej.Detail = "element " + strconv.Itoa(n) + " (byte " + strconv.FormatInt(at, 10) + "): " + rej.Detail
			return nil, rej
		}
		n++
	}
	if _, err := dec.Token(); err != nil {
		return nil, reject("bad_json", "byte %d: %v", dec.InputOffset(), err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, reject("bad_json", "byte %d: data after the array", dec.InputOffset())
	}
	if n == 0 {
		return nil, reject("empty", "an empty array holds no log line")
	}
	return out, nil
}
