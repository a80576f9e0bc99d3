package dump

import (
	"fmt"
	"time"
)

// DateLayout is how a day is written: in flags, keys and the manifest.
const DateLayout = "2006-01-02"

// Day is one calendar day in a time zone: [Start, End). End is the next
// day's midnight, so a day across a change to or from summer time has 23
// or 25 hours, and a reading exactly at midnight belongs to the day it
// starts.
type Day struct {
	Date  string // YYYY-MM-DD
	Start time.Time
	End   time.Time
}

// ParseDay reads a YYYY-MM-DD date as a day in loc.
func ParseDay(date string, loc *time.Location) (Day, error) {
	t, err := time.ParseInLocation(DateLayout, date, loc)
	if err != nil || t.Format(DateLayout) != date {
		return Day{}, fmt.Errorf("date %q: want YYYY-MM-DD", date)
	}
	return DayOf(t, loc), nil
}

// DayOf is the day in loc that holds t.
func DayOf(t time.Time, loc *time.Location) Day {
	t = t.In(loc)
	start := time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, loc)
	return Day{Date: start.Format(DateLayout), Start: start,
		End: time.Date(t.Year(), t.Month(), t.Day()+1, 0, 0, 0, 0, loc)}
}

// Next is the day after d.
func (d Day) Next() Day { return DayOf(d.End, d.Start.Location()) }

// Prev is the day before d.
func (d Day) Prev() Day { return DayOf(d.Start.Add(-time.Nanosecond), d.Start.Location()) }

// Due is when d is dumped: at the time of day at (after midnight) on the
// day after it, in its zone.
func (d Day) Due(at time.Duration) time.Time {
	n := d.End
	h, m := int(at/time.Hour), int(at%time.Hour/time.Minute)
	return time.Date(n.Year(), n.Month(), n.Day(), h, m, 0, 0, n.Location())
}
