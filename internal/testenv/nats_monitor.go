package testenv

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"testing"
	"time"
)

// Monitor decodes the JSON of the node's monitoring endpoint path (e.g.
// "/varz", "/connz?subs=1") into v.
func (n *NATSNode) Monitor(t testing.TB, path string, v any) {
	t.Helper()
	c := http.Client{Timeout: 10 * time.Second}
	resp, err := c.Get(n.monitor + path)
	if err != nil {
		t.Fatalf("nats-server %s %s: %v", n.Name, path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("nats-server %s %s: %s", n.Name, path, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("nats-server %s %s: %v", n.Name, path, err)
	}
}

// Log is what the node wrote to its log file so far.
func (n *NATSNode) Log(t testing.TB) string {
	t.Helper()
	b, err := os.ReadFile(n.d.logPath)
	if err != nil {
		t.Fatal(fmt.Errorf("nats-server %s log: %w", n.Name, err))
	}
	return string(b)
}
