package passwd

import (
	"container/list"
	"net/netip"
	"sync"
	"time"
)

// backoff remembers recent failed logins per remote address and refuses an
// address that keeps failing for a time that doubles with each further
// failure. The first freeFailures failures cost nothing extra, so a device
// with a mistyped password sees its error promptly; past them the address
// is refused without a bcrypt, which turns a guessing attack from one
// address into a trickle. IPv6 addresses count by their /64, the block one
// host usually holds.
//
// The table holds at most maxAddrs addresses, least recently failed evicted
// first: its memory is fixed however many addresses attack. An attacker
// with more addresses than that can push his own entries out, but each of
// his checks still waits for the limiter, which bounds the CPU anyway.
type backoff struct {
	now          func() time.Time
	freeFailures int
	base, max    time.Duration
	forget       time.Duration // an address quiet this long starts afresh
	maxAddrs     int

	mu    sync.Mutex
	order *list.List // of *failures, most recent at the front
	addrs map[string]*list.Element
}

type failures struct {
	addr  string
	count int
	last  time.Time
	until time.Time // refused before this
}

func newBackoff() *backoff {
	return &backoff{
		now:          time.Now,
		freeFailures: 5,
		base:         time.Second,
		max:          5 * time.Minute,
		forget:       15 * time.Minute,
		maxAddrs:     4096,
		order:        list.New(),
		addrs:        make(map[string]*list.Element),
	}
}

// admit returns ErrBackoff while remote is refused.
func (b *backoff) admit(remote string) error {
	k := addrKey(remote)
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.addrs[k]
	if ok && b.now().Before(e.Value.(*failures).until) {
		return ErrBackoff
	}
	return nil
}

// wait is how long remote is still refused; 0 when it is not.
func (b *backoff) wait(remote string) time.Duration {
	k := addrKey(remote)
	b.mu.Lock()
	defer b.mu.Unlock()
	if e, ok := b.addrs[k]; ok {
		if d := e.Value.(*failures).until.Sub(b.now()); d > 0 {
			return d
		}
	}
	return 0
}

// failing reports whether remote failed within the forget window.
func (b *backoff) failing(remote string) bool {
	k := addrKey(remote)
	b.mu.Lock()
	defer b.mu.Unlock()
	e, ok := b.addrs[k]
	return ok && b.now().Sub(e.Value.(*failures).last) <= b.forget
}

// record notes the outcome of a check from remote: a success forgets the
// address, a failure counts against it.
func (b *backoff) record(remote string, ok bool) {
	k := addrKey(remote)
	b.mu.Lock()
	defer b.mu.Unlock()
	e, seen := b.addrs[k]
	if ok {
		if seen {
			b.order.Remove(e)
			delete(b.addrs, k)
		}
		return
	}
	now := b.now()
	if !seen {
		if b.order.Len() >= b.maxAddrs {
			oldest := b.order.Back()
			b.order.Remove(oldest)
			delete(b.addrs, oldest.Value.(*failures).addr)
		}
		e = b.order.PushFront(&failures{addr: k})
		b.addrs[k] = e
	}
	f := e.Value.(*failures)
	if now.Sub(f.last) > b.forget {
		f.count = 0
	}
	f.count++
	f.last = now
	b.order.MoveToFront(e)
	if n := f.count - b.freeFailures; n > 0 {
		f.until = now.Add(b.delay(n))
	}
}

// delay is base doubled for each failure past the free ones, at most max.
func (b *backoff) delay(n int) time.Duration {
	d := b.base
	for i := 1; i < n && d < b.max; i++ {
		d *= 2
	}
	return min(d, b.max)
}

// AddressKey is what the backoff counts a remote address ("host:port" or a
// host) as: its host, an IPv6 host cut to its /64. Whoever bounds
// something per address counts it by the same key.
func AddressKey(remote string) string { return addrKey(remote) }

// addrKey is the host of a "host:port" remote address, an IPv6 host cut to
// its /64. What cannot be parsed counts as itself.
func addrKey(remote string) string {
	ap, err := netip.ParseAddrPort(remote)
	var a netip.Addr
	if err == nil {
		a = ap.Addr()
	} else if a, err = netip.ParseAddr(remote); err != nil {
		return remote
	}
	a = a.Unmap()
	if a.Is4() {
		return a.String()
	}
	p, _ := a.Prefix(64)
	return p.String()
}
