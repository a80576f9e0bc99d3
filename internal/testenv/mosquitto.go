package testenv

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Login is an MQTT user name and password.
type Login struct{ User, Password string }

// The demo users of the shipped config.yaml.
var (
	DemoDevice  = Login{"demo-device", "demo-device-pass"}
	DemoGateway = Login{"demo-gateway", "demo-gateway-pass"}
	DemoReader  = Login{"demo-reader", "demo-reader-pass"}
	DemoAdmin   = Login{"demo-admin", "demo-admin-pass"}
)

func hostPort(addr string) (string, string) {
	i := strings.LastIndex(addr, ":")
	return addr[:i], addr[i+1:]
}

func loginArgs(l Login) []string {
	if l.User == "" {
		return nil
	}
	return []string{"-u", l.User, "-P", l.Password}
}

// Pub runs the real mosquitto_pub once and returns its exit error and
// output. extra are further flags (-q 1, -r, -V mqttv5, ...).
func Pub(t testing.TB, addr string, l Login, topic, msg string, extra ...string) (string, error) {
	t.Helper()
	bin := RequireCommand(t, "mosquitto_pub")
	host, port := hostPort(addr)
	args := append([]string{"-h", host, "-p", port, "-t", topic, "-m", msg}, loginArgs(l)...)
	args = append(args, extra...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, args...).CombinedOutput()
	return string(out), err
}

// Sub is a running mosquitto_sub printing "topic payload" lines.
type Sub struct {
	cmd   *exec.Cmd
	mu    sync.Mutex
	lines []string
	errb  SyncBuffer
	done  chan struct{}
	err   error
}

// Subscribe starts the real mosquitto_sub with -v on addr. extra are
// further flags (-q 1, -c -i id, -C n, ...).
func Subscribe(t testing.TB, addr string, l Login, filter string, extra ...string) *Sub {
	t.Helper()
	bin := RequireCommand(t, "mosquitto_sub")
	host, port := hostPort(addr)
	args := append([]string{"-h", host, "-p", port, "-t", filter, "-v"}, loginArgs(l)...)
	args = append(args, extra...)
	s := &Sub{cmd: exec.Command(bin, args...), done: make(chan struct{})}
	s.cmd.Stderr = &s.errb
	out, err := s.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start mosquitto_sub: %v", err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			s.mu.Lock()
			s.lines = append(s.lines, sc.Text())
			s.mu.Unlock()
		}
		s.err = s.cmd.Wait()
		close(s.done)
	}()
	t.Cleanup(func() { s.Stop() })
	return s
}

// Lines is what it has printed so far.
func (s *Sub) Lines() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.lines...)
}

// WaitLines waits until it has printed at least n lines and returns them.
func (s *Sub) WaitLines(t testing.TB, n int, within time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if l := s.Lines(); len(l) >= n {
			return l
		}
		select {
		case <-s.done:
			if l := s.Lines(); len(l) >= n {
				return l
			}
			t.Fatalf("mosquitto_sub exited (%v) after %d of %d lines: %s", s.err, len(s.Lines()), n, s.errb.String())
		case <-time.After(20 * time.Millisecond):
		}
	}
	t.Fatalf("mosquitto_sub printed %d of %d lines within %s", len(s.Lines()), n, within)
	return nil
}

// Wait waits for the process to exit by itself (-C, -E, -W) and returns
// its exit error and stderr.
func (s *Sub) Wait(within time.Duration) (error, string) {
	select {
	case <-s.done:
		return s.err, s.errb.String()
	case <-time.After(within):
		s.Stop()
		return fmt.Errorf("mosquitto_sub still running after %s", within), s.errb.String()
	}
}

// Signal sends sig to the process: SIGSTOP makes a subscriber that stops
// reading with its connection open (a laptop asleep), SIGCONT wakes it.
func (s *Sub) Signal(sig os.Signal) error {
	if s.cmd.Process == nil {
		return fmt.Errorf("mosquitto_sub not started")
	}
	return s.cmd.Process.Signal(sig)
}

// Stop ends it with SIGTERM (a clean DISCONNECT).
func (s *Sub) Stop() {
	if s.cmd.Process == nil {
		return
	}
	select {
	case <-s.done:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.done
	}
}

// Mosquitto is a real Debian mosquitto broker owned by a test.
type Mosquitto struct {
	Addr string
	conf string
	cmd  *exec.Cmd
	log  SyncBuffer
	done chan struct{}
}

// MosquittoPath finds the broker binary (Debian installs it in /usr/sbin).
func MosquittoPath(t testing.TB) string {
	t.Helper()
	for _, p := range []string{"/usr/sbin/mosquitto", "/usr/local/sbin/mosquitto"} {
		if isExecutable(p) {
			return p
		}
	}
	if p, err := exec.LookPath("mosquitto"); err == nil {
		return p
	}
	Missing(t, "mosquitto", "apt-get install -y mosquitto")
	return ""
}

// MosquittoOption changes how StartMosquitto configures the broker.
type MosquittoOption func(*mosquittoSettings)

type mosquittoSettings struct{ persistent bool }

// WithPersistence keeps sessions, their queued messages and retained
// messages on disk in the broker's own directory, so they survive Stop (or
// Kill) and Start.
func WithPersistence() MosquittoOption {
	return func(s *mosquittoSettings) { s.persistent = true }
}

// StartMosquitto starts mosquitto on a free loopback port with anonymous
// access, unlimited queues and in-memory persistence; extraConf is appended
// to its config (after the listener line, so listener settings such as
// certfile apply to it, and a repeated setting overrides the default).
func StartMosquitto(t testing.TB, extraConf string, opts ...MosquittoOption) *Mosquitto {
	t.Helper()
	var s mosquittoSettings
	for _, o := range opts {
		o(&s)
	}
	dir := t.TempDir()
	m := &Mosquitto{Addr: fmt.Sprintf("127.0.0.1:%d", FreePort(t)), conf: filepath.Join(dir, "mosquitto.conf")}
	_, port := hostPort(m.Addr)
	persistence := "persistence false\n"
	if s.persistent {
		persistence = fmt.Sprintf("persistence true\npersistence_location %s/\n", dir)
	}
	conf := fmt.Sprintf("listener %s 127.0.0.1\nallow_anonymous true\n%smax_queued_messages 0\nmax_inflight_messages 0\n", port, persistence)
	if os.Geteuid() == 0 {
		// As root mosquitto drops to its own user, which can neither write
		// the persistence nor read certificates in the test's private dir.
		conf += "user root\n"
	}
	if err := os.WriteFile(m.conf, []byte(conf+extraConf+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		m.Stop()
		if t.Failed() {
			t.Logf("--- mosquitto log ---\n%s", m.log.Tail(60))
		}
	})
	m.Start(t)
	return m
}

// Start runs the broker on its port and config, the first time or again
// after Stop or Kill, and waits until it accepts connections.
func (m *Mosquitto) Start(t testing.TB) {
	t.Helper()
	if m.running() {
		t.Fatalf("mosquitto start: already running at %s", m.Addr)
	}
	cmd := exec.Command(MosquittoPath(t), "-c", m.conf)
	cmd.Stdout, cmd.Stderr = &m.log, &m.log
	if err := cmd.Start(); err != nil {
		t.Fatalf("start mosquitto: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	m.cmd, m.done = cmd, done
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", m.Addr, time.Second); err == nil {
			c.Close()
			return
		}
		select {
		case <-done:
			t.Fatalf("mosquitto exited: %s", m.log.String())
		case <-time.After(50 * time.Millisecond):
		}
	}
	t.Fatalf("mosquitto not answering at %s: %s", m.Addr, m.log.String())
}

func (m *Mosquitto) running() bool {
	if m.cmd == nil {
		return false
	}
	select {
	case <-m.done:
		return false
	default:
		return true
	}
}

// Stop ends the broker with SIGTERM: it disconnects its clients and writes
// its persistence.
func (m *Mosquitto) Stop() { m.signal(syscall.SIGTERM) }

// Kill ends the broker with SIGKILL: a crash.
func (m *Mosquitto) Kill() { m.signal(syscall.SIGKILL) }

func (m *Mosquitto) signal(sig syscall.Signal) {
	if !m.running() {
		return
	}
	_ = m.cmd.Process.Signal(sig)
	<-m.done
}

// Pid is the running broker's process id.
func (m *Mosquitto) Pid() int { return m.cmd.Process.Pid }

// Done is closed when the process has exited; Err is then its exit error.
func (s *Sub) Done() <-chan struct{} { return s.done }

// Err is the exit error, once Done is closed.
func (s *Sub) Err() error {
	<-s.done
	return s.err
}
