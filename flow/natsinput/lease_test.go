package natsinput

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/mqflux/mqflux/internal/testenv"
)

// leaseOn is a Lease of its own connection to the server, running until
// the test ends or its connection is cut.
type leaseOn struct {
	*Lease
	nc     *nats.Conn
	cancel context.CancelFunc
	done   chan struct{}
}

func startLease(t *testing.T, url, name string, ttl time.Duration) *leaseOn {
	t.Helper()
	nc, err := nats.Connect(url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	kv, err := LeaseBucket(context.Background(), js, "leases", ttl, 1)
	if err != nil {
		t.Fatal(err)
	}
	l := &leaseOn{Lease: NewLease(kv, "alerts", name, ttl, slog.New(slog.NewTextHandler(os.Stderr, nil)).With("instance", name)),
		nc: nc, done: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	l.cancel = cancel
	go func() { defer close(l.done); l.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-l.done })
	return l
}

// holders watches a set of leases every 5 ms and records the largest
// number held at once.
func holders(leases ...*leaseOn) (most func() int, stop func()) {
	var mu sync.Mutex
	n := 0
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			held := 0
			for _, l := range leases {
				if l.Held() {
					held++
				}
			}
			mu.Lock()
			n = max(n, held)
			mu.Unlock()
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	return func() int { mu.Lock(); defer mu.Unlock(); return n }, func() { close(done); wg.Wait() }
}

// Two instances try for one lease on a real nats-server: one holds it and
// keeps it while it renews; given up, the other takes it at its next try;
// the holder's connection cut (as a killed process), the other takes it
// once the key's TTL removed it, within twice the lease, and never while
// the first still thinks it holds it.
func TestLeaseOneHolderAndTakeover(t *testing.T) {
	srv := testenv.StartNATSServer(t)
	const ttl = 3 * time.Second
	a := startLease(t, srv.ClientURL, "a", ttl)
	testenv.WaitFor(t, 30*time.Second, "a holding the lease", a.Held)
	b := startLease(t, srv.ClientURL, "b", ttl)
	most, stop := holders(a, b)
	defer stop()

	// Three lease periods: a renews, b never gets it.
	time.Sleep(3 * ttl)
	if !a.Held() || b.Held() {
		t.Fatalf("after three lease periods: a holds %v, b holds %v; want a alone", a.Held(), b.Held())
	}
	if st := b.State(); st.Holder != "a" {
		t.Errorf("b sees holder %q, want a", st.Holder)
	}

	// a gives it up: b takes it.
	a.cancel()
	<-a.done
	gaveUp := time.Now()
	testenv.WaitFor(t, 4*ttl, "b taking the given-up lease", b.Held)
	t.Logf("b took the lease %v after a gave it up (tries every %v)", time.Since(gaveUp).Round(time.Millisecond), ttl/4)

	// A third instance; then b's connection is cut, as if killed: c takes
	// over once the key expired.
	c := startLease(t, srv.ClientURL, "c", ttl)
	time.Sleep(ttl)
	if c.Held() {
		t.Fatal("c took the lease b holds and renews")
	}
	most2, stop2 := holders(b, c)
	defer stop2()
	b.nc.Close()
	cut := time.Now()
	testenv.WaitFor(t, 10*ttl, "c taking over from b, cut off", c.Held)
	took := time.Since(cut)
	st := c.State()
	t.Logf("c took the lease %v after b was cut off (lease %v); the key went unrenewed %v by NATS's clock", took.Round(time.Millisecond), ttl, st.Takeover.Round(time.Millisecond))
	if took > 2*ttl {
		t.Errorf("takeover took %v, more than twice the lease %v", took, ttl)
	}
	if st.Takeover <= 0 || st.Takeover > 2*ttl {
		t.Errorf("takeover measured in the bucket %v, want in (0, %v]", st.Takeover, 2*ttl)
	}
	if b.Held() {
		t.Error("b, cut off, still thinks it holds the lease after c took it")
	}
	if n := max(most(), most2()); n > 1 {
		t.Errorf("%d instances held the lease at once", n)
	}
}

// A holder's renewal is an update at the revision it wrote: a write of
// another at that key in between makes it step down at its next renewal.
func TestLeaseStepsDownWhenKeyChanged(t *testing.T) {
	srv := testenv.StartNATSServer(t)
	const ttl = 3 * time.Second
	a := startLease(t, srv.ClientURL, "a", ttl)
	testenv.WaitFor(t, 30*time.Second, "a holding the lease", a.Held)
	if _, err := a.kv.Put(context.Background(), "alerts", []byte(`{"holder":"intruder"}`)); err != nil {
		t.Fatal(err)
	}
	testenv.WaitFor(t, 2*ttl, "a stepping down", func() bool { return !a.Held() })
	_, err := a.kv.Create(context.Background(), "alerts", []byte(`{"holder":"x"}`))
	if !errors.Is(err, jetstream.ErrKeyExists) {
		t.Errorf("create over the intruder's key: %v, want ErrKeyExists", err)
	}
}
