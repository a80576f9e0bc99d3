package mapping

import (
	"math"
	"time"

	"github.com/mqflux/mqflux/flow/ingest"
)

// The times InfluxDB stores: int64 nanoseconds less the sentinels it keeps
// for itself at both ends (models.MinNanoTime and MaxNanoTime), that is
// 1677-09-21T00:12:43.145224194Z .. 2262-04-11T23:47:16.854775806Z.
// Refusing the rest here names the reading; InfluxDB would refuse the batch.
const (
	minNanos = math.MinInt64 + 2
	maxNanos = math.MaxInt64 - 1

	timeRange = "1677-09-21T00:12:43.145224194Z..2262-04-11T23:47:16.854775806Z"
)

func inRange(ns int64) bool { return ns >= minNanos && ns <= maxNanos }

// nanos converts t to nanoseconds since the epoch, reporting false when
// InfluxDB cannot store it (time.UnixNano is undefined out of int64 range).
func nanos(t time.Time) (int64, bool) {
	const minSec, maxSec = minNanos/1_000_000_000 - 1, maxNanos / 1_000_000_000
	s, ns := t.Unix(), int64(t.Nanosecond())
	if s < minSec || s > maxSec {
		return 0, false
	}
	if s == minSec { // s*1e9 alone would overflow
		v := (s+1)*1e9 - (1e9 - ns)
		return v, inRange(v)
	}
	v := s*1e9 + ns
	if v < s*1e9 { // overflow past MaxInt64
		return 0, false
	}
	return v, inRange(v)
}

// epochNanos converts a JSON number (already checked against the JSON
// grammar) holding an epoch in units of 10^-9+exp10 seconds into
// nanoseconds, exactly: digits below a nanosecond are truncated toward
// zero. It reports false when InfluxDB cannot store the result.
func epochNanos(raw []byte, exp10 int) (int64, bool) {
	i := 0
	neg := false
	if i < len(raw) && raw[i] == '-' {
		neg = true
		i++
	}
	var digits [20]byte
	nd, dp := 0, 0 // value = 0.digits × 10^dp
	for ; i < len(raw) && raw[i] >= '0' && raw[i] <= '9'; i++ {
		if nd == 0 && raw[i] == '0' {
			continue
		}
		if nd < len(digits) {
			digits[nd] = raw[i]
		}
		nd++
		dp++
	}
	if i < len(raw) && raw[i] == '.' {
		for i++; i < len(raw) && raw[i] >= '0' && raw[i] <= '9'; i++ {
			if nd == 0 && raw[i] == '0' {
				dp--
				continue
			}
			if nd < len(digits) {
				digits[nd] = raw[i]
			}
			nd++
		}
	}
	exp := 0
	if i < len(raw) && (raw[i] == 'e' || raw[i] == 'E') {
		i++
		eneg := false
		if i < len(raw) && (raw[i] == '+' || raw[i] == '-') {
			eneg = raw[i] == '-'
			i++
		}
		for ; i < len(raw); i++ {
			if exp < 1e6 { // far beyond any representable time either way
				exp = exp*10 + int(raw[i]-'0')
			}
		}
		if eneg {
			exp = -exp
		}
	}
	if nd == 0 {
		return 0, true
	}
	n := dp + exp + exp10 // digits before the decimal point, in nanoseconds
	if n <= 0 {
		return 0, true
	}
	if n > 19 {
		return 0, false
	}
	var v uint64
	for k := 0; k < n; k++ {
		d := uint64(0)
		if k < nd && k < len(digits) {
			d = uint64(digits[k] - '0')
		}
		v = v*10 + d
	}
	if v > math.MaxInt64 {
		return 0, false
	}
	if neg {
		return -int64(v), inRange(-int64(v))
	}
	return int64(v), inRange(int64(v))
}

// scaleEpoch multiplies an integer epoch in units of 10^-9+exp10 seconds
// to nanoseconds, reporting false when InfluxDB cannot store the result.
func scaleEpoch(v int64, exp10 int) (int64, bool) {
	for ; exp10 > 0; exp10-- {
		if v > math.MaxInt64/10 || v < math.MinInt64/10 {
			return 0, false
		}
		v *= 10
	}
	return v, inRange(v)
}

// receivedNanos is the receive time in nanoseconds, the time of a reading
// that carries none of its own; one InfluxDB cannot store is refused.
func receivedNanos(received time.Time) (int64, *ingest.RejectError) {
	ts, ok := nanos(received)
	if !ok {
		return 0, reject("bad_time", "receive time %s is outside %s", received.UTC().Format(time.RFC3339Nano), timeRange)
	}
	return ts, nil
}
