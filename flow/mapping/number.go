package mapping

import (
	"strconv"
	"time"

	"github.com/mqflux/mqflux/flow/ingest"
)

// appendNumber handles a bare number payload: one float field named by
// {field} (or "value"), stamped with the receive time.
func (m *Mapper) appendNumber(sc *scratch, dst []byte, r *rule, meas, fieldName string, payload, body []byte, received time.Time) ([]byte, *ingest.RejectError) {
	at := len(payload) - len(trimLeft(payload))
	num := body
	if num[0] == '+' { // printf("%+f") writes it; JSON does not allow it
		num = num[1:]
	}
	if end := scanNumber(num, 0); end != len(num) || end == 0 {
		if r.text && !isNonFinite(num) {
			return m.appendText(sc, dst, r, meas, fieldName, body, at, received)
		}
		if isNonFinite(num) {
			return nil, reject("nan_inf", "payload %s at byte %d is not a finite number", quote(body), at)
		}
		return nil, reject("bad_number", "payload %s at byte %d is not a number", quote(body), at)
	}
	f, err := strconv.ParseFloat(view(num), 64)
	if err != nil { // the grammar is checked, so only overflow is left
		return nil, reject("nan_inf", "payload %s at byte %d overflows a 64-bit float", quote(body), at)
	}
	ts, rej := receivedNanos(received)
	if rej != nil {
		return nil, rej
	}
	if fieldName == "" {
		fieldName = "value"
	}
	sc.fields = append(sc.fields, field{key: fieldName, kind: kindFloat, f: f, at: at})
	return m.finish(sc, dst, r, meas, ts)
}

// appendText handles a payload of a format text rule that is not a number:
// one string field, as ON, OFF or a text sensor's value are sent.
func (m *Mapper) appendText(sc *scratch, dst []byte, r *rule, meas, fieldName string, body []byte, at int, received time.Time) ([]byte, *ingest.RejectError) {
	s := view(body)
	if len(s) > m.maxString {
		return nil, reject("string_too_long", "payload at byte %d is %d bytes, max_string_bytes is %d", at, len(s), m.maxString)
	}
	if prob, pat := stringProblem(s); prob != "" {
		return nil, reject("bad_field", "payload at byte %d %s (byte %d of the value)", at, prob, pat)
	}
	ts, rej := receivedNanos(received)
	if rej != nil {
		return nil, rej
	}
	if fieldName == "" {
		fieldName = "value"
	}
	sc.fields = append(sc.fields, field{key: fieldName, kind: kindString, s: s, at: at})
	return m.finish(sc, dst, r, meas, ts)
}

// scanNumber returns the end of the JSON number starting at b[i], or -1
// when there is none there.
func scanNumber(b []byte, i int) int {
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i >= len(b):
		return -1
	case b[i] == '0':
		i++
	case b[i] >= '1' && b[i] <= '9':
		i = digits(b, i+1)
	default:
		return -1
	}
	if i < len(b) && b[i] == '.' {
		j := digits(b, i+1)
		if j == i+1 {
			return -1
		}
		i = j
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		j := digits(b, i)
		if j == i {
			return -1
		}
		i = j
	}
	return i
}

func digits(b []byte, i int) int {
	for i < len(b) && b[i] >= '0' && b[i] <= '9' {
		i++
	}
	return i
}

// isNonFinite recognises the spellings of NaN and infinity that sensors and
// C libraries print.
func isNonFinite(b []byte) bool {
	if len(b) > 0 && (b[0] == '-' || b[0] == '+') {
		b = b[1:]
	}
	switch string(b) {
	case "NaN", "nan", "NAN", "Inf", "inf", "INF", "Infinity", "infinity", "INFINITY":
		return true
	}
	return false
}

// quote renders a payload excerpt for an error message.
func quote(b []byte) string {
	const limit = 64
	if len(b) > limit {
		return strconv.Quote(string(b[:limit])) + "..."
	}
	return strconv.Quote(string(b))
}
