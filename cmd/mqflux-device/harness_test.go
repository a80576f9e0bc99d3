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

// startAgent runs main() with args in a child process (see TestMain), so
// a test can SIGKILL a real agent.
func startAgent(t *testing.T, args string) *testenv.Process {
	t.Helper()
	return testenv.StartProcess(t, []string{childArgsEnv + "=" + args}, os.Args[0], "-test.run=^$")
}

// kill sends sig to a still running agent, waits for it to end and returns
// its exit error (nil after SIGKILL).
func kill(t *testing.T, a *testenv.Process, sig syscall.Signal) error {
	t.Helper()
	select {
	case <-a.Exited():
		t.Fatalf("the agent exited before %v: %v\n%s", sig, a.Err(), a.Log.Tail(30))
	default:
	}
	return a.Signal(sig)
}
