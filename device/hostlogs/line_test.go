package hostlogs

import (
	"strings"
	"testing"
)

// Whatever a log holds, what is sent is a message the server stores as it
// is: valid UTF-8, one line, no control characters, at most max bytes.
func TestCleanMessage(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"two\nlines\r\n", "two lines"},
		{"nul\x00 esc\x1b[31m del\x7f tab\tkept", "nul  esc [31m del  tab\tkept"},
		{"bad \xff\xfe utf8", "bad \uFFFD utf8"},
		{strings.Repeat("a", 70), strings.Repeat("a", 61) + "…"},
		{strings.Repeat("é", 40), strings.Repeat("é", 30) + "…"}, // cut between characters, never inside one
	}
	for _, tt := range tests {
		if got := cleanMessage(tt.in, 64); got != tt.want || len(got) > 64 {
			t.Errorf("cleanMessage(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	for in, want := range map[string]string{
		"ssh.service": "ssh.service", "a b\\c\n": "a_b_c_", "\xff": "",
		strings.Repeat("u", 80): strings.Repeat("u", 64),
	} {
		if got := cleanTag(in); got != want {
			t.Errorf("cleanTag(%q) = %q, want %q", in, got, want)
		}
	}
}
