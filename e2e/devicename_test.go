package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mqflux/mqflux/internal/testenv"
)

// A device user named like a literal level of a template (devices, with
// the esphome preset's {device}/... templates enabled beside
// devices/{device}/...) could publish devices/pi-2/... and be stored as
// pi-2. check-config refuses the name, saying which template and level, and
// serve refuses to start with it.
func TestDeviceNamedLikeTemplateLiteralIsRefused(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(testenv.ModuleRoot(t), "config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	const demo = "- {name: demo-device, "
	if !strings.Contains(string(data), demo) {
		t.Fatalf("config.yaml no longer has %q", demo)
	}
	cfg := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(cfg, []byte(strings.Replace(string(data), demo, "- {name: devices, ", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	bin := testenv.Build(t, "./cmd/mqflux")
	env := append(os.Environ(), "MQFLUX_MAPPING_PRESETS=[esphome]",
		"MQFLUX_DATA_DIR="+t.TempDir(),
		fmt.Sprintf("MQFLUX_BROKER_TCP=127.0.0.1:%d", testenv.FreePort(t)),
		fmt.Sprintf("MQFLUX_HTTP_ADDRESS=127.0.0.1:%d", testenv.FreePort(t)))
	const want = `broker.users[0].name: device "devices" is level 1 of template "devices/{device}/sensors/{measurement}"`

	for _, cmd := range []string{"check-config", "serve"} {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		c := exec.CommandContext(ctx, bin, cmd, "-config", cfg)
		c.Env = env
		out, err := c.CombinedOutput()
		cancel()
		if ctx.Err() == context.DeadlineExceeded {
			t.Fatalf("mqflux %s still running after 60s:\n%s", cmd, out)
		}
		if err == nil || !strings.Contains(string(out), want) {
			t.Errorf("mqflux %s: %v\n%s\nwant a failure saying %q", cmd, err, out, want)
		}
	}

	// With the default layout alone the name is refused too: it is a
	// literal level of the layout whether or not a template captures
	// {device} at that level today.
	c := exec.Command(bin, "check-config", "-config", cfg)
	c.Env = append(os.Environ(), "MQFLUX_MAPPING_PRESETS=[]")
	if out, err := c.CombinedOutput(); err == nil || !strings.Contains(string(out), want) {
		t.Errorf("check-config without presets: %v\n%s", err, out)
	}
}
