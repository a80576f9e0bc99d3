//go:build unix

package testenv

import (
	"fmt"
	"os/exec"
	"runtime"
	"syscall"
	"testing"
	"time"
)

// Measured is what a process cost to run to its end, for the
// measurements behind BENCHMARKS.md: its wall time, and its CPU time and
// peak resident memory from the kernel's rusage.
type Measured struct {
	Output  []byte // stdout and stderr together
	Wall    time.Duration
	CPU     time.Duration // user and system
	PeakRSS int64         // bytes
}

// RunMeasured runs cmd to its end and measures it; a command that fails
// fails the test, with its output.
func RunMeasured(t testing.TB, cmd *exec.Cmd) Measured {
	t.Helper()
	began := time.Now()
	out, err := cmd.CombinedOutput()
	m := Measured{Output: out, Wall: time.Since(began)}
	if err != nil {
		t.Fatalf("%s: %v\n%s", cmd, err, out)
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	m.CPU = time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	m.PeakRSS = int64(ru.Maxrss)
	if runtime.GOOS != "darwin" && runtime.GOOS != "ios" {
		m.PeakRSS *= 1024 // counted in KiB but on Apple's systems
	}
	return m
}

// String is the measurement as BENCHMARKS.md gives it.
func (m Measured) String() string {
	return fmt.Sprintf("%.1f s wall, %.1f s CPU, peak RSS %d MiB", m.Wall.Seconds(), m.CPU.Seconds(), m.PeakRSS>>20)
}
