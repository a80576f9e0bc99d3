//go:build unix

package testenv

import (
	"os/exec"
	"strings"
	"testing"
)

// RunMeasured keeps the output and reads the process's own rusage: a
// process that touches 16 MiB has a peak RSS of at least that.
func TestRunMeasured(t *testing.T) {
	sh, err := exec.LookPath("sh")
	if err != nil {
		t.Skip("no sh")
	}
	m := RunMeasured(t, exec.Command(sh, "-c", `head -c 16777216 /dev/zero | tr '\0' a | { x=$(cat); echo "${#x}"; }`))
	if got := strings.TrimSpace(string(m.Output)); got != "16777216" {
		t.Errorf("output %q, want 16777216", got)
	}
	if m.Wall <= 0 || m.PeakRSS < 16<<20 {
		t.Errorf("measured %s (%d bytes peak): want a wall time and at least 16 MiB", m, m.PeakRSS)
	}
}
