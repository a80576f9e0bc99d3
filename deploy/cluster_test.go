package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mqflux/mqflux/internal/testenv"
)

// deploy/cluster: nats-server accepts the node configuration (with the
// example authorization), and the compose file runs three nodes and two
// bridges with input nats on all three.
func TestClusterDeploy(t *testing.T) {
	dir := t.TempDir()
	conf := strings.Replace(string(readFile(t, deployPath(t, "cluster/nats.conf"))), "store_dir: /data", "store_dir: "+filepath.Join(dir, "data"), 1)
	if err := os.WriteFile(filepath.Join(dir, "nats.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "auth.conf"), readFile(t, deployPath(t, "cluster/auth.conf.example")), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(testenv.NATSServerPath(t), "-t", "-c", filepath.Join(dir, "nats.conf"))
	cmd.Env = append(os.Environ(), "SERVER_NAME=nats-1")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nats-server -t: %v\n%s", err, out)
	}

	var c struct {
		Services map[string]struct {
			Image       string            `yaml:"image"`
			Command     []string          `yaml:"command"`
			Environment map[string]string `yaml:"environment"`
		} `yaml:"services"`
	}
	parseYAML(t, deployPath(t, "cluster/docker-compose.yml"), &c)
	for _, n := range []string{"nats-1", "nats-2", "nats-3"} {
		if s, ok := c.Services[n]; !ok || s.Environment["SERVER_NAME"] != n {
			t.Errorf("service %s missing or without its server_name: %+v", n, s)
		}
	}
	for _, n := range []string{"mqflux-1", "mqflux-2"} {
		s := c.Services[n]
		if strings.Join(s.Command, " ") != "bridge -config /etc/mqflux/config.yaml" || s.Environment["MQFLUX_BRIDGE_INPUT"] != "nats" ||
			!strings.Contains(s.Environment["MQFLUX_BRIDGE_NATS_URLS"], "nats-3:4222") {
			t.Errorf("service %s is not a bridge on the three nodes: %+v", n, s)
		}
	}
	for _, n := range []string{"influxdb", "grafana"} {
		if _, ok := c.Services[n]; !ok {
			t.Errorf("no service %s", n)
		}
	}
}
