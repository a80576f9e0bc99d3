package testenv

import "testing"

func TestPickRangeOf(t *testing.T) {
	for _, tc := range []struct {
		ephemeral string
		lo, hi    int
		ok        bool
	}{
		{"32768\t60999\n", 10000, 32768, true},
		{"1024 32767", 32768, 65536, true},
		{"10000 62000", 62001, 65536, true},
		{"11000 64000", 0, 0, false},
		{"1024 65535", 0, 0, false},
		{"", 0, 0, false},
		{"60999 32768", 0, 0, false},
		{"x 60999", 0, 0, false},
	} {
		lo, hi, ok := pickRangeOf(tc.ephemeral)
		if lo != tc.lo || hi != tc.hi || ok != tc.ok {
			t.Errorf("pickRangeOf(%q) = %d, %d, %v; want %d, %d, %v", tc.ephemeral, lo, hi, ok, tc.lo, tc.hi, tc.ok)
		}
	}
}

// A server started again on its port must not find it taken by an outgoing
// connection's source port, so picks stay out of the ephemeral range.
func TestFreePortsLieOutsideTheEphemeralRange(t *testing.T) {
	lo, hi, ok := pickRange()
	if !ok {
		t.Skip("this kernel leaves no room outside its ephemeral port range")
	}
	for _, p := range FreePorts(t, 50) {
		if p < lo || p >= hi {
			t.Errorf("FreePorts gave %d, outside [%d, %d)", p, lo, hi)
		}
	}
}
