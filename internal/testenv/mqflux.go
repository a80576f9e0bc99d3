package testenv

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Build compiles a command of this module (e.g. "./cmd/mqflux") into a
// temporary directory and returns the binary's path. The go build cache
// makes every build after the first a link step.
func Build(t testing.TB, pkg string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), filepath.Base(pkg))
	cmd := exec.Command("go", "build", "-o", out, pkg)
	cmd.Dir = ModuleRoot(t)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", pkg, err, b)
	}
	return out
}

// Server is a real `mqflux serve` process started from the shipped
// config.yaml (its demo users and defaults), with the settings a test needs
// given as MQFLUX_ environment overrides.
type Server struct {
	Bin     string
	DataDir string
	MQTT    string // host:port of the TCP listener
	HTTP    string // host:port of the HTTP listener
	Config  string
	Env     []string // MQFLUX_* overrides, KEY=value
	// Nofile, when not 0, is the descriptor limit (ulimit -n) the process
	// starts under.
	Nofile int
	proc   *Process
}

// ServerOptions are what a test may change.
type ServerOptions struct {
	Influx *Influx  // where readings go; nil points at a closed port
	Env    []string // extra MQFLUX_* overrides
	Config string   // a config file instead of the shipped config.yaml
	// Nofile starts the server under this descriptor limit (ulimit -n,
	// soft and hard, so that Go does not raise it at start); 0 keeps the
	// test's.
	Nofile int
}

// StartServer builds mqflux, starts `mqflux serve`, waits until /healthz
// answers and stops the process when the test ends.
func StartServer(t testing.TB, o ServerOptions) *Server {
	t.Helper()
	s := &Server{
		Bin:     Build(t, "./cmd/mqflux"),
		DataDir: t.TempDir(),
		MQTT:    fmt.Sprintf("127.0.0.1:%d", FreePort(t)),
		HTTP:    fmt.Sprintf("127.0.0.1:%d", FreePort(t)),
		Config:  o.Config,
		Nofile:  o.Nofile,
	}
	if s.Config == "" {
		s.Config = filepath.Join(ModuleRoot(t), "config.yaml")
	}
	influxURL, bucket := fmt.Sprintf("http://127.0.0.1:%d", FreePort(t)), "telemetry/autogen"
	drain := "2s" // nothing answers at influxURL: do not wait for it on stop
	if o.Influx != nil {
		influxURL, bucket, drain = o.Influx.URL, o.Influx.Bucket(), "30s"
	}
	s.Env = append([]string{
		"MQFLUX_DATA_DIR=" + s.DataDir,
		"MQFLUX_BROKER_TCP=" + s.MQTT,
		"MQFLUX_HTTP_ADDRESS=" + s.HTTP,
		"MQFLUX_INFLUX_URL=" + influxURL,
		"MQFLUX_INFLUX_BUCKET=" + bucket,
		"MQFLUX_LOG_LEVEL=debug",
		"MQFLUX_INFLUX_DRAIN_TIMEOUT=" + drain,
	}, o.Env...)
	if o.Influx != nil && o.Influx.User != "" {
		s.Env = append(s.Env, "MQFLUX_INFLUX_TOKEN="+o.Influx.Token())
	}
	s.Start(t)
	return s
}

// Start starts the process again (same data dir and ports) and waits until
// it is ready.
func (s *Server) Start(t testing.TB) {
	t.Helper()
	if s.Nofile > 0 {
		script := fmt.Sprintf(`ulimit -n %d && exec "$0" "$@"`, s.Nofile)
		s.proc = StartProcess(t, s.Env, "sh", "-c", script, s.Bin, "serve", "-config", s.Config)
	} else {
		s.proc = StartProcess(t, s.Env, s.Bin, "serve", "-config", s.Config)
	}
	s.waitReady(t)
}

func (s *Server) waitReady(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-s.proc.Exited():
			t.Fatalf("mqflux serve exited while starting: %v\n%s", s.proc.Err(), s.tail(40))
		default:
		}
		resp, err := http.Get("http://" + s.HTTP + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("mqflux serve not ready after 60s\n%s", s.tail(40))
}

// Stop sends SIGTERM and waits for the graceful exit; it fails the test if
// the exit was not clean.
func (s *Server) Stop(t testing.TB) {
	t.Helper()
	if err := s.proc.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("mqflux serve did not stop cleanly: %v\n%s", err, s.tail(30))
	}
}

// Kill sends SIGKILL: a crash, with no chance to flush anything.
func (s *Server) Kill(t testing.TB) {
	t.Helper()
	_ = s.proc.Signal(syscall.SIGKILL)
}

// Pid is the running process's id.
func (s *Server) Pid() int { return s.proc.Pid() }

// Log is everything the current process has logged so far.
func (s *Server) Log() string { return s.proc.Log.String() }

// WaitLog waits until the current process logs a line containing all of
// the given substrings, and returns that line.
func (s *Server) WaitLog(t testing.TB, substrs ...string) string {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, line := range strings.Split(s.Log(), "\n") {
			if containsAll(line, substrs) {
				return line
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("no log line with %q within 30s\n%s", substrs, s.tail(30))
	return ""
}

// HTTPGet fetches a path from the server's HTTP listener.
func (s *Server) HTTPGet(t testing.TB, path string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+s.HTTP+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (s *Server) tail(n int) string { return s.proc.Log.Tail(n) }

func containsAll(s string, subs []string) bool {
	for _, sub := range subs {
		if !strings.Contains(s, sub) {
			return false
		}
	}
	return true
}

// SyncBuffer is a bytes.Buffer safe for a process's writes and the test's
// reads at once; its zero value is ready to use.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

// String is everything written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Tail is the last n lines written, for failure messages.
func (b *SyncBuffer) Tail(n int) string {
	lines := strings.Split(strings.TrimRight(b.String(), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
