package passwd

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

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

// Many connections with one password at once (a gateway's devices after a
// restart) pay one bcrypt comparison between them, right or wrong.
func TestConcurrentChecksShareOneComparison(t *testing.T) {
	hash, err := Hash([]byte("gateway-secret"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		secret string
		want   bool
	}{{"gateway-secret", true}, {"wrong-secret", false}} {
		t.Run(tc.secret, func(t *testing.T) {
			c := NewChecker()
			var calls atomic.Int32
			release := make(chan struct{})
			c.compare = func(h, s []byte) error {
				calls.Add(1)
				<-release // hold the comparison until every check has started
				return bcrypt.CompareHashAndPassword(h, s)
			}
			const n = 50
			results := make(chan bool, n)
			for range n {
				go func() { results <- c.Check(hash, []byte(tc.secret)) }()
			}
			// Hold the comparison until the other n-1 checks wait for it.
			for joined := 0; joined < n-1; time.Sleep(time.Millisecond) {
				c.mu.Lock()
				joined = 0
				for _, cmp := range c.busy {
					joined = cmp.waiters
				}
				c.mu.Unlock()
			}
			close(release)
			for range n {
				if got := <-results; got != tc.want {
					t.Fatalf("Check = %v, want %v", got, tc.want)
				}
			}
			if k := calls.Load(); k != 1 {
				t.Errorf("%d bcrypt comparisons for %d concurrent checks of one secret, want 1", k, n)
			}
		})
	}
}
