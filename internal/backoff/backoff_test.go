package backoff

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestDelay(t *testing.T) {
	ms := time.Millisecond
	tests := []struct {
		name       string
		p          Policy
		attempt    int
		retryAfter time.Duration
		lo, hi     time.Duration
	}{
		{"first attempt", Policy{Min: 100 * ms, Max: time.Second}, 0, 0, 100 * ms, 100 * ms},
		{"doubles", Policy{Min: 100 * ms, Max: time.Second}, 3, 0, 800 * ms, 800 * ms},
		{"capped", Policy{Min: 100 * ms, Max: time.Second}, 1000, 0, time.Second, time.Second},
		{"max below min is min", Policy{Min: time.Second, Max: ms}, 5, 0, time.Second, time.Second},
		{"zero policy does not wait", Policy{}, 7, 0, 0, 0},
		{"retry-after wins", Policy{Min: 100 * ms, Max: time.Second}, 9, 5 * time.Second, 5 * time.Second, 5 * time.Second},
		{"retry-after below the doubling wins", Policy{Min: time.Second, Max: time.Minute}, 9, ms, ms, ms},
		{"jitter: upper half", Policy{Min: 100 * ms, Max: time.Second, Jitter: true}, 3, 0, 400 * ms, 800 * ms},
		{"jitter: capped", Policy{Min: 100 * ms, Max: time.Second, Jitter: true}, 1000, 0, 500 * ms, time.Second},
		{"jitter: retry-after plus a tenth", Policy{Min: 100 * ms, Max: time.Second, Jitter: true}, 0, 5 * time.Second, 5 * time.Second, 5500 * ms},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for range 200 {
				if d := tc.p.Delay(tc.attempt, tc.retryAfter); d < tc.lo || d > tc.hi {
					t.Fatalf("Delay(%d, %s) = %s, want within [%s, %s]", tc.attempt, tc.retryAfter, d, tc.lo, tc.hi)
				}
			}
		})
	}
}

func TestNextDoublesToTheCap(t *testing.T) {
	p := Policy{Min: 5 * time.Millisecond, Max: time.Second}
	want := []time.Duration{5, 10, 20, 40, 80, 160, 320, 640, 1000, 1000}
	var d time.Duration
	for i, w := range want {
		d = p.Next(d)
		if d != w*time.Millisecond {
			t.Fatalf("step %d: %s, want %d ms", i, d, w)
		}
		if got := p.Delay(i, 0); got != d {
			t.Fatalf("Delay(%d) = %s, Next gave %s", i, got, d)
		}
	}
}

func TestSleep(t *testing.T) {
	if err := Sleep(context.Background(), time.Millisecond); err != nil {
		t.Fatalf("Sleep: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for _, d := range []time.Duration{time.Hour, 0, -time.Second} {
		if err := Sleep(ctx, d); !errors.Is(err, context.Canceled) {
			t.Fatalf("Sleep(%s) after cancel: %v, want context.Canceled", d, err)
		}
	}
	if err := Sleep(context.Background(), -time.Second); err != nil {
		t.Fatalf("Sleep(-1s): %v", err)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		header string
		want   time.Duration
		ok     bool
	}{
		{"", 0, false},
		{"   ", 0, false},
		{"7", 7 * time.Second, true},
		{" 120 ", 2 * time.Minute, true},
		{"0", 0, true},
		{"-3", 0, true},
		{"soon", 0, false},
		{"1.5", 0, false},
		{"99999999999999999999", 0, false},
		{"9999999999999", time.Duration(maxSeconds) * time.Second, true},
		{"Sun, 01 Mar 2026 13:00:00 GMT", time.Hour, true},
		{"Sunday, 01-Mar-26 12:00:30 GMT", 30 * time.Second, true},
		{"Sun Mar  1 12:00:05 2026", 5 * time.Second, true},
		{"Sun, 01 Mar 2026 11:00:00 GMT", 0, true},
		{"Sun, 01 Mar 2026 13:00:00 CET", 0, false},
	}
	for _, tc := range tests {
		d, ok := ParseRetryAfter(tc.header, now)
		if d != tc.want || ok != tc.ok {
			t.Errorf("ParseRetryAfter(%q) = %s, %v; want %s, %v", tc.header, d, ok, tc.want, tc.ok)
		}
	}
}
