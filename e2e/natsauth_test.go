package e2e

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mqflux/mqflux/internal/testenv"
)

// `mqflux nats-auth` turns the shipped config.yaml's users and roles into
// a nats-server authorization block; with it on every node, the demo
// device is denied another device's topic on each node (a reader sees
// nothing of it), while its own topic and the admin's publish on the same
// topic get through.
func TestNATSAuthDeniesOtherDevicesTopics(t *testing.T) {
	bin := testenv.Build(t, "./cmd/mqflux")
	out, err := exec.Command(bin, "nats-auth", "-config", filepath.Join(testenv.ModuleRoot(t), "config.yaml")).Output()
	if err != nil {
		t.Fatalf("mqflux nats-auth: %v", err)
	}
	block := string(out)
	if !strings.Contains(block, `"devices.demo-device.sensors.*"`) || !strings.Contains(block, "$2a$") {
		t.Fatalf("authorization block without the device's subjects or its bcrypt hash:\n%s", block)
	}
	cluster := testenv.StartNATSCluster(t, block)

	sub := testenv.Subscribe(t, cluster.Nodes[0].MQTTAddr, testenv.DemoReader, "devices/+/sensors/+", "-q", "1")
	waitFor(t, time.Minute, "the reader subscribed on n1 and reached from n3", func() bool {
		if _, err := testenv.Pub(t, cluster.Nodes[2].MQTTAddr, testenv.DemoDevice, "devices/demo-device/sensors/probe", "1", "-q", "1"); err != nil {
			return false
		}
		time.Sleep(time.Second)
		return len(sub.Lines()) > 0
	})
	for _, node := range cluster.Nodes {
		if out, err := testenv.Pub(t, node.MQTTAddr, testenv.DemoDevice, "devices/pi-other/sensors/t", "device-"+node.Name, "-q", "1"); err != nil {
			// SECURITY.md says the device is not told: nats-server PUBACKs
			// what it denies (mosquitto_pub -q 1 waits for the PUBACK).
			t.Errorf("%s: the device's publish on another's topic got no PUBACK: %v %s", node.Name, err, out)
		}
		if out, err := testenv.Pub(t, node.MQTTAddr, testenv.DemoAdmin, "devices/pi-other/sensors/t", "admin-"+node.Name, "-q", "1"); err != nil {
			t.Fatalf("%s: admin publish: %v %s", node.Name, err, out)
		}
		if out, err := testenv.Pub(t, node.MQTTAddr, testenv.DemoDevice, "devices/demo-device/sensors/t", "own-"+node.Name, "-q", "1"); err != nil {
			t.Fatalf("%s: the device's own topic: %v %s", node.Name, err, out)
		}
	}
	waitFor(t, time.Minute, "the admin's and the device's own readings from every node", func() bool {
		lines := strings.Join(sub.Lines(), "\n")
		for _, node := range cluster.Nodes {
			if !strings.Contains(lines, "admin-"+node.Name) || !strings.Contains(lines, "own-"+node.Name) {
				return false
			}
		}
		return true
	})
	time.Sleep(2 * time.Second)
	for _, l := range sub.Lines() {
		if strings.Contains(l, "device-n") {
			t.Errorf("the reader saw a reading the device published on another device's topic: %q", l)
		}
	}
}
