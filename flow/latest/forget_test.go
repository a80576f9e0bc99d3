package latest

import (
	"fmt"
	"strings"
	"testing"
)

// Forget drops every series of one device, and of it alone, and frees
// its share of the per-device bound: its next reading is remembered.
func TestForget(t *testing.T) {
	s := New(10, MaxSeriesPerDevice(2))
	if err := spool(s, "a,device=pi-1 value=1 1\nb,device=pi-1 value=1 1\nc,device=pi-1 value=1 1\na,device=pi-10 value=1 1\n"); err != nil {
		t.Fatal(err)
	}
	if n := s.Forget("pi-1"); n != 2 {
		t.Errorf("Forget(pi-1) = %d series, want 2", n)
	}
	if n := s.Forget("pi-1"); n != 0 {
		t.Errorf("a second Forget(pi-1) = %d, want 0", n)
	}
	if err := spool(s, "c,device=pi-1 value=2 2\n"); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range s.Latest(Filter{}) {
		got = append(got, fmt.Sprintf("%s/%s=%v", r.Device, r.Measurement, r.Fields["value"]))
	}
	if want := "pi-1/c=2 pi-10/a=1"; strings.Join(got, " ") != want {
		t.Errorf("store holds %v, want %s", got, want)
	}
}
