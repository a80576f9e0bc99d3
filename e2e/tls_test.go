package e2e

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/mqflux/mqflux/internal/testenv"
)

// A device publishing over the TLS listener reaches a reader on plain TCP;
// a client that does not trust the certificate cannot connect.
func TestTLSListener(t *testing.T) {
	cert, key := testenv.WriteCert(t)
	tlsAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	srv := testenv.StartServer(t, testenv.ServerOptions{Env: []string{
		"MQFLUX_BROKER_TLS_ADDRESS=" + tlsAddr, "MQFLUX_BROKER_TLS_CERT=" + cert, "MQFLUX_BROKER_TLS_KEY=" + key,
	}})
	sub := testenv.Subscribe(t, srv.MQTT, testenv.DemoReader, "devices/#", "-q", "1")
	srv.WaitLog(t, "subscribed", "demo-reader")

	topic := "devices/demo-device/sensors/temperature"
	if out, err := testenv.Pub(t, tlsAddr, testenv.DemoDevice, topic, "19.5", "-q", "1", "--cafile", cert); err != nil {
		t.Fatalf("publish over TLS: %v %s", err, out)
	}
	if lines := sub.WaitLines(t, 1, 30*time.Second); !slices.Contains(lines, topic+" 19.5") {
		t.Errorf("reader got %q", lines)
	}
	other, _ := testenv.WriteCert(t) // a CA that did not sign the server's certificate
	if out, err := testenv.Pub(t, tlsAddr, testenv.DemoDevice, topic, "1", "-q", "1", "--cafile", other); err == nil {
		t.Errorf("a client with the wrong CA connected: %s", out)
	}
}
