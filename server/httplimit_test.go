package server

import (
	"net"
	"testing"
	"time"
)

// HTTP's bound is http.max_connections, lowered to a quarter of the
// descriptors left after the process's own.
func TestHTTPConnCap(t *testing.T) {
	for _, tc := range []struct {
		configured int
		nofile     uint64
		want       int
	}{
		{1000, 0, 1000},       // limit unknown
		{1000, 1 << 62, 1000}, // unlimited
		{1000, 65536, 1000},
		{1000, 1024, 240},
		{1000, 256, 48},
		{1000, 64, minHTTPConnections},
		{10, 256, 10},
	} {
		if got := httpConnCap(tc.configured, tc.nofile); got != tc.want {
			t.Errorf("httpConnCap(%d, %d) = %d, want %d", tc.configured, tc.nofile, got, tc.want)
		}
	}
}

// Past the bound a connection is closed at accept and counted; a closed
// connection gives its slot back once.
func TestConnLimitClosesPastTheBound(t *testing.T) {
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := newConnLimit(inner, 1)
	defer l.Close()
	accepted := make(chan net.Conn, 4)
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			accepted <- c
		}
	}()
	dial := func() net.Conn {
		c, err := net.Dial("tcp", inner.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	first := dial()
	defer first.Close()
	served := <-accepted
	second := dial()
	defer second.Close()
	_ = second.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := second.Read(make([]byte, 1)); err == nil {
		t.Fatal("a connection past the bound was not closed")
	}
	if h := l.health(); !h.Refusing || h.Refused != 1 || h.Reason == "" {
		t.Errorf("health at the bound = %+v, want refusing with 1 refused and a reason", h)
	}
	served.Close()
	served.Close()
	if n := l.open.Load(); n != 0 {
		t.Errorf("%d connections open after the only one closed twice, want 0", n)
	}
	third := dial()
	defer third.Close()
	select {
	case c := <-accepted:
		c.Close()
	case <-time.After(10 * time.Second):
		t.Fatal("a connection within the bound again was not accepted")
	}
}
