package point

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"time"
)

// AppendJSON writes fields as the JSON payload a device publishes:
// {"value":21.5,"time":"<RFC 3339>",...}, the field "value" first, then the
// time, then the other fields in the order given. Floats always read as
// floats (21 becomes 21.0): a subscriber or a mapping reading the payload
// again must not see an integer field one day and a float the next.
func AppendJSON(dst []byte, fields []Field, t time.Time) []byte {
	dst = append(dst, '{')
	first := true
	for i := range fields {
		if fields[i].Key == "value" {
			dst = appendMember(dst, &fields[i])
			first = false
		}
	}
	if !first {
		dst = append(dst, ',')
	}
	dst = append(dst, `"time":"`...)
	if u := t.UTC(); u.Year() >= 0 && u.Year() <= 9999 {
		t = u
	} // else RFC 3339 has no year for it in UTC; its own zone had one
	dst = t.AppendFormat(dst, time.RFC3339Nano)
	dst = append(dst, '"')
	for i := range fields {
		if fields[i].Key != "value" {
			dst = append(dst, ',')
			dst = appendMember(dst, &fields[i])
		}
	}
	return append(dst, '}')
}

func appendMember(dst []byte, f *Field) []byte {
	dst = appendJSONString(dst, f.Key)
	dst = append(dst, ':')
	switch f.Kind {
	case Int:
		return strconv.AppendInt(dst, int64(f.N), 10)
	case Uint:
		return strconv.AppendUint(dst, f.N, 10)
	case Bool:
		return strconv.AppendBool(dst, f.B)
	case String:
		return appendJSONString(dst, f.S)
	}
	return AppendJSONFloat(dst, f.F)
}

// appendJSONString escapes as encoding/json does (HTML characters included),
// so that a payload reads the same whichever path wrote it.
func appendJSONString(dst []byte, s string) []byte {
	b, _ := json.Marshal(s) // a string always marshals
	return append(dst, b...)
}

// AppendJSONFloat formats v as encoding/json does, then makes sure the
// literal reads as a float.
func AppendJSONFloat(b []byte, v float64) []byte {
	format := byte('f')
	if a := math.Abs(v); a != 0 && (a < 1e-6 || a >= 1e21) {
		format = 'e'
	}
	start := len(b)
	b = strconv.AppendFloat(b, v, format, -1, 64)
	if format == 'e' {
		// 1e-07 becomes 1e-7, as in encoding/json.
		if n := len(b); n-start >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
		return b
	}
	if !bytes.ContainsAny(b[start:], ".e") {
		b = append(b, ".0"...)
	}
	return b
}
