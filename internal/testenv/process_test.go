package testenv

import (
	"strings"
	"testing"
	"time"
)

// A program that exits while a child of its own keeps its output pipes
// open still counts as exited: the test goes on instead of hanging.
func TestProcessExitsWhileItsChildHoldsTheOutput(t *testing.T) {
	sh := RequireCommand(t, "sh")
	p := StartProcess(t, nil, sh, "-c", "echo started; sleep 180 & exit 0")
	select {
	case <-p.Exited():
	case <-time.After(2 * time.Minute):
		t.Fatal("not exited 2 minutes after the shell ended, its child holding the output")
	}
	if !strings.Contains(p.Log.String(), "started") {
		t.Fatalf("output %q", p.Log.String())
	}
}
