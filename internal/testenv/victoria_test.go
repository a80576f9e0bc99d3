package testenv

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// TestVictoriaLifecycle: samples written are counted exactly, a resend of
// the same points counts once, and the data survives a restart.
func TestVictoriaLifecycle(t *testing.T) {
	v := StartVictoria(t)
	base := time.Now().Add(-time.Hour).UnixMilli() * 1e6
	var b strings.Builder
	for i := range 50 {
		// One millisecond apart: VictoriaMetrics keeps milliseconds.
		fmt.Fprintf(&b, "env,device=pi%d temp=%d.5,n=%di %d\n", i%3, i, i, base+int64(i)*1e6)
	}
	v.WriteLines(t, b.String())
	if n := v.Count(t, "env", "temp"); n != 50 {
		t.Fatalf("count(env temp) = %d, want 50", n)
	}
	v.WriteLines(t, b.String()) // an at-least-once resend
	if n := v.Count(t, "env", "n"); n != 50 {
		t.Fatalf("count(env n) after a resend = %d, want 50", n)
	}
	if n := v.Count(t, "env", "missing"); n != 0 {
		t.Fatalf("count of a field never written = %d", n)
	}

	v.Stop(t)
	if _, err := v.TryCount(t.Context(), "env", "temp"); err == nil {
		t.Fatal("TryCount succeeded while the server is stopped")
	}
	v.Start(t)
	if n := v.Count(t, "env", "temp"); n != 50 {
		t.Fatalf("count(env temp) after a restart = %d, want 50", n)
	}
}

func TestVictoriaMetricsPathFromEnv(t *testing.T) {
	bin := VictoriaMetricsPath(t) // skips (or fails in CI) when there is none
	t.Setenv("MQFLUX_VICTORIAMETRICS", bin)
	if got := VictoriaMetricsPath(t); got != bin {
		t.Fatalf("VictoriaMetricsPath = %q, want %q", got, bin)
	}
}
