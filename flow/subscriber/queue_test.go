package subscriber

import (
	"testing"
)

// A queue whose backlog never empties (the newest delivery always
// waiting) lets go of the deliveries it handed out, keeps their order, and
// still wakes a worker for what is left.
func TestQueueDropsItsConsumedFront(t *testing.T) {
	q := newQueue()
	const n = 5000
	for i := range n {
		q.push(delivery{seq: uint64(i)})
	}
	for i := range n - 1 {
		d, ok := q.pop()
		if !ok || d.seq != uint64(i) {
			t.Fatalf("pop %d: %d %v", i, d.seq, ok)
		}
	}
	q.mu.Lock()
	held, waiting := len(q.items), len(q.items)-q.head
	q.mu.Unlock()
	if waiting != 1 || held > 1024 {
		t.Errorf("holds %d deliveries for %d waiting, want 1 waiting in at most 1024", held, waiting)
	}
	if d, ok := q.pop(); !ok || d.seq != n-1 {
		t.Fatalf("last pop: %d %v", d.seq, ok)
	}
	q.mu.Lock()
	held, head := len(q.items), q.head
	q.mu.Unlock()
	if held != 0 || head != 0 {
		t.Errorf("empty queue holds %d from %d", held, head)
	}
}

func TestDropFront(t *testing.T) {
	tests := []struct {
		name              string
		n, first          int
		wantLen, wantHead int
	}{
		{"all consumed", 10, 10, 0, 0},
		{"small front kept", 10, 5, 10, 5},
		{"large front, less than half", 3000, 1100, 3000, 1100},
		{"large front, most of it", 3000, 2000, 1000, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := make([]int, tt.n)
			for i := range s {
				s[i] = i
			}
			got, head := dropFront(s, tt.first)
			if len(got) != tt.wantLen || head != tt.wantHead {
				t.Fatalf("len %d head %d, want %d %d", len(got), head, tt.wantLen, tt.wantHead)
			}
			if len(got) > head && got[head] != tt.first {
				t.Errorf("next is %d, want %d", got[head], tt.first)
			}
			if len(got) > 0 && len(got) < tt.n && s[tt.n-1] != 0 { // copied down: the tail cleared
				t.Errorf("the moved tail still holds %d", s[tt.n-1])
			}
		})
	}
}
