package main

import (
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mqflux/mqflux/internal/testenv"
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

// waitFor polls cond until it holds; the deadline is generous because a
// loaded CI machine is slow, and passing never depends on speed.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testenv.WaitFor(t, 60*time.Second, what, cond)
}

// newBroker is a Debian mosquitto with persistence, so a subscriber's
// session and queued messages survive a restart on the same port.
func newBroker(t *testing.T) *testenv.Mosquitto {
	return testenv.StartMosquitto(t, "", testenv.WithPersistence())
}

// subscribe is mosquitto_sub -v with a persistent session, the way a user
// tails the readings.
func subscribe(t *testing.T, b *testenv.Mosquitto, topic string) *testenv.Sub {
	_, port, _ := strings.Cut(b.Addr, ":")
	return testenv.Subscribe(t, b.Addr, testenv.Login{}, topic, "-q", "1", "-c", "-i", "test-sub-"+port)
}

// retained reads the retained message of topic with a fresh client.
func retained(t *testing.T, b *testenv.Mosquitto, topic string) string {
	t.Helper()
	host, port, _ := strings.Cut(b.Addr, ":")
	out, err := exec.Command(testenv.RequireCommand(t, "mosquitto_sub"), "-h", host, "-p", port,
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
