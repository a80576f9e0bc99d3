package passwd

import (
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestHashAndCheck(t *testing.T) {
	h, err := Hash([]byte("correct horse"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	if err := ValidHash(h); err != nil {
		t.Fatalf("ValidHash(%q): %v", h, err)
	}
	c := NewChecker()
	cases := []struct {
		secret string
		want   bool
	}{
		{"correct horse", true},
		{"correct horse", true}, // served from memory
		{"correct hors", false},
		{"", false},
		{"correct horse ", false},
	}
	for _, tc := range cases {
		if got := c.Check(h, []byte(tc.secret)); got != tc.want {
			t.Errorf("Check(%q) = %v, want %v", tc.secret, got, tc.want)
		}
	}
	if len(c.ok) != 1 {
		t.Errorf("memory holds %d entries, want 1 (only successes)", len(c.ok))
	}
}

func TestCheckDoesNotCrossHashes(t *testing.T) {
	h1, _ := Hash([]byte("password-one"), bcrypt.MinCost)
	h2, _ := Hash([]byte("password-two"), bcrypt.MinCost)
	c := NewChecker()
	if !c.Check(h1, []byte("password-one")) {
		t.Fatal("first check failed")
	}
	if c.Check(h2, []byte("password-one")) {
		t.Fatal("a secret remembered for one hash passed another")
	}
}

func TestHashRejects(t *testing.T) {
	for _, tc := range []struct{ secret, want string }{
		{"short", "too short"},
		{strings.Repeat("x", 73), "too long"},
	} {
		if _, err := Hash([]byte(tc.secret), bcrypt.MinCost); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Hash(%d bytes) error %v, want %q", len(tc.secret), err, tc.want)
		}
	}
	if err := ValidHash("plaintext"); err == nil {
		t.Error("ValidHash accepted plain text")
	}
}

func BenchmarkCheckRemembered(b *testing.B) {
	h, _ := Hash([]byte("correct horse"), bcrypt.DefaultCost)
	c := NewChecker()
	c.Check(h, []byte("correct horse"))
	b.ReportAllocs()
	for b.Loop() {
		if !c.Check(h, []byte("correct horse")) {
			b.Fatal("check failed")
		}
	}
}

// A crowd reconnecting with one password pays bcrypt about once, not once
// per connection.
func TestConcurrentChecksShareBcrypt(t *testing.T) {
	h, err := Hash([]byte("correct horse"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	const n = 40
	c := NewChecker()
	var calls atomic.Int64
	var started sync.WaitGroup
	started.Add(n)
	allStarted := make(chan struct{})
	go func() { started.Wait(); close(allStarted) }()
	c.compare = func(hash, secret []byte) error {
		if calls.Add(1) == 1 {
			<-allStarted // hold the first check until every caller has begun
		}
		return bcrypt.CompareHashAndPassword(hash, secret)
	}
	var done sync.WaitGroup
	for range n {
		done.Add(1)
		go func() {
			defer done.Done()
			started.Done()
			if !c.Check(h, []byte("correct horse")) {
				t.Error("a right password was refused")
			}
		}()
	}
	done.Wait()
	if got := calls.Load(); got*2 > n {
		t.Errorf("%d concurrent checks ran bcrypt %d times; want them to share", n, got)
	}
}
