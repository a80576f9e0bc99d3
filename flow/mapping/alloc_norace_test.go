//go:build !race

package mapping

import (
	"testing"

	"github.com/mqflux/mqflux/flow/point"
)

// Under -race sync.Pool drops what it is given at random, so the scratch
// the mapper pools is allocated again now and then: this holds only
// without it.
func TestAppendPointsAllocatesNothing(t *testing.T) {
	m := mustNew(t, testConfig())
	var set point.Set
	dst := make([]byte, 0, 4096)
	payload := []byte(`{"temperature": 21.5, "humidity": 40.1, "door": false, "note": "ok", "time": 1795456800}`)
	run := func() {
		set.Reset()
		if _, err := m.AppendPoints(dst[:0], &set, "devices/pi-1/sensors/env", payload, receivedAt()); err != nil {
			t.Fatal(err)
		}
	}
	run()
	if n := testing.AllocsPerRun(1000, run); n != 0 {
		t.Errorf("%v allocations per reading, want 0", n)
	}
}
