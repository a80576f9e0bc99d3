package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Process is a program a test runs (mqflux, the device agent, ...), its
// output kept in Log. It is killed when the test ends, and its last log
// lines are shown if the test failed.
type Process struct {
	Log     SyncBuffer
	cmd     *exec.Cmd
	exited  chan struct{}
	exitErr error
}

// StartProcess starts name with args. Its environment is the test's without
// MQFLUX_ variables (a developer's shell must not change what runs), plus
// env (KEY=value).
func StartProcess(t testing.TB, env []string, name string, args ...string) *Process {
	t.Helper()
	p := &Process{cmd: exec.Command(name, args...), exited: make(chan struct{})}
	p.cmd.Env = append(cleanEnv(), env...)
	p.cmd.Stdout, p.cmd.Stderr = &p.Log, &p.Log
	// A child of the program that outlives it (or a fork stuck before its
	// exec) holds the output pipes: Wait must still return, and the test
	// fail rather than hang.
	p.cmd.WaitDelay = 10 * time.Second
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		p.exitErr = p.cmd.Wait()
		close(p.exited)
	}()
	t.Cleanup(func() {
		_ = p.Signal(syscall.SIGKILL)
		if t.Failed() {
			t.Logf("--- %s %s (pid %d) log, last lines ---\n%s",
				filepath.Base(name), strings.Join(args, " "), p.Pid(), p.Log.Tail(60))
		}
	})
	return p
}

// cleanEnv is the test's environment less its MQFLUX_ variables.
func cleanEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "MQFLUX_") {
			env = append(env, kv)
		}
	}
	return env
}

// Exited is closed once the process has ended; Err then tells how.
func (p *Process) Exited() <-chan struct{} { return p.exited }

// Err is the exit error once Exited is closed.
func (p *Process) Err() error { return p.exitErr }

// Pid is the process id.
func (p *Process) Pid() int { return p.cmd.Process.Pid }

// Signal sends sig unless the process has ended already, and waits for the
// exit (killing it after 90 s). It returns the exit error, except after
// SIGKILL, where any end is what was asked for.
func (p *Process) Signal(sig syscall.Signal) error {
	select {
	case <-p.exited:
		return nil
	default:
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.exited:
	case <-time.After(90 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.exited
		return fmt.Errorf("no exit 90s after %v", sig)
	}
	if sig == syscall.SIGKILL {
		return nil
	}
	return p.exitErr
}
