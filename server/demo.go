package server

import (
	"fmt"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/mqflux/mqflux/internal/configfile"
	"github.com/mqflux/mqflux/passwd"
)

// DemoPasswords are the passwords of the users shipped in config.yaml,
// published in the README. They are fine on loopback and nowhere else.
func DemoPasswords() map[string]string {
	return map[string]string{
		"demo-device":  "demo-device-pass",
		"demo-gateway": "demo-gateway-pass",
		"demo-reader":  "demo-reader-pass",
		"demo-admin":   "demo-admin-pass",
	}
}

// DemoLegacyKey is the shipped key of the legacy HTTP API.
const DemoLegacyKey = "demo-legacy-key"

// refuseExposedDemo stops a start that would listen beyond loopback while
// anyone who read the README could log in. What counts is the secret, not
// the name: a shipped hash copied under another user name (admin,
// gateway-1) lets in whoever knows the demo password just the same.
func refuseExposedDemo(cfg Config, checker *passwd.Checker) error {
	exposed := exposedListeners(cfg)
	if len(exposed) == 0 {
		return nil
	}
	demo := demoSecretsInUse(cfg, checker)
	if len(demo) == 0 {
		return nil
	}
	return fmt.Errorf("refusing to listen beyond loopback (%s) while the demo password of %s is in use: "+
		"set new ones with `mqflux passwd` or listen on 127.0.0.1 only", strings.Join(exposed, ", "), strings.Join(demo, ", "))
}

func exposedListeners(cfg Config) []string {
	var exposed []string
	for key, addr := range map[string]string{
		"broker.tcp": cfg.Broker.TCP, "broker.tls.address": cfg.Broker.TLS.Address,
		"broker.websocket": cfg.Broker.Websocket, "http.address": cfg.HTTP.Address,
	} {
		if !configfile.IsLoopback(addr) {
			exposed = append(exposed, fmt.Sprintf("%s %s", key, addr))
		}
	}
	sort.Strings(exposed)
	return exposed
}

// demoSecretsInUse names every user whose hash matches a demo password and
// every legacy key whose hash matches the demo key. Each hash is tried
// against each demo secret: a bcrypt computation apiece (tens of
// milliseconds), spread over the CPUs, paid only by a start that listens
// beyond loopback. The checker keeps the successes, so a demo login
// afterwards costs nothing more.
func demoSecretsInUse(cfg Config, checker *passwd.Checker) []string {
	var checks []demoCheck
	var secrets [][]byte
	for _, pw := range DemoPasswords() {
		secrets = append(secrets, []byte(pw))
	}
	for _, u := range cfg.Broker.Users {
		checks = append(checks, demoCheck{what: "user " + u.Name, hash: u.PasswordHash, secrets: secrets})
	}
	for i, k := range cfg.HTTP.Legacy.Keys {
		checks = append(checks, demoCheck{what: fmt.Sprintf("http.legacy.keys[%d]", i), hash: k.KeyHash,
			secrets: [][]byte{[]byte(DemoLegacyKey)}})
	}
	found := make([]bool, len(checks))
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(checks)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range work {
				found[i] = checks[i].matches(checker)
			}
		}()
	}
	for i := range checks {
		work <- i
	}
	close(work)
	wg.Wait()
	var demo []string
	for i, c := range checks {
		if found[i] {
			demo = append(demo, c.what)
		}
	}
	return demo
}

type demoCheck struct {
	what    string
	hash    string
	secrets [][]byte
}

func (c demoCheck) matches(checker *passwd.Checker) bool {
	for _, s := range c.secrets {
		if checker.Check(c.hash, s) {
			return true
		}
	}
	return false
}
