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

// An outputs: entry is read as the rest of the file: `mqflux serve`
// refuses a misspelt key and a bad value of an entry with the file, line,
// column and the entry's key path, whether the list comes from the file
// or from MQFLUX_OUTPUTS.
func TestOutputEntryErrorsNameTheirPlace(t *testing.T) {
	dir := t.TempDir()
	cfg, empty := filepath.Join(dir, "config.yaml"), filepath.Join(dir, "empty.yaml")
	doc := "outputs:\n  - name: influx\n  - name: vm\n    required: false\n    urll: http://127.0.0.1:8428\n    batch_size: lots\n"
	if err := os.WriteFile(cfg, []byte(doc), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	bin := testenv.Build(t, "./cmd/mqflux")
	cases := []struct {
		name, config string
		env          []string
		want         []string
	}{
		{"from the file", cfg, nil, []string{
			cfg + ":5:5: outputs[1].urll: unknown key; known keys here: ",
			"; and in every entry: kind, max_lag, name, required",
			cfg + `:6:17: outputs[1].batch_size: want a whole number, got "lots"`,
		}},
		{"from the environment", empty, []string{"MQFLUX_OUTPUTS=[{name: influx}, {name: vm, required: false, urll: x}]"}, []string{
			"MQFLUX_OUTPUTS", "outputs[1].urll: unknown key; known keys here: ",
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := append(os.Environ(), "MQFLUX_DATA_DIR="+t.TempDir(),
				fmt.Sprintf("MQFLUX_BROKER_TCP=127.0.0.1:%d", testenv.FreePort(t)),
				fmt.Sprintf("MQFLUX_HTTP_ADDRESS=127.0.0.1:%d", testenv.FreePort(t)))
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			defer cancel()
			c := exec.CommandContext(ctx, bin, "serve", "-config", tc.config)
			c.Env = append(env, tc.env...)
			out, err := c.CombinedOutput()
			if ctx.Err() != nil {
				t.Fatalf("mqflux serve still running after 60s:\n%s", out)
			}
			if err == nil {
				t.Fatalf("mqflux serve started with bad outputs entries:\n%s", out)
			}
			for _, w := range tc.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("mqflux serve said:\n%s\nwant %q", out, w)
				}
			}
		})
	}
}
