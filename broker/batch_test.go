package broker

import (
	"errors"
	"io"
	"net"
	"testing"
	"time"

	"github.com/mqflux/mqflux/flow/ingest"
)

// fakeBatch records what was added and whether Commit ran; commitErr is
// what Commit returns.
type fakeBatch struct {
	added     []string
	committed bool
	commitErr error
}

func (b *fakeBatch) Add(topic string, _ []byte, _ time.Time) error {
	b.added = append(b.added, topic)
	return nil
}
func (b *fakeBatch) Len() int { return len(b.added) }
func (b *fakeBatch) Commit() error {
	b.committed = true
	return b.commitErr
}

type fakeBatchSink struct{ b *fakeBatch }

func (s fakeBatchSink) Ingest(string, []byte, time.Time) error { return errors.New("not batched") }
func (s fakeBatchSink) Batch() ingest.Batch                    { return s.b }

// commitCheckingConn fails the test if a byte reaches the network before
// the batch it acknowledges was committed.
type commitCheckingConn struct {
	net.Conn
	t      *testing.T
	b      *fakeBatch
	writes int
}

func (c *commitCheckingConn) Write(p []byte) (int, error) {
	c.writes++
	if !c.b.committed {
		c.t.Errorf("%q written before the batch was committed", p)
	}
	return c.Conn.Write(p)
}

// TestCoalescingConnCommitsBeforeAnswering: the readings of a read are
// committed together, before their held PUBACKs leave; when the commit
// fails, the PUBACKs never leave and the connection fails.
func TestCoalescingConnCommitsBeforeAnswering(t *testing.T) {
	tests := []struct {
		name      string
		commitErr error
		want      string // what the client receives
	}{
		{"commit succeeds", nil, "ack1ack2"},
		{"commit fails", errors.New("disk full"), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			server, client := tcpPair(t)
			b := &fakeBatch{commitErr: tt.commitErr}
			checker := &commitCheckingConn{Conn: server.Conn, t: t, b: b}
			server.Conn = checker
			commit := func(ib ingest.Batch) error { return ib.Commit() }

			if batched, _ := server.addToBatch(fakeBatchSink{b}, commit, "t/0", nil, time.Now()); batched {
				t.Fatal("a reading was batched while the reader was not processing a read")
			}
			if _, err := client.Write([]byte("ab")); err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(server, make([]byte, 2)); err != nil {
				t.Fatal(err)
			}
			for i, topic := range []string{"t/1", "t/2"} {
				batched, err := server.addToBatch(fakeBatchSink{b}, commit, topic, nil, time.Now())
				if !batched || err != nil {
					t.Fatalf("addToBatch %s: batched %t, %v", topic, batched, err)
				}
				if _, err := server.Write([]byte("ack" + string(rune('1'+i)))); err != nil {
					t.Fatal(err)
				}
			}
			if b.committed || checker.writes != 0 {
				t.Fatalf("committed %t, %d writes before the reader asked for more", b.committed, checker.writes)
			}
			readErr := make(chan error, 1)
			go func() {
				_, err := server.Read(make([]byte, 1))
				readErr <- err
			}()
			if tt.commitErr != nil {
				if err := <-readErr; !errors.Is(err, tt.commitErr) {
					t.Fatalf("Read after a failed commit: %v, want %v", err, tt.commitErr)
				}
				if _, err := server.Write([]byte("late")); err == nil {
					t.Fatal("Write after a failed commit succeeded")
				}
				server.Close()
			}
			got, err := io.ReadAll(io.LimitReader(client, int64(len(tt.want))))
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want || !b.committed || len(b.added) != 2 {
				t.Fatalf("client got %q, committed %t, added %v; want %q, true, 2 readings", got, b.committed, b.added, tt.want)
			}
			if tt.commitErr != nil {
				if n, _ := client.Read(make([]byte, 8)); n != 0 {
					t.Fatalf("client got %d bytes after a failed commit", n)
				}
			}
		})
	}
}
