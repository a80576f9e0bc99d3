package output

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestBackoffDelay(t *testing.T) {
	tests := []struct {
		name       string
		b          Backoff
		attempt    int
		retryAfter time.Duration
		lo, hi     time.Duration
	}{
		{"first attempt", Backoff{100 * time.Millisecond, time.Second}, 0, 0, 50 * time.Millisecond, 100 * time.Millisecond},
		{"doubles", Backoff{100 * time.Millisecond, time.Second}, 3, 0, 400 * time.Millisecond, 800 * time.Millisecond},
		{"capped", Backoff{100 * time.Millisecond, time.Second}, 1000, 0, 500 * time.Millisecond, time.Second},
		{"retry-after wins", Backoff{100 * time.Millisecond, time.Second}, 0, 5 * time.Second, 5 * time.Second, 5500 * time.Millisecond},
		{"zero takes the defaults", Backoff{}, 1000, 0, DefaultMaxBackoff / 2, DefaultMaxBackoff},
		{"zero min", Backoff{Max: time.Second}, 0, 0, DefaultMinBackoff / 2, DefaultMinBackoff},
		{"max below min is min", Backoff{time.Second, time.Millisecond}, 5, 0, 500 * time.Millisecond, time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for range 200 {
				if d := tc.b.Delay(tc.attempt, tc.retryAfter); d < tc.lo || d > tc.hi {
					t.Fatalf("Delay(%d, %s) = %s, want within [%s, %s]", tc.attempt, tc.retryAfter, d, tc.lo, tc.hi)
				}
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	base := errors.New("429")
	tests := []struct {
		name string
		err  error
		want time.Duration
	}{
		{"plain error", base, 0},
		{"retry error", &RetryError{Err: base, After: 3 * time.Second}, 3 * time.Second},
		{"wrapped retry error", fmt.Errorf("write: %w", &RetryError{Err: base, After: time.Second}), time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := RetryAfter(tc.err); got != tc.want {
				t.Errorf("RetryAfter = %s, want %s", got, tc.want)
			}
			if !errors.Is(tc.err, base) {
				t.Errorf("%v does not wrap the sink's error", tc.err)
			}
		})
	}
}

type plain struct{}

func (plain) Write(context.Context, [][]byte) ([]Rejected, error) { return nil, nil }

type rich struct {
	plain
	up bool
	c  prometheus.Counter
}

func (r rich) Up() bool                           { return r.up }
func (r rich) Collectors() []prometheus.Collector { return []prometheus.Collector{r.c} }

func TestOptionalInterfaces(t *testing.T) {
	c := prometheus.NewCounter(prometheus.CounterOpts{Name: "x_total", Help: "x"})
	tests := []struct {
		name       string
		o          Output
		up         bool
		collectors int
	}{
		{"plain output is up, without metrics", plain{}, true, 0},
		{"checker down", rich{up: false, c: c}, false, 1},
		{"checker up", rich{up: true, c: c}, true, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Up(tc.o); got != tc.up {
				t.Errorf("Up = %v, want %v", got, tc.up)
			}
			if got := len(Collectors(tc.o)); got != tc.collectors {
				t.Errorf("%d collectors, want %d", got, tc.collectors)
			}
		})
	}
}
