// Package logs reads the log lines devices publish (mapping.logs_template,
// measurement logs: tags device, unit and level; fields message and pid)
// back from the first output for GET /v1/logs and the console's journal:
// newest first, a page at a time, filtered by time, device, unit, level
// and a substring of the message.
//
// Every filter is data, never InfluxQL: names are quoted string literals,
// the substring is a regular expression of the literal text (every
// metacharacter and the regex's own delimiter escaped), and control
// characters are refused.
package logs

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/mqflux/mqflux/flow/influx"
	"github.com/mqflux/mqflux/flow/mapping"
)

// Page sizes.
const (
	DefaultLimit = 100
	MaxLimit     = 1000
)

// DefaultSpan is how far back a query without from reaches.
const DefaultSpan = 24 * time.Hour

// ErrInvalid marks a query refused before anything was asked.
var ErrInvalid = errors.New("invalid logs query")

// Query selects log lines; empty filters match everything.
type Query struct {
	From, To time.Time // To zero: now; From zero: To - DefaultSpan
	Limit    int       // 0: DefaultLimit
	Device   string
	Unit     string
	Level    string
	Contains string // a substring of the message, matched literally
	// Cursor is a previous Page's Next: the page after it.
	Cursor string
}

// Entry is one log line.
type Entry struct {
	Time    time.Time `json:"time"`
	Device  string    `json:"device"`
	Unit    string    `json:"unit,omitempty"`
	Level   string    `json:"level,omitempty"`
	Message string    `json:"message"`
	PID     *float64  `json:"pid,omitempty"`
}

// Page is one answer: the entries newest first, and the cursor of the
// next (older) page when there is one.
type Page struct {
	Entries []Entry `json:"entries"`
	Next    string  `json:"next,omitempty"`
}

// Reader asks the first output's InfluxQL endpoint.
type Reader struct {
	Endpoint influx.Endpoint
	Now      func() time.Time // time.Now when nil
}

// cursor is where the next page starts: the entries of millisecond ms
// and before, less the first skip of them (those of ms already shown).
type cursor struct {
	ms   int64
	skip int
}

func parseCursor(s string) (cursor, error) {
	ms, skip, ok := strings.Cut(s, ".")
	c := cursor{}
	var err1, err2 error
	c.ms, err1 = strconv.ParseInt(ms, 10, 64)
	c.skip, err2 = strconv.Atoi(skip)
	if !ok || err1 != nil || err2 != nil || c.skip < 0 || c.skip > MaxLimit*100 {
		return cursor{}, fmt.Errorf("%w: cursor %q: want a previous answer's next", ErrInvalid, s)
	}
	return c, nil
}

func (c cursor) String() string { return strconv.FormatInt(c.ms, 10) + "." + strconv.Itoa(c.skip) }

// check fills the defaults and refuses what no quoting carries.
func (q *Query) check(now time.Time) (*cursor, error) {
	if q.To.IsZero() {
		q.To = now
	}
	if q.From.IsZero() {
		q.From = q.To.Add(-DefaultSpan)
	}
	if !q.From.Before(q.To) {
		return nil, fmt.Errorf("%w: from (%s) is not before to (%s)", ErrInvalid, q.From.Format(time.RFC3339), q.To.Format(time.RFC3339))
	}
	if q.Limit == 0 {
		q.Limit = DefaultLimit
	}
	if q.Limit < 1 || q.Limit > MaxLimit {
		return nil, fmt.Errorf("%w: limit %d: want 1 to %d", ErrInvalid, q.Limit, MaxLimit)
	}
	for name, v := range map[string]string{"device": q.Device, "unit": q.Unit, "level": q.Level, "contains": q.Contains} {
		if v == "" {
			continue
		}
		if err := influx.CheckName(v); err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrInvalid, name, err)
		}
	}
	if q.Cursor == "" {
		return nil, nil
	}
	c, err := parseCursor(q.Cursor)
	return &c, err
}

// Statement is the InfluxQL of q, newest first, one entry more than the
// page (to know whether another follows).
func Statement(q Query, c *cursor) string {
	to := q.To.UnixNano()
	offset := 0
	if c != nil {
		to = min(to, (c.ms+1)*int64(time.Millisecond))
		offset = c.skip
	}
	var b strings.Builder
	fmt.Fprintf(&b, `SELECT "message", "pid", "device", "unit", "level" FROM %s WHERE time >= %d AND time < %d`,
		influx.QuoteIdent(mapping.LogsMeasurement), q.From.UnixNano(), to)
	for _, f := range []struct{ key, v string }{{"device", q.Device}, {"unit", q.Unit}, {"level", q.Level}} {
		if f.v != "" {
			fmt.Fprintf(&b, " AND %s = %s", influx.QuoteIdent(f.key), influx.QuoteString(f.v))
		}
	}
	if q.Contains != "" {
		fmt.Fprintf(&b, ` AND "message" =~ /%s/`, QuoteRegex(q.Contains))
	}
	fmt.Fprintf(&b, " ORDER BY time DESC LIMIT %d OFFSET %d", q.Limit+1, offset)
	return b.String()
}

// QuoteRegex is the body of an InfluxQL regular expression literal that
// matches s literally.
func QuoteRegex(s string) string {
	return strings.ReplaceAll(regexp.QuoteMeta(s), "/", `\/`)
}

// Read answers q.
func (r Reader) Read(ctx context.Context, q Query) (Page, error) {
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	c, err := q.check(now())
	if err != nil {
		return Page{}, err
	}
	series, err := r.Endpoint.Query(ctx, Statement(q, c))
	if err != nil {
		return Page{}, fmt.Errorf("logs: %w", err)
	}
	p := Page{Entries: []Entry{}}
	var ms []int64
	for _, s := range series {
		for _, row := range s.Values {
			e, t, ok := entry(row)
			if ok {
				p.Entries = append(p.Entries, e)
				ms = append(ms, t)
			}
		}
	}
	if len(p.Entries) <= q.Limit {
		return p, nil
	}
	p.Entries, ms = p.Entries[:q.Limit], ms[:q.Limit]
	last := ms[len(ms)-1]
	next := cursor{ms: last}
	for i := len(ms) - 1; i >= 0 && ms[i] == last; i-- {
		next.skip++
	}
	if c != nil && c.ms == last {
		next.skip += c.skip
	}
	p.Next = next.String()
	return p, nil
}

// entry reads one row: time (ms), message, pid, device, unit, level.
func entry(row []json.RawMessage) (Entry, int64, bool) {
	if len(row) < 6 {
		return Entry{}, 0, false
	}
	var ms int64
	var msg, device, unit, level *string
	var pid *float64
	if json.Unmarshal(row[0], &ms) != nil || json.Unmarshal(row[1], &msg) != nil || msg == nil {
		return Entry{}, 0, false
	}
	_ = json.Unmarshal(row[2], &pid) // a pid that is not a number is left out
	_ = json.Unmarshal(row[3], &device)
	_ = json.Unmarshal(row[4], &unit)
	_ = json.Unmarshal(row[5], &level)
	e := Entry{Time: time.UnixMilli(ms).UTC(), Message: *msg, PID: pid}
	for dst, src := range map[*string]*string{&e.Device: device, &e.Unit: unit, &e.Level: level} {
		if src != nil {
			*dst = *src
		}
	}
	return e, ms, true
}
