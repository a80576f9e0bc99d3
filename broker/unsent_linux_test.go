package broker

import (
	"crypto/tls"
	"net"
	"testing"

	"golang.org/x/sys/unix"
)

// limitUnsent reaches the TCP socket of a plain connection and of one
// under TLS (NetConn), the way the listeners call it.
func TestLimitUnsentSetsTheSocketOption(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for _, c := range []struct {
		name string
		wrap func(net.Conn) net.Conn
	}{
		{"tcp", func(c net.Conn) net.Conn { return c }},
		{"tls", func(c net.Conn) net.Conn { return tls.Server(c, &tls.Config{}) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			client, err := net.Dial("tcp", ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer client.Close()
			server, err := ln.Accept()
			if err != nil {
				t.Fatal(err)
			}
			defer server.Close()
			limitUnsent(c.wrap(server))
			raw, err := server.(*net.TCPConn).SyscallConn()
			if err != nil {
				t.Fatal(err)
			}
			var got int
			var gerr error
			if err := raw.Control(func(fd uintptr) {
				got, gerr = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_NOTSENT_LOWAT)
			}); err != nil || gerr != nil {
				t.Fatal(err, gerr)
			}
			if got != maxUnsent {
				t.Errorf("TCP_NOTSENT_LOWAT is %d, want %d", got, maxUnsent)
			}
		})
	}
}
