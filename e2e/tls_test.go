package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/mqflux/mqflux/internal/testenv"
)

// writeTestCert writes a self-signed certificate for 127.0.0.1 and its key,
// returning the paths (the certificate is its own CA).
func writeTestCert(t *testing.T) (certPath, keyPath string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "mqflux test"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certPath, keyPath = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certPath, keyPath
}

// A device publishing over the TLS listener reaches a reader on plain TCP;
// a client that does not trust the certificate cannot connect.
func TestTLSListener(t *testing.T) {
	cert, key := writeTestCert(t)
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
	other, _ := writeTestCert(t) // a CA that did not sign the server's certificate
	if out, err := testenv.Pub(t, tlsAddr, testenv.DemoDevice, topic, "1", "-q", "1", "--cafile", other); err == nil {
		t.Errorf("a client with the wrong CA connected: %s", out)
	}
}
