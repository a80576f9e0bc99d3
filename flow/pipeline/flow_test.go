package pipeline

import (
	"testing"
	"time"
)

// ReadFlow reads what Stats and Health report (received summed over every
// input, each output's written, the spool's depth) and, once its Written
// has room, allocates nothing: the history samples it every second.
func TestReadFlowMatchesStatsWithoutAllocating(t *testing.T) {
	out := &fakeOutput{up: true}
	p := openTest(t, t.TempDir(), out, nil)
	p.Start()
	defer stop(t, p, time.Minute)
	ingestN(t, p, 0, 7)
	http := p.Sink("http")
	for i := 7; i < 10; i++ {
		pl, _ := reading(i)
		if err := http.Ingest(testTopic, pl, rx); err != nil {
			t.Fatalf("Ingest %d: %v", i, err)
		}
	}
	waitDrained(t, p)

	var f Flow
	p.ReadFlow(&f)
	st, h := p.Stats(), p.Health()
	if f.Received != st.Received["mqtt"]+st.Received["http"] || f.Received != 10 {
		t.Errorf("received %d, want %d + %d = 10", f.Received, st.Received["mqtt"], st.Received["http"])
	}
	if len(f.Written) != 1 || f.Written[0] != st.Outputs[0].Written || f.Written[0] != 10 {
		t.Errorf("written %v, want [%d] = [10]", f.Written, st.Outputs[0].Written)
	}
	if f.SpoolRecords != h.SpoolRecords {
		t.Errorf("spool records %d, Health says %d", f.SpoolRecords, h.SpoolRecords)
	}
	if n := testing.AllocsPerRun(100, func() { p.ReadFlow(&f) }); n != 0 {
		t.Errorf("ReadFlow allocates %v times a call, want 0", n)
	}
	if n := testing.AllocsPerRun(100, func() { _ = p.Stats() }); n == 0 {
		t.Errorf("Stats allocates nothing: the comparison above proves nothing")
	}
}
