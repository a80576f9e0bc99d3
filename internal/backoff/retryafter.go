package backoff

import (
	"strconv"
	"strings"
	"time"
)

// httpDates are the date forms an HTTP/1.1 peer may send (RFC 9110 5.6.7),
// the ones net/http's ParseTime accepts; written out so this package does
// not link net/http.
var httpDates = [...]string{
	"Mon, 02 Jan 2006 15:04:05 GMT", // IMF-fixdate
	time.RFC850,
	time.ANSIC,
}

// ParseRetryAfter reads a Retry-After header, delay-seconds or an HTTP
// date, as the wait from now. ok is false when the header is absent or
// unreadable; a negative number or a date already past is a wait of 0.
func ParseRetryAfter(header string, now time.Time) (d time.Duration, ok bool) {
	v := strings.TrimSpace(header)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs <= 0 {
			return 0, true
		}
		return time.Duration(min(secs, int64(maxSeconds))) * time.Second, true
	}
	for _, layout := range httpDates {
		if t, err := time.Parse(layout, v); err == nil {
			return max(t.Sub(now), 0), true
		}
	}
	return 0, false
}

// maxSeconds keeps a huge delay-seconds from overflowing a Duration.
const maxSeconds = int64(1<<63-1) / int64(time.Second)
