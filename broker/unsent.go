package broker

import (
	"net"
	"syscall"
)

// maxUnsent bounds the bytes the kernel holds for a client that it has
// not been able to send (TCP_NOTSENT_LOWAT, Linux): past it, a write to
// the client waits. Without it a connection's send buffer grows to
// tcp_wmem's maximum (4 MiB by default on Linux), a million PUBACKs: a client that
// publishes and never reads its answers was read, and its publishes
// handled, until that much was queued for it. Now its reader stops after
// a few thousand (coalescingConn.flush waits on the reader's goroutine,
// never on a runner), and with it the client: back-pressure on the one
// that does not read. Bytes sent and not yet acknowledged do not count,
// so a client far away is not slowed down.
const maxUnsent = 16 << 10

// limitUnsent sets maxUnsent on c's TCP connection, under TLS or
// WebSocket (NetConn) if need be. It is best effort: where the option or
// the socket is missing, the kernel's own bound applies.
func limitUnsent(c net.Conn) {
	for {
		u, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			break
		}
		c = u.NetConn()
	}
	sc, ok := c.(syscall.Conn)
	if !ok {
		return
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return
	}
	_ = raw.Control(func(fd uintptr) { setMaxUnsent(fd, maxUnsent) })
}
