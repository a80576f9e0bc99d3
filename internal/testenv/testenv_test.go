package testenv

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func TestModuleRoot(t *testing.T) {
	root := ModuleRoot(t)
	b, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	if want := "module github.com/mqflux/mqflux\n"; string(b[:len(want)]) != want {
		t.Fatalf("%s/go.mod starts %q, want %q", root, b[:len(want)], want)
	}
}

func TestFreePortBinds(t *testing.T) {
	port := FreePort(t)
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatalf("port %d from FreePort cannot be bound: %v", port, err)
	}
	l.Close()
}

func TestFreePortsAreDistinctAndBind(t *testing.T) {
	ports := FreePorts(t, 200)
	seen := map[int]bool{}
	for _, p := range ports {
		if seen[p] {
			t.Fatalf("FreePorts gave port %d twice: %v", p, ports)
		}
		seen[p] = true
		l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p))
		if err != nil {
			t.Fatalf("port %d from FreePorts cannot be bound: %v", p, err)
		}
		defer l.Close()
	}
}

func TestRequireCommandFindsSh(t *testing.T) {
	if p := RequireCommand(t, "sh"); !filepath.IsAbs(p) {
		t.Fatalf("RequireCommand(sh) = %q, want an absolute path", p)
	}
}

func TestProcess(t *testing.T) {
	t.Setenv("MQFLUX_FROM_SHELL", "x")
	sh := RequireCommand(t, "sh")
	p := StartProcess(t, []string{"MQFLUX_GIVEN=y"}, sh, "-c", `echo "[$MQFLUX_FROM_SHELL][$MQFLUX_GIVEN]"; exec sleep 60`)
	WaitFor(t, 10*time.Second, "the output", func() bool { return p.Log.String() != "" })
	if got := p.Log.Tail(1); got != "[][y]" {
		t.Errorf("output %q, want the given variable only", got)
	}
	if err := p.Signal(syscall.SIGTERM); err == nil {
		t.Error("Signal(SIGTERM) = nil, want the exit error of the killed sleep")
	}
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Errorf("Signal after the exit = %v, want nil", err)
	}
	done := StartProcess(t, nil, sh, "-c", "exit 0")
	<-done.Exited()
	if done.Err() != nil {
		t.Errorf("exit 0: %v", done.Err())
	}
}
