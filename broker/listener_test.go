package broker

import (
	"bytes"
	"io"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mqflux/mqflux/flow/ingest"
)

// tcpPair is a real loopback connection: the server end wrapped as the
// broker wraps it, the client end plain.
func tcpPair(t *testing.T) (*coalescingConn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			t.Error(err)
		}
		accepted <- c
	}()
	client, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	server := newCoalescingConn(<-accepted, 0, nil)
	t.Cleanup(func() { server.Close(); client.Close() })
	return server, client
}

// countingConn counts the writes that reach the network.
type countingConn struct {
	net.Conn
	n atomic.Int32
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.n.Add(1)
	return c.Conn.Write(p)
}

func (c *countingConn) writes() int { return int(c.n.Load()) }

func TestCoalescingConnAnswersAReadInOneWrite(t *testing.T) {
	server, client := tcpPair(t)
	counter := &countingConn{Conn: server.Conn}
	server.Conn = counter

	if _, err := client.Write([]byte("abc")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 3)
	if _, err := io.ReadFull(server, buf); err != nil {
		t.Fatal(err)
	}
	// Three answers while processing what was read: held back.
	for _, a := range []string{"1", "22", "333"} {
		if _, err := server.Write([]byte(a)); err != nil {
			t.Fatal(err)
		}
	}
	if counter.writes() != 0 {
		t.Fatalf("%d writes reached the network while the reader was busy, want 0", counter.writes())
	}
	// The reader asks for more: the answers go out first, in order, in one write.
	readDone := make(chan error, 1)
	go func() {
		_, err := server.Read(make([]byte, 1))
		readDone <- err
	}()
	got := make([]byte, 6)
	if _, err := io.ReadFull(client, got); err != nil {
		t.Fatal(err)
	}
	if string(got) != "122333" {
		t.Fatalf("client got %q, want %q", got, "122333")
	}
	// The reader is blocked now: a write from elsewhere goes out at once.
	if _, err := server.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(client, got[:1]); err != nil || got[0] != 'x' {
		t.Fatalf("client got %q, %v; want x", got[:1], err)
	}
	if _, err := client.Write([]byte("d")); err != nil {
		t.Fatal(err)
	}
	if err := <-readDone; err != nil {
		t.Fatal(err)
	}
	if counter.writes() != 2 {
		t.Errorf("%d writes reached the network, want 2 (the held answers, then x)", counter.writes())
	}
}

func TestCoalescingConnSendsHeldBytesOnClose(t *testing.T) {
	server, client := tcpPair(t)
	if _, err := client.Write([]byte("a")); err != nil {
		t.Fatal(err)
	}
	if _, err := server.Read(make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	if _, err := server.Write([]byte("last words")); err != nil {
		t.Fatal(err)
	}
	if err := server.Close(); err != nil {
		t.Fatal(err)
	}
	_ = client.SetReadDeadline(time.Now().Add(10 * time.Second)) // a hang fails, not stalls, the test
	got, err := io.ReadAll(client)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, []byte("last words")) {
		t.Fatalf("client got %q after close, want %q", got, "last words")
	}
}

// While the reader is busy, no write reaches the network, however much is
// written (a runner must never wait for a client that does not read);
// the client's writer goroutine waits in WaitToWrite once maxHeld bytes
// are held, until the reader reads again.
func TestCoalescingConnNeverWritesWhileBusy(t *testing.T) {
	server, client := tcpPair(t)
	counter := &countingConn{Conn: server.Conn}
	server.Conn = counter
	if _, err := client.Write([]byte("a")); err != nil {
		t.Fatal(err)
	}
	if _, err := server.Read(make([]byte, 1)); err != nil {
		t.Fatal(err)
	}
	chunk := make([]byte, 1024)
	for i := 0; i < 4*maxHeld/len(chunk); i++ {
		if _, err := server.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	if n := counter.writes(); n != 0 {
		t.Fatalf("%d writes reached the network while the reader was busy, want 0", n)
	}
	waited := make(chan error, 1)
	go func() { waited <- server.WaitToWrite() }()
	select {
	case err := <-waited:
		t.Fatalf("WaitToWrite returned (%v) with %d bytes held", err, 4*maxHeld)
	case <-time.After(200 * time.Millisecond):
	}
	go func() { _, _ = io.Copy(io.Discard, client) }()
	go func() { _, _ = server.Read(make([]byte, 1)) }()
	if err := <-waited; err != nil {
		t.Fatal(err)
	}
}

// A write the client does not take within the write timeout fails the
// connection and closes it, so that its reader stops too.
func TestCoalescingConnClosesAnUnwritableConnection(t *testing.T) {
	server, client := tcpPair(t)
	server.writeTimeout = 200 * time.Millisecond
	readErr := make(chan error, 1)
	go func() {
		_, err := server.Read(make([]byte, 1)) // the reader waits for the network
		readErr <- err
	}()
	chunk := make([]byte, 64<<10)
	deadline := time.Now().Add(time.Minute)
	for !server.WriteTimedOut() && time.Now().Before(deadline) {
		_ = server.WaitToWrite()
		if _, err := server.Write(chunk); err != nil {
			break
		}
	}
	if err := <-readErr; err == nil {
		t.Fatal("the reader got no error after the write timed out")
	}
	if !server.WriteTimedOut() {
		t.Fatal("WriteTimedOut is false")
	}
	_ = client
}

// Flush appends the pending batch and writes nothing: the held answers go
// out, in one write, when the reader next asks for more.
func TestCoalescingConnFlushCommitsAndHoldsTheAnswers(t *testing.T) {
	server, client := tcpPair(t)
	counter := &countingConn{Conn: server.Conn}
	server.Conn = counter

	if _, err := client.Write([]byte("abc")); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(server, make([]byte, 3)); err != nil {
		t.Fatal(err)
	}
	var committed []ingest.Batch
	pending := &stubBatch{}
	server.batch = pending
	server.commit = func(b ingest.Batch) error {
		committed = append(committed, b)
		return nil
	}
	for _, a := range []string{"1", "22"} {
		if _, err := server.Write([]byte(a)); err != nil {
			t.Fatal(err)
		}
	}
	if err := server.Flush(); err != nil {
		t.Fatal(err)
	}
	if len(committed) != 1 || committed[0] != pending || counter.writes() != 0 {
		t.Fatalf("after Flush: %d batches committed, %d writes; want the pending batch and no write", len(committed), counter.writes())
	}
	go func() { _, _ = server.Read(make([]byte, 1)) }()
	got := make([]byte, 3)
	if _, err := io.ReadFull(client, got); err != nil {
		t.Fatal(err)
	}
	if string(got) != "122" || len(committed) != 1 {
		t.Fatalf("client got %q, %d batches committed; want %q and still 1", got, len(committed), "122")
	}
}

// stubBatch is a batch with nothing in it, told apart by its address.
type stubBatch struct{ n int }

func (b *stubBatch) Len() int                            { return b.n }
func (b *stubBatch) Add(string, []byte, time.Time) error { return nil }
func (b *stubBatch) Commit() error                       { return nil }
