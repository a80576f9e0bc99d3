package samples

import (
	"slices"
	"testing"
	"time"
)

func TestRing(t *testing.T) {
	t0 := time.Unix(1_800_000_000, 0)
	for _, tc := range []struct {
		name      string
		capacity  int
		adds      int
		wantTimes []int64 // offsets from t0, seconds
	}{
		{"empty", 3, 0, []int64{}},
		{"part full", 3, 2, []int64{0, 1}},
		{"exactly full", 3, 3, []int64{0, 1, 2}},
		{"wrapped once", 3, 4, []int64{1, 2, 3}},
		{"wrapped many times", 3, 11, []int64{8, 9, 10}},
		{"one row", 1, 5, []int64{4}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := NewRing(tc.capacity, 2)
			if err != nil {
				t.Fatal(err)
			}
			for i := range tc.adds {
				if err := r.Add(t0.Add(time.Duration(i)*time.Second), []float64{float64(i), float64(-i)}); err != nil {
					t.Fatal(err)
				}
			}
			s := r.Snapshot()
			if r.Len() != len(tc.wantTimes) {
				t.Errorf("Len = %d, want %d", r.Len(), len(tc.wantTimes))
			}
			var times []int64
			var a, b []float64
			for _, off := range tc.wantTimes {
				times = append(times, t0.UnixMilli()+off*1000)
				a, b = append(a, float64(off)), append(b, float64(-off))
			}
			if !slices.Equal(s.Times, times) || !slices.Equal(s.Cols[0], a) || !slices.Equal(s.Cols[1], b) {
				t.Errorf("snapshot = %v %v, want times %v columns %v %v", s.Times, s.Cols, times, a, b)
			}
		})
	}
}

// A snapshot is the caller's: later adds change nothing in it.
func TestRingSnapshotIsACopy(t *testing.T) {
	r, _ := NewRing(2, 1)
	_ = r.Add(time.UnixMilli(1), []float64{1})
	s := r.Snapshot()
	_ = r.Add(time.UnixMilli(2), []float64{2})
	_ = r.Add(time.UnixMilli(3), []float64{3})
	if s.Times[0] != 1 || s.Cols[0][0] != 1 || len(s.Times) != 1 {
		t.Errorf("snapshot changed under its holder: %v", s)
	}
}

func TestRingRefuses(t *testing.T) {
	for _, tc := range []struct{ capacity, cols int }{{0, 1}, {1, 0}, {-1, 3}} {
		if _, err := NewRing(tc.capacity, tc.cols); err == nil {
			t.Errorf("NewRing(%d, %d) took it", tc.capacity, tc.cols)
		}
	}
	r, _ := NewRing(4, 3)
	for _, row := range [][]float64{nil, {1, 2}, {1, 2, 3, 4}} {
		if err := r.Add(time.Now(), row); err == nil {
			t.Errorf("Add of a row of %d values into 3 columns took it", len(row))
		}
	}
	if r.Len() != 0 {
		t.Errorf("refused rows were kept: Len = %d", r.Len())
	}
}

// Adding a sample allocates nothing: the ring's storage is made once.
func TestRingAddAllocatesNothing(t *testing.T) {
	r, _ := NewRing(900, 4)
	row := []float64{1, 2, 3, 4}
	now := time.Now()
	if n := testing.AllocsPerRun(2000, func() { _ = r.Add(now, row) }); n != 0 {
		t.Errorf("Add allocates %v times a sample", n)
	}
}
