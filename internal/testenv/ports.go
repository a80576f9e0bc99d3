package testenv

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
)

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago. Another
// process may take it before the caller binds it; callers that start servers
// retry with a new port when the bind fails.
func FreePort(t testing.TB) int {
	t.Helper()
	return FreePorts(t, 1)[0]
}

// FreePorts returns n distinct ports on 127.0.0.1 that were free a moment
// ago. Each is held until all are picked: ports picked one after another may
// repeat, and a server given one port twice fails to bind the second.
//
// The ports lie outside the kernel's ephemeral range where it leaves room. A
// test that stops a server and starts it again on the same port leaves that
// port free for a moment, and inside the ephemeral range any outgoing
// connection of any test may be given it as its source port meanwhile; the
// server then fails to bind. Outside the range only another FreePorts can
// pick it, at random among thousands.
func FreePorts(t testing.TB, n int) []int {
	t.Helper()
	lo, hi, ranged := pickRange()
	ports := make([]int, 0, n)
	for len(ports) < n {
		l, err := listenFree(lo, hi, ranged)
		if err != nil {
			t.Fatalf("free port: %v", err)
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// listenFree binds a random port in [lo, hi), or one the kernel picks when
// there is no such range or none of the tries is free.
func listenFree(lo, hi int, ranged bool) (net.Listener, error) {
	for try := 0; ranged && try < 100; try++ {
		p := lo + rand.IntN(hi-lo)
		if l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", p)); err == nil {
			return l, nil
		}
	}
	return net.Listen("tcp", "127.0.0.1:0")
}

// minPickable keeps picks clear of well-known and registered service ports.
const minPickable = 10000

// pickRange returns the wider stretch of [minPickable, 65536) below or above
// the kernel's ephemeral port range, or false when that cannot be read or
// leaves fewer than 2,000 ports.
func pickRange() (lo, hi int, ok bool) {
	b, err := os.ReadFile("/proc/sys/net/ipv4/ip_local_port_range")
	if err != nil {
		return 0, 0, false
	}
	return pickRangeOf(string(b))
}

func pickRangeOf(ephemeral string) (lo, hi int, ok bool) {
	f := strings.Fields(ephemeral)
	if len(f) != 2 {
		return 0, 0, false
	}
	first, err1 := strconv.Atoi(f[0])
	last, err2 := strconv.Atoi(f[1])
	if err1 != nil || err2 != nil || first > last {
		return 0, 0, false
	}
	lo, hi = minPickable, first
	if 65536-(last+1) > hi-lo {
		lo, hi = last+1, 65536
	}
	if hi-lo < 2000 {
		return 0, 0, false
	}
	return lo, hi, true
}
