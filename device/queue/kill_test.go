package queue

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"testing"
)

// childEnv makes the test binary act as an appender that reports every id
// once Append has returned, until it is killed.
const childEnv = "QUEUE_TEST_APPENDER_DIR"

func TestMain(m *testing.M) {
	if dir := os.Getenv(childEnv); dir != "" {
		appendForever(dir)
		return
	}
	os.Exit(m.Run())
}

func appendForever(dir string) {
	q, err := Open(Options{Dir: dir, MaxBytes: 64 << 20, SegmentBytes: 64 << 10})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	w := bufio.NewWriter(os.Stdout)
	for i := 0; ; i++ {
		id, err := q.Append(fmt.Appendf(nil, "n=%d", i))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(2)
		}
		fmt.Fprintf(w, "%d %d\n", id, i)
		w.Flush()
	}
}

func TestKilledAppenderLosesNothingReported(t *testing.T) {
	dir := t.TempDir()
	for round := range 3 { // each round appends to what the last one left
		cmd := exec.Command(os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"="+dir)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		cmd.Stderr = os.Stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		reported := map[uint64]string{}
		sc := bufio.NewScanner(out)
		for sc.Scan() && len(reported) < 3000 {
			var id uint64
			var n int
			if _, err := fmt.Sscanf(sc.Text(), "%d %d", &id, &n); err != nil {
				t.Fatalf("child said %q: %v", sc.Text(), err)
			}
			reported[id] = "n=" + strconv.Itoa(n)
		}
		if err := cmd.Process.Signal(syscall.SIGKILL); err != nil {
			t.Fatal(err)
		}
		cmd.Wait()
		if len(reported) < 3000 {
			t.Fatalf("round %d: child reported only %d ids", round, len(reported))
		}
		q := open(t, dir, 64<<20, 64<<10)
		found := 0
		for _, r := range drain(t, q, true) {
			if want, ok := reported[r.ID]; ok {
				if string(r.Data) != want {
					t.Fatalf("round %d: id %d holds %q, want %q", round, r.ID, r.Data, want)
				}
				found++
			}
		}
		q.Close()
		if found != len(reported) {
			t.Fatalf("round %d: %d of %d reported ids are in the queue after SIGKILL", round, found, len(reported))
		}
	}
}
