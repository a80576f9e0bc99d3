package shim

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"
	"net/http"
	"sync"

	"github.com/mqflux/mqflux/passwd"
)

// anyDevice marks a key that serves many devices: the request names its own.
const anyDevice = "*"

// keyring finds which configured key a secret is. The Checker remembers
// successes per hash, but a secret is tried against every hash in turn and
// failures always pay bcrypt: with three keys, a logger holding the third
// would pay two full bcrypt checks on every request. So the keyring also
// remembers which key each verified secret matched (by a salted digest, never
// the secret), and asks the Checker about that key first.
type keyring struct {
	keys    []Key
	checker *passwd.Checker
	tarpit  passwd.Tarpit // nil: a backoff's 429 is answered at once
	salt    [32]byte

	mu    sync.RWMutex
	index map[[32]byte]int
}

func newKeyring(keys []Key, checker *passwd.Checker, tarpit passwd.Tarpit) (*keyring, error) {
	for i, k := range keys {
		if err := passwd.ValidHash(k.KeyHash); err != nil {
			return nil, fmt.Errorf("http.legacy.keys[%d].key_hash: %w", i, err)
		}
		if k.Device != anyDevice && !validName(k.Device) {
			return nil, fmt.Errorf("http.legacy.keys[%d].device: %q: use \"*\" or a device name (letters, digits, '-', '_', '.', at most 64)", i, k.Device)
		}
	}
	kr := &keyring{keys: keys, checker: checker, tarpit: tarpit, index: make(map[[32]byte]int)}
	// crypto/rand.Read never returns an error.
	_, _ = rand.Read(kr.salt[:])
	return kr, nil
}

// lookup returns the key secret matches, for a request from remote; false
// for a secret that is no key. It goes through the server's one login path
// (passwd.Checker.Login): an address that keeps failing is refused for a
// while without any bcrypt, and a check refused because too many are
// waiting is answered as busy rather than as a wrong key; both come back
// as the problem to answer (loginProblem). A request refused for backoff
// is first held in the tarpit, if there is one, while ctx lasts.
func (kr *keyring) lookup(ctx context.Context, remote, secret string) (Key, bool, *problem) {
	if secret == "" {
		return Key{}, false, nil
	}
	var k Key
	// Every key is a known account: the secret is tried against each.
	acct := passwd.Account{Known: true, Verify: func() (err error) { k, err = kr.find(remote, secret); return err }}
	out := kr.checker.Login(remote, true, acct, []byte(secret))
	out = kr.checker.HoldBackoff(ctx, kr.tarpit, remote, tarpitListener, out)
	if p := loginProblem(out); p != nil {
		return Key{}, false, p
	}
	return k, out.Result == passwd.OK, nil
}

// tarpitListener is the listener label of the legacy API's holds in the
// tarpit's counts, the same as the other HTTP routes'.
const tarpitListener = "http"

// loginProblem maps a login's outcome to the legacy API's answer: backoff
// and busy are 429 with Retry-After, as on every other HTTP route; a wrong
// key is nil here, answered by the caller as the original did (401).
func loginProblem(out passwd.Outcome) *problem {
	switch out.Result {
	case passwd.Backoff:
		return &problem{status: http.StatusTooManyRequests, reason: "key_backoff",
			detail: passwd.ErrBackoff.Error(), retryAfter: out.RetryAfterSeconds()}
	case passwd.Busy:
		return &problem{status: http.StatusTooManyRequests, reason: "key_busy",
			detail: passwd.ErrBusy.Error(), retryAfter: out.RetryAfterSeconds()}
	}
	return nil
}

func (kr *keyring) find(remote, secret string) (Key, error) {
	digest := kr.digest(secret)
	kr.mu.RLock()
	i, seen := kr.index[digest]
	kr.mu.RUnlock()
	if seen && kr.checker.VerifyFrom(remote, kr.keys[i].KeyHash, []byte(secret)) == nil {
		return kr.keys[i], nil
	}
	for i, k := range kr.keys {
		switch err := kr.checker.VerifyFrom(remote, k.KeyHash, []byte(secret)); {
		case err == nil:
			kr.mu.Lock()
			kr.index[digest] = i
			kr.mu.Unlock()
			return k, nil
		case errors.Is(err, passwd.ErrBusy):
			return Key{}, err
		}
	}
	return Key{}, passwd.ErrMismatch
}

func (kr *keyring) digest(secret string) [32]byte {
	h := sha256.New()
	h.Write(kr.salt[:])
	h.Write([]byte(secret))
	var d [32]byte
	h.Sum(d[:0])
	return d
}

// device decides which device a request speaks for. claimed is what the
// request says (X-node-id, or the basic-auth user name) and where it says it;
// a key mapped to one device makes that device the answer and the claim
// optional, but a claim naming another device is refused rather than
// silently rewritten: it means a logger was given the wrong key.
func device(key Key, claimed, where string) (string, *problem) {
	if key.Device != anyDevice {
		if claimed != "" && claimed != key.Device {
			return "", &problem{status: 403, reason: "device_mismatch",
				detail: fmt.Sprintf("%s %q is not the device this key belongs to (%q)", where, claimed, key.Device)}
		}
		return key.Device, nil
	}
	if claimed == "" {
		return "", &problem{status: 400, reason: "device_missing",
			detail: fmt.Sprintf("%s is missing: this key serves any device, so the request must name one", where)}
	}
	if !validName(claimed) {
		return "", &problem{status: 400, reason: "device_invalid",
			detail: fmt.Sprintf("%s %q is not a device id: 1 to 64 letters, digits, '-', '_' or '.'", where, truncate(claimed, 80))}
	}
	return claimed, nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
