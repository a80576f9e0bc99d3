package passwd

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time { return c.t }

func testBackoff() (*backoff, *clock) {
	c := &clock{t: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
	b := newBackoff()
	b.now = c.now
	return b, c
}

func TestBackoffRefusesRepeatedFailures(t *testing.T) {
	b, clk := testBackoff()
	const attacker, other = "192.0.2.7:40001", "192.0.2.8:40001"
	for i := range b.freeFailures {
		if err := b.admit(attacker); err != nil {
			t.Fatalf("failure %d refused: the first %d are free", i+1, b.freeFailures)
		}
		b.record(attacker, false)
	}
	if err := b.admit(attacker); err != nil {
		t.Fatalf("after the %d free failures: admit = %v, want nil", b.freeFailures, err)
	}
	// Each further failure doubles the time the address is refused, from
	// any port.
	for i, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second} {
		b.record(attacker, false)
		if err := b.admit("192.0.2.7:40999"); !errors.Is(err, ErrBackoff) {
			t.Fatalf("failure %d past the free ones: admit = %v, want ErrBackoff", i+1, err)
		}
		clk.t = clk.t.Add(want - time.Millisecond)
		if err := b.admit(attacker); !errors.Is(err, ErrBackoff) {
			t.Fatalf("failure %d: admitted before %s passed", i+1, want)
		}
		clk.t = clk.t.Add(time.Millisecond)
		if err := b.admit(attacker); err != nil {
			t.Fatalf("failure %d: still refused after %s: %v", i+1, want, err)
		}
	}
	if err := b.admit(other); err != nil {
		t.Errorf("another address was refused: %v", err)
	}
	b.record(attacker, true)
	b.record(attacker, false)
	if err := b.admit(attacker); err != nil {
		t.Errorf("a success did not forget the address's failures: %v", err)
	}
}

func TestBackoffDelayIsCapped(t *testing.T) {
	b, _ := testBackoff()
	for _, tc := range []struct {
		n    int
		want time.Duration
	}{{1, time.Second}, {2, 2 * time.Second}, {9, 256 * time.Second}, {10, 5 * time.Minute}, {1000, 5 * time.Minute}} {
		if got := b.delay(tc.n); got != tc.want {
			t.Errorf("delay(%d) = %s, want %s", tc.n, got, tc.want)
		}
	}
}

func TestBackoffForgetsQuietAddresses(t *testing.T) {
	b, clk := testBackoff()
	const a = "192.0.2.7:1"
	for range b.freeFailures + 1 {
		b.record(a, false)
	}
	clk.t = clk.t.Add(b.forget + time.Second)
	b.record(a, false)
	if err := b.admit(a); err != nil {
		t.Errorf("one failure after a quiet %s still refused: %v", b.forget, err)
	}
}

func TestBackoffMemoryIsBounded(t *testing.T) {
	b, _ := testBackoff()
	b.maxAddrs = 8
	for i := range 100 {
		b.record(fmt.Sprintf("198.51.100.%d:1", i), false)
	}
	if len(b.addrs) != 8 || b.order.Len() != 8 {
		t.Fatalf("table holds %d addresses (%d in order), want at most 8", len(b.addrs), b.order.Len())
	}
	if _, ok := b.addrs["198.51.100.99"]; !ok {
		t.Error("the most recent address was evicted")
	}
}

func TestAddrKey(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"192.0.2.7:1883", "192.0.2.7"},
		{"[::ffff:192.0.2.7]:1883", "192.0.2.7"},
		{"[2001:db8:1:2:3:4:5:6]:1883", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:ffff::1]:80", "2001:db8:1:2::/64"},
		{"192.0.2.9", "192.0.2.9"},
		{"pipe", "pipe"},
	} {
		if got := addrKey(tc.in); got != tc.want {
			t.Errorf("addrKey(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
