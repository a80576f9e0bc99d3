package server

import (
	"fmt"
	"sort"
	"strings"

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
// anyone who read the README could log in.
func refuseExposedDemo(cfg Config, checker *passwd.Checker) error {
	var exposed []string
	for key, addr := range map[string]string{
		"broker.tcp": cfg.Broker.TCP, "broker.tls.address": cfg.Broker.TLS.Address,
		"broker.websocket": cfg.Broker.Websocket, "http.address": cfg.HTTP.Address,
	} {
		if !configfile.IsLoopback(addr) {
			exposed = append(exposed, fmt.Sprintf("%s %s", key, addr))
		}
	}
	if len(exposed) == 0 {
		return nil
	}
	sort.Strings(exposed)
	var demo []string
	demoPW := DemoPasswords()
	for _, u := range cfg.Broker.Users {
		if pw, ok := demoPW[u.Name]; ok && checker.Check(u.PasswordHash, []byte(pw)) {
			demo = append(demo, "user "+u.Name)
		}
	}
	for i, k := range cfg.HTTP.Legacy.Keys {
		if checker.Check(k.KeyHash, []byte(DemoLegacyKey)) {
			demo = append(demo, fmt.Sprintf("http.legacy.keys[%d]", i))
		}
	}
	if len(demo) == 0 {
		return nil
	}
	return fmt.Errorf("refusing to listen beyond loopback (%s) while the demo password of %s is in use: "+
		"set new ones with `mqflux passwd` or listen on 127.0.0.1 only", strings.Join(exposed, ", "), strings.Join(demo, ", "))
}
