package testenv

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// binaryPath finds a server binary for a test: $env, then <module
// root>/bin/name, then $PATH. A missing binary ends the test through
// Missing, which names what and how to get it.
func binaryPath(t testing.TB, env, name, what, how string) string {
	t.Helper()
	if p := os.Getenv(env); p != "" {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("%s=%s: %v", env, p, err)
		}
		return p
	}
	if p := filepath.Join(ModuleRoot(t), "bin", name); isExecutable(p) {
		return p
	}
	if p, err := exec.LookPath(name); err == nil {
		return p
	}
	Missing(t, what, how)
	return ""
}

// CopyDir copies the files of src (testdata written by an older release,
// say) into a new temporary directory, so a test may change them.
func CopyDir(t testing.TB, src string) string {
	t.Helper()
	dst := t.TempDir()
	entries, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		data, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), data, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

// daemon is a server process a test starts, stops and starts again on the
// same data (influxd, victoria-metrics): its log file, the running command
// and how it ended.
type daemon struct {
	name    string // in messages: "influxd"
	bin     string
	logPath string
	cmd     *exec.Cmd
	exited  chan struct{} // closed when cmd has been waited for
	waitErr error
}

// launch starts bin with args, its output appended to logPath, and waits
// until GET ready answers want; on failure the process is gone or about to
// be stopped by the caller.
func (d *daemon) launch(args []string, ready string, want int, timeout time.Duration) error {
	logf, err := os.OpenFile(d.logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return fmt.Errorf("open log %s: %w", d.logPath, err)
	}
	defer logf.Close() // the child keeps its own descriptor
	cmd := exec.Command(d.bin, args...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %w", d.bin, err)
	}
	d.cmd, d.exited, d.waitErr = cmd, make(chan struct{}), nil
	go func(exited chan struct{}) {
		d.waitErr = cmd.Wait()
		close(exited)
	}(d.exited)
	return d.waitReady(ready, want, timeout)
}

func (d *daemon) waitReady(url string, want int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	client := &http.Client{Timeout: 2 * time.Second}
	for time.Now().Before(deadline) {
		select {
		case <-d.exited:
			return fmt.Errorf("%s exited before answering %s: %v", d.name, url, d.waitErr)
		default:
		}
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == want {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("%s did not answer %s within %s", d.name, url, timeout)
}

// stop sends SIGTERM and waits for the exit (killing it after 30 s).
func (d *daemon) stop() error {
	if d.cmd == nil {
		return nil
	}
	defer func() { d.cmd = nil }()
	select {
	case <-d.exited:
		return nil
	default:
	}
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("SIGTERM: %w", err)
	}
	select {
	case <-d.exited:
		return nil
	case <-time.After(30 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.exited
		return fmt.Errorf("%s ignored SIGTERM for 30s and was killed", d.name)
	}
}

// roundTrip sends req and returns the answer's body when its status is
// want; any other status is an error with the server's words.
func roundTrip(req *http.Request, want int) ([]byte, error) {
	what := req.Method + " " + req.URL.Path
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("%s: read answer: %w", what, err)
	}
	if resp.StatusCode != want {
		return nil, fmt.Errorf("%s: %s: %s", what, resp.Status, bytes.TrimSpace(b))
	}
	return b, nil
}

// Pid is the running server's process id (influxd, victoria-metrics), for
// the load tool's CPU accounting; 0 while it is stopped.
func (d *daemon) Pid() int {
	if d.cmd == nil || d.cmd.Process == nil {
		return 0
	}
	return d.cmd.Process.Pid
}
