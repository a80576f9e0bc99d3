package main

import (
	"bufio"
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

// childArgsEnv makes the test binary run main() with these arguments, so
// the end-to-end tests can SIGKILL a real agent process.
const childArgsEnv = "MQFLUXDEVICE_TEST_CHILD_ARGS"

func TestMain(m *testing.M) {
	if args := os.Getenv(childArgsEnv); args != "" {
		os.Args = append([]string{os.Args[0]}, strings.Fields(args)...)
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// need finds an external program; in CI its absence fails the test.
func need(t *testing.T, path string) string {
	t.Helper()
	p, err := exec.LookPath(path)
	if err == nil {
		return p
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s is required in CI: %v", path, err)
	}
	t.Skipf("%s not installed (%v); apt-get install mosquitto mosquitto-clients qemu-user-static", path, err)
	return ""
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// waitFor polls cond until it holds; the deadline is generous because a
// loaded CI machine is slow, and passing never depends on speed.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// broker is a Debian mosquitto on a fixed loopback port, with persistence
// so a subscriber's session and queued messages survive a restart.
type broker struct {
	port int
	conf string
	log  string
	cmd  *exec.Cmd
}

func newBroker(t *testing.T) *broker {
	need(t, "/usr/sbin/mosquitto")
	dir := t.TempDir()
	b := &broker{port: freePort(t), conf: filepath.Join(dir, "mosquitto.conf"), log: filepath.Join(dir, "mosquitto.log")}
	conf := fmt.Sprintf("listener %d 127.0.0.1\nallow_anonymous true\npersistence true\npersistence_location %s/\n", b.port, dir)
	if os.Geteuid() == 0 {
		conf += "user root\n" // otherwise mosquitto drops to a user that cannot write dir
	}
	if err := os.WriteFile(b.conf, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	b.start(t)
	t.Cleanup(func() { b.stop(t) })
	return b
}

func (b *broker) start(t *testing.T) {
	t.Helper()
	logf, err := os.OpenFile(b.log, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	b.cmd = exec.Command("/usr/sbin/mosquitto", "-c", b.conf)
	b.cmd.Stdout, b.cmd.Stderr = logf, logf
	if err := b.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "mosquitto to listen", func() bool {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", b.port))
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

func (b *broker) stop(t *testing.T) {
	if b.cmd == nil {
		return
	}
	b.cmd.Process.Signal(syscall.SIGTERM)
	b.cmd.Wait()
	b.cmd = nil
}

func (b *broker) url() string { return fmt.Sprintf("tcp://127.0.0.1:%d", b.port) }

// subscriber is mosquitto_sub -v with a persistent session, the way a user
// tails the readings.
type subscriber struct {
	mu    sync.Mutex
	lines []string
}

func subscribe(t *testing.T, b *broker, topic string) *subscriber {
	need(t, "mosquitto_sub")
	s := &subscriber{}
	cmd := exec.Command("mosquitto_sub", "-h", "127.0.0.1", "-p", fmt.Sprint(b.port),
		"-v", "-q", "1", "-c", "-i", fmt.Sprintf("test-sub-%d", b.port), "-t", topic)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			s.mu.Lock()
			s.lines = append(s.lines, sc.Text())
			s.mu.Unlock()
		}
	}()
	return s
}

func (s *subscriber) snapshot() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.lines...)
}

// retained reads the retained message of topic with a fresh client.
func retained(t *testing.T, b *broker, topic string) string {
	t.Helper()
	out, err := exec.Command("mosquitto_sub", "-h", "127.0.0.1", "-p", fmt.Sprint(b.port),
		"-t", topic, "-C", "1", "-W", "20", "--retained-only").Output()
	if err != nil {
		t.Fatalf("read retained %s: %v", topic, err)
	}
	return strings.TrimSpace(string(out))
}

// agent is mqflux-device running as a child process.
type agent struct {
	cmd  *exec.Cmd
	done chan error
	log  string
}

func startAgent(t *testing.T, args string, logPath string) *agent {
	t.Helper()
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childArgsEnv+"="+args)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	a := &agent{cmd: cmd, done: make(chan error, 1), log: logPath}
	go func() { a.done <- cmd.Wait() }()
	t.Cleanup(func() { cmd.Process.Kill(); <-a.done; a.done <- nil })
	return a
}

// kill sends sig and waits for the process to end.
func (a *agent) kill(t *testing.T, sig syscall.Signal) error {
	t.Helper()
	if err := a.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	err := <-a.done
	a.done <- err
	return err
}
