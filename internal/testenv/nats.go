package testenv

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// NATSServerPath finds nats-server: $NATS_SERVER, bin/nats-server (make
// tools), $PATH.
func NATSServerPath(t testing.TB) string {
	t.Helper()
	return binaryPath(t, "NATS_SERVER", "nats-server", "nats-server", "run make tools (go install github.com/nats-io/nats-server/v2)")
}

// NATSCluster is three nats-server processes on loopback joined by routes,
// each with JetStream (its store in the test's temporary directory) and an
// MQTT listener.
type NATSCluster struct {
	Nodes []*NATSNode
}

// NATSNode is one server of a NATSCluster.
type NATSNode struct {
	Name      string
	ClientURL string // nats://127.0.0.1:port
	MQTTAddr  string // 127.0.0.1:port
	monitor   string // http://127.0.0.1:port
	conf      string
	d         daemon
}

// StartNATSCluster starts a cluster of three nodes named n1, n2, n3 and
// waits until every node's JetStream is healthy (a meta leader elected).
// extraConf is appended to every node's configuration (authorization, mqtt
// settings...).
func StartNATSCluster(t testing.TB, extraConf string) *NATSCluster {
	t.Helper()
	bin := NATSServerPath(t)
	c := &NATSCluster{}
	t.Cleanup(func() {
		for _, node := range c.Nodes {
			_ = node.d.stop()
			if t.Failed() {
				b, _ := os.ReadFile(node.d.logPath)
				t.Logf("--- %s log (tail) ---\n%s", node.Name, tail(string(b), 40))
			}
		}
	})
	// A port picked by FreePorts can be taken before a node binds it (by
	// another test's server, or as the source port of a route connection);
	// the node then exits, and a cluster on fresh ports is the fix.
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if err = c.configure(t.TempDir(), bin, extraConf, FreePorts(t, 12)); err != nil {
			t.Fatal(err)
		}
		if err = c.launchAll(); err == nil {
			c.WaitHealthy(t)
			return c
		}
		for _, node := range c.Nodes {
			_ = node.d.stop()
		}
	}
	t.Fatal(err)
	return nil
}

// configure writes the nodes' configurations in dir, on the twelve ports
// given (a route, client, MQTT and monitoring port for each node).
func (c *NATSCluster) configure(dir, bin, extraConf string, ports []int) error {
	const n = 3
	routes := ports[:n]
	var routeURLs []string
	for _, p := range routes {
		routeURLs = append(routeURLs, fmt.Sprintf("nats-route://127.0.0.1:%d", p))
	}
	c.Nodes = c.Nodes[:0]
	for i := range n {
		name := fmt.Sprintf("n%d", i+1)
		client, mqtt, mon := ports[n+3*i], ports[n+3*i+1], ports[n+3*i+2]
		node := &NATSNode{
			Name:      name,
			ClientURL: fmt.Sprintf("nats://127.0.0.1:%d", client),
			MQTTAddr:  fmt.Sprintf("127.0.0.1:%d", mqtt),
			monitor:   fmt.Sprintf("http://127.0.0.1:%d", mon),
			conf:      filepath.Join(dir, name+".conf"),
			d:         daemon{name: "nats-server " + name, bin: bin, logPath: filepath.Join(dir, name+".log")},
		}
		conf := fmt.Sprintf(`server_name: %s
listen: 127.0.0.1:%d
http: 127.0.0.1:%d
jetstream { store_dir: %q, max_file_store: 2G, max_memory_store: 64M }
cluster { name: mqflux-test, listen: 127.0.0.1:%d, routes: [%s] }
mqtt { listen: 127.0.0.1:%d }
%s
`, name, client, mon, filepath.Join(dir, name), routes[i], strings.Join(routeURLs, ", "), mqtt, extraConf)
		if err := os.WriteFile(node.conf, []byte(conf), 0o600); err != nil {
			return fmt.Errorf("write %s: %w", node.conf, err)
		}
		c.Nodes = append(c.Nodes, node)
	}
	return nil
}

// launchAll starts every node, each waited for until it serves its
// monitoring port.
func (c *NATSCluster) launchAll() error {
	for _, node := range c.Nodes {
		if err := node.start(); err != nil {
			b, _ := os.ReadFile(node.d.logPath)
			return fmt.Errorf("%w\n--- %s log (tail) ---\n%s", err, node.Name, tail(string(b), 10))
		}
	}
	return nil
}

func tail(s string, lines int) string {
	l := strings.Split(s, "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}

// launch starts the node and waits until it serves its monitoring port.
func (n *NATSNode) launch(t testing.TB) {
	t.Helper()
	if err := n.start(); err != nil {
		t.Fatal(err)
	}
}

func (n *NATSNode) start() error {
	if err := n.d.launch([]string{"-c", n.conf}, n.monitor+"/varz", 200, 60*time.Second); err != nil {
		return fmt.Errorf("nats-server %s: %w", n.Name, err)
	}
	return nil
}

// Start runs a killed or stopped node again on its store and ports, and
// waits until its JetStream is healthy.
func (n *NATSNode) Start(t testing.TB) {
	t.Helper()
	n.launch(t)
	n.waitHealthy(t)
}

// Kill ends the node with SIGKILL: a crash.
func (n *NATSNode) Kill(t testing.TB) {
	t.Helper()
	if n.d.cmd == nil {
		return
	}
	_ = n.d.cmd.Process.Kill()
	<-n.d.exited
	n.d.cmd = nil
}

// Stop ends the node with SIGTERM.
func (n *NATSNode) Stop(t testing.TB) {
	t.Helper()
	if err := n.d.stop(); err != nil {
		t.Error(err)
	}
}

func (n *NATSNode) waitHealthy(t testing.TB) {
	t.Helper()
	if err := n.d.waitReady(n.monitor+"/healthz", 200, 2*time.Minute); err != nil {
		t.Fatalf("nats-server %s: %v", n.Name, err)
	}
}

// StartStopped runs every killed or stopped node again, all before
// waiting: a lone node has no JetStream quorum and is never healthy.
func (c *NATSCluster) StartStopped(t testing.TB) {
	t.Helper()
	for _, n := range c.Nodes {
		if n.d.cmd == nil {
			n.launch(t)
		}
	}
	c.WaitHealthy(t)
}

// WaitHealthy waits until every running node's JetStream is healthy.
func (c *NATSCluster) WaitHealthy(t testing.TB) {
	t.Helper()
	for _, n := range c.Nodes {
		if n.d.cmd != nil {
			n.waitHealthy(t)
		}
	}
}

// URLs are the client URLs of every node.
func (c *NATSCluster) URLs() []string {
	var u []string
	for _, n := range c.Nodes {
		u = append(u, n.ClientURL)
	}
	return u
}

// Pid is the running node's process id (for CPU accounting).
func (n *NATSNode) Pid() int { return n.d.cmd.Process.Pid }
