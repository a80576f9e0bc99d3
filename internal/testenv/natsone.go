package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

// StartNATSServer starts one nats-server with JetStream (its store in the
// test's temporary directory) on loopback, and waits until JetStream is
// healthy: for a test of something that needs NATS but not a cluster.
func StartNATSServer(t testing.TB) *NATSNode {
	t.Helper()
	bin := NATSServerPath(t)
	dir := t.TempDir()
	ports := FreePorts(t, 2)
	client, mon := ports[0], ports[1]
	n := &NATSNode{
		Name:      "single",
		ClientURL: fmt.Sprintf("nats://127.0.0.1:%d", client),
		monitor:   fmt.Sprintf("http://127.0.0.1:%d", mon),
		conf:      filepath.Join(dir, "single.conf"),
		d:         daemon{name: "nats-server single", bin: bin, logPath: filepath.Join(dir, "single.log")},
	}
	conf := fmt.Sprintf("server_name: single\nlisten: 127.0.0.1:%d\nhttp: 127.0.0.1:%d\njetstream { store_dir: %q, max_file_store: 256M, max_memory_store: 64M }\n",
		client, mon, filepath.Join(dir, "js"))
	if err := os.WriteFile(n.conf, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = n.d.stop()
		if t.Failed() {
			b, _ := os.ReadFile(n.d.logPath)
			t.Logf("--- nats-server log (tail) ---\n%s", tail(string(b), 40))
		}
	})
	n.Start(t)
	return n
}
