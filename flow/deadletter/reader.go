package deadletter

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// Reader reads the entries of a dead-letter file back, for replay tools and
// tests.
type Reader struct {
	r    *bufio.Reader
	line int
}

// NewReader reads JSON lines from r.
func NewReader(r io.Reader) *Reader { return &Reader{r: bufio.NewReader(r)} }

// Next returns the next entry, or io.EOF after the last. Blank lines are
// skipped; a line that is not an entry is an error naming its line number.
func (r *Reader) Next() (Entry, error) {
	for {
		raw, err := r.r.ReadBytes('\n')
		if len(raw) == 0 && err != nil {
			if errors.Is(err, io.EOF) {
				return Entry{}, io.EOF
			}
			return Entry{}, fmt.Errorf("dead-letter read line %d: %w", r.line+1, err)
		}
		r.line++
		raw = bytes.TrimSpace(raw)
		if len(raw) == 0 {
			continue
		}
		return decode(raw, r.line)
	}
}

func decode(raw []byte, n int) (Entry, error) {
	var l line
	if err := json.Unmarshal(raw, &l); err != nil {
		return Entry{}, fmt.Errorf("dead-letter read line %d: %w", n, err)
	}
	if l.Payload != nil && l.PayloadBase64 != nil {
		return Entry{}, fmt.Errorf("dead-letter read line %d: both payload and payload_base64 are set", n)
	}
	e := Entry{Time: l.Time, Source: l.Source, Device: l.Device, Topic: l.Topic, Reason: l.Reason, Detail: l.Detail, Payload: l.PayloadBase64}
	if l.Payload != nil {
		e.Payload = []byte(*l.Payload)
	}
	return e, nil
}
