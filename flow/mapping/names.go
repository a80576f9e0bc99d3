package mapping

import "github.com/mqflux/mqflux/internal/names"

// nameProblem says why s cannot be written as a measurement, tag key, tag
// value or field key, and at which byte; "" when it can.
//
// Line protocol has no escape for control characters, and a backslash right
// before a character that needs escaping (or at the very end) is read back
// differently by InfluxDB's parser and by the line-protocol library, so
// those are refused instead of being stored as something else.
func nameProblem(s string) (string, int) {
	if s == "" {
		return "is empty", 0
	}
	return names.Problem(s, nameByte)
}

func nameByte(s string, i int) string {
	switch {
	case s[i] != '\\':
		return names.Control(s, i)
	case i+1 == len(s):
		return "ends with a backslash"
	case s[i+1] == ',' || s[i+1] == '=' || s[i+1] == ' ':
		return "has a backslash before a separator"
	}
	return ""
}

// stringProblem says why s cannot be a string field value; "" when it can.
// Quotes and backslashes are escaped, but newlines would split the record
// in the line-oriented spool, and InfluxDB has no escape for them.
func stringProblem(s string) (string, int) {
	return names.Problem(s, lineBreak)
}

func lineBreak(s string, i int) string {
	if s[i] == '\n' || s[i] == '\r' {
		return "has a line break"
	}
	return ""
}

// appendName appends s escaped for a tag key, tag value or field key
// (measurement=false) or for a measurement (measurement=true).
func appendName(dst []byte, s string, measurement bool) []byte {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == ',' || c == ' ' || (c == '=' && !measurement) {
			dst = append(dst, '\\')
		}
		dst = append(dst, c)
	}
	return dst
}

// appendString appends s as a quoted string field value.
func appendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c == '"' || c == '\\' {
			dst = append(dst, '\\')
		}
		dst = append(dst, c)
	}
	return append(dst, '"')
}
