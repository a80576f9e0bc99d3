package broker

import (
	"testing"
	"time"
)

// Failed accepts are retried after 5 ms, doubling up to a second, as
// net/http does.
func TestNextBackoffDoublesToTheCap(t *testing.T) {
	var d time.Duration
	var got []time.Duration
	for range 10 {
		d = nextBackoff(d)
		got = append(got, d)
	}
	want := []time.Duration{5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000}
	for i := range want {
		if got[i] != want[i]*time.Millisecond {
			t.Fatalf("backoffs %v, want %v ms", got, want)
		}
	}
}
