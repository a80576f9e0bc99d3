package mapping

import (
	"bytes"
	"errors"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/influxdata/line-protocol/v2/lineprotocol"

	"github.com/mqflux/mqflux/flow/ingest"
)

// receivedAt is the receive time used throughout: 1700000000123456789 ns.
func receivedAt() time.Time { return time.Unix(1700000000, 123456789) }

const rxNanos = "1700000000123456789"

// testConfig has one rule of each kind the table tests need.
func testConfig() Config {
	c := DefaultConfig()
	c.Topics = []TopicRule{
		{Template: "devices/{device}/sensors/{measurement}", Format: FormatAuto},
		{Template: "devices/{device}/line", Format: FormatLine, Tags: map[string]string{"site": "lab"}},
		{Template: "farm/{site}/+/{measurement}/{field}", Tags: map[string]string{"source": "farm"}},
		{Template: "legacy/{device}/#", Measurement: "legacy"},
		{Template: "ms/{device}/{measurement}", TimePrecision: "ms"},
		{Template: "us/{device}/{measurement}", TimePrecision: "us"},
		{Template: "ns/{device}/{measurement}", TimePrecision: "ns"},
		{Template: "nsline/{device}", Format: FormatLine, TimePrecision: "ns"},
	}
	return c
}

func mustNew(t testing.TB, c Config) *Mapper {
	t.Helper()
	m, err := New(c)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return m
}

// rejectOf returns the *ingest.RejectError in err, failing the test when
// err is something else.
func rejectOf(t testing.TB, err error) *ingest.RejectError {
	t.Helper()
	var re *ingest.RejectError
	if !errors.As(err, &re) {
		t.Fatalf("error %v (%T) is not a *ingest.RejectError", err, err)
	}
	return re
}

// appendChecked calls Append after a prefix and checks the contract about
// dst: unchanged on error, kept as a prefix on success.
func appendChecked(t testing.TB, m *Mapper, topic string, payload []byte, rx time.Time) ([]byte, *ingest.RejectError) {
	t.Helper()
	prefix := []byte("prefix\n")
	dst := append(make([]byte, 0, 64), prefix...)
	out, err := m.Append(dst, topic, payload, rx)
	if err != nil {
		re := rejectOf(t, err)
		if !bytes.Equal(out, prefix) {
			t.Fatalf("on reject %v, dst changed to %q", err, out)
		}
		return nil, re
	}
	if !bytes.HasPrefix(out, prefix) {
		t.Fatalf("output %q lost the prefix", out)
	}
	return out[len(prefix):], nil
}

type lpPoint struct {
	meas   string
	tags   map[string]string
	fields map[string]any
	ts     int64
}

// parseLP reads line protocol with the library parser and checks that what
// mqflux writes is canonical: every line ends in '\n', has a timestamp,
// tags and fields in sorted order.
func parseLP(t testing.TB, b []byte) []lpPoint {
	t.Helper()
	if len(b) == 0 || b[len(b)-1] != '\n' {
		t.Fatalf("output %q does not end in a newline", b)
	}
	dec := lineprotocol.NewDecoderWithBytes(b)
	var pts []lpPoint
	for dec.Next() {
		p := lpPoint{tags: map[string]string{}, fields: map[string]any{}}
		m, err := dec.Measurement()
		if err != nil {
			t.Fatalf("output %q: %v", b, err)
		}
		p.meas = string(m)
		var tagKeys, fieldKeys []string
		for {
			k, v, err := dec.NextTag()
			if err != nil {
				t.Fatalf("output %q: %v", b, err)
			}
			if k == nil {
				break
			}
			p.tags[string(k)] = string(v)
			tagKeys = append(tagKeys, string(k))
		}
		for {
			k, v, err := dec.NextField()
			if err != nil {
				t.Fatalf("output %q: %v", b, err)
			}
			if k == nil {
				break
			}
			p.fields[string(k)] = v.Interface()
			fieldKeys = append(fieldKeys, string(k))
		}
		tb, err := dec.TimeBytes()
		if err != nil || tb == nil {
			t.Fatalf("output %q: timestamp %q, %v", b, tb, err)
		}
		if p.ts, err = strconv.ParseInt(string(tb), 10, 64); err != nil {
			t.Fatalf("output %q: timestamp %q: %v", b, tb, err)
		}
		if !sort.StringsAreSorted(tagKeys) || !sort.StringsAreSorted(fieldKeys) {
			t.Fatalf("output %q: tags %v or fields %v not sorted", b, tagKeys, fieldKeys)
		}
		pts = append(pts, p)
	}
	return pts
}
