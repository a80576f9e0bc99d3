package bench

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// procSample is one reading of a process's accounting.
type procSample struct {
	cpuSeconds float64
	peakRSS    int64 // bytes, VmHWM: the peak over the process's life
}

// clockTicks is the kernel's USER_HZ, read from the aux vector (AT_CLKTCK)
// because Go has no sysconf without cgo; 100 on every common Linux.
func clockTicks() float64 {
	b, err := os.ReadFile("/proc/self/auxv")
	if err != nil || len(b)%16 != 0 {
		return 100
	}
	for i := 0; i+16 <= len(b); i += 16 {
		if binary.NativeEndian.Uint64(b[i:]) == 17 { // AT_CLKTCK
			if v := binary.NativeEndian.Uint64(b[i+8:]); v > 0 {
				return float64(v)
			}
		}
	}
	return 100
}

// readProc reads CPU time (utime+stime from /proc/PID/stat) and peak RSS
// (VmHWM from /proc/PID/status).
func readProc(pid int, ticks float64) (procSample, error) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procSample{}, fmt.Errorf("process %d: %w", pid, err)
	}
	cpu, err := parseStatCPU(stat, ticks)
	if err != nil {
		return procSample{}, fmt.Errorf("process %d: /proc/%d/stat: %w", pid, pid, err)
	}
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return procSample{}, fmt.Errorf("process %d: %w", pid, err)
	}
	rss, err := parseStatusHWM(status)
	if err != nil {
		return procSample{}, fmt.Errorf("process %d: /proc/%d/status: %w", pid, pid, err)
	}
	return procSample{cpuSeconds: cpu, peakRSS: rss}, nil
}

// parseStatCPU takes fields 14 and 15 of /proc/PID/stat. The command name
// (field 2) may hold spaces and parentheses, so fields are counted from the
// last ')'.
func parseStatCPU(stat []byte, ticks float64) (float64, error) {
	end := bytes.LastIndexByte(stat, ')')
	if end < 0 {
		return 0, fmt.Errorf("no ')' closing the command name")
	}
	fields := strings.Fields(string(stat[end+1:]))
	if len(fields) < 13 {
		return 0, fmt.Errorf("%d fields after the command name, want at least 13", len(fields))
	}
	utime, err1 := strconv.ParseUint(fields[11], 10, 64)
	stime, err2 := strconv.ParseUint(fields[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("utime %q / stime %q are not counts of clock ticks", fields[11], fields[12])
	}
	return float64(utime+stime) / ticks, nil
}

func parseStatusHWM(status []byte) (int64, error) {
	for line := range strings.Lines(string(status)) {
		rest, ok := strings.CutPrefix(line, "VmHWM:")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) != 2 || f[1] != "kB" {
			return 0, fmt.Errorf("VmHWM line %q: want \"VmHWM: <n> kB\"", strings.TrimSpace(line))
		}
		kb, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("VmHWM line %q: %w", strings.TrimSpace(line), err)
		}
		return kb * 1024, nil
	}
	return 0, fmt.Errorf("no VmHWM line (a kernel thread or a zombie?)")
}
