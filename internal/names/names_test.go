package names

import "testing"

func TestProblem(t *testing.T) {
	noSpace := func(s string, i int) string {
		if s[i] == ' ' {
			return "has a space"
		}
		return ""
	}
	tests := []struct {
		name  string
		s     string
		ascii func(string, int) string
		prob  string
		at    int
	}{
		{"empty", "", Control, "", -1},
		{"plain", "pi-1.kitchen_2", Control, "", -1},
		{"multi-byte runes", "küche/温度", Control, "", -1},
		{"NUL", "a\x00b", Control, "has a control character", 1},
		{"DEL", "ab\x7f", Control, "has a control character", 2},
		{"newline", "a\nb", Control, "has a control character", 1},
		{"bad UTF-8", "ab\xffc", Control, "is not valid UTF-8", 2},
		{"truncated rune", "ü\xc3", Control, "is not valid UTF-8", 2},
		{"control after a rune", "温\x01", Control, "has a control character", 3},
		{"the caller's rule", "a b", noSpace, "has a space", 1},
		{"the caller's rule allows controls", "a\tb", noSpace, "", -1},
		{"UTF-8 is checked whatever the rule", "\xc0\xaf", noSpace, "is not valid UTF-8", 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if prob, at := Problem(tc.s, tc.ascii); prob != tc.prob || at != tc.at {
				t.Errorf("Problem(%q) = %q, %d; want %q, %d", tc.s, prob, at, tc.prob, tc.at)
			}
		})
	}
}
