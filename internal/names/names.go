// Package names checks strings that become names (topic levels,
// measurements, tags, fields) byte by byte. Each user refuses its own ASCII
// bytes; the walk and the UTF-8 check are here once. It links only the
// standard library, so the device agent can use it through topic.
package names

import "unicode/utf8"

// Problem says why s is refused, and at which byte; "" and -1 when it is
// not. Invalid UTF-8 is refused; each ASCII byte is passed to ascii with its
// index (s is passed too, so that a check can look ahead without a
// closure), which returns why it is refused or "".
func Problem(s string, ascii func(s string, i int) string) (string, int) {
	for i := 0; i < len(s); i++ {
		if s[i] < utf8.RuneSelf {
			if prob := ascii(s, i); prob != "" {
				return prob, i
			}
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			return "is not valid UTF-8", i
		}
		i += size - 1
	}
	return "", -1
}

// Control refuses the ASCII control characters, NUL and DEL included: no
// one types them into a name on purpose.
func Control(s string, i int) string {
	if c := s[i]; c < 0x20 || c == 0x7f {
		return "has a control character"
	}
	return ""
}
