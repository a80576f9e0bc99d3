package subscriber

import (
	"context"
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
	"strings"
	"testing"
	"time"

	"github.com/mqflux/mqflux/internal/testenv"
)

// With ca_file the bridge verifies the broker's certificate and receives
// over TLS; without it the same broker is not trusted.
func TestTLSWithCAFile(t *testing.T) {
	dir := t.TempDir()
	ca, cert, key := writeTestPKI(t, dir)
	conf := fmt.Sprintf("allow_anonymous true\ncafile %s\ncertfile %s\nkeyfile %s\n", ca, cert, key)
	if os.Geteuid() == 0 {
		// As root mosquitto drops to its own user before reading the
		// certificates, which live in the test's private temp dir.
		conf += "user root\n"
	}
	broker := startOwnMosquitto(t, conf)
	url := "ssl://" + broker.addr

	sink := &recordingSink{}
	o := options(broker.addr, "bridge-tls", sink, "devices/#")
	o.URL, o.CAFile = url, ca
	startSub(t, o)
	host, port, _ := strings.Cut(broker.addr, ":")
	if out, err := testenv.Pub(t, broker.addr, testenv.Login{}, "devices/d/sensors/t", "1.5", "-q", "1", "--cafile", ca); err != nil {
		t.Fatalf("mosquitto_pub over TLS to %s:%s: %v %s", host, port, err, out)
	}
	waitFor(t, "message over TLS", func() bool { return len(sink.Stored()) == 1 })
	if got := sink.Stored(); !slices.Equal(got, []string{"devices/d/sensors/t 1.5"}) {
		t.Errorf("stored %q", got)
	}

	untrusting := options(broker.addr, "bridge-tls-2", &recordingSink{}, "devices/#")
	untrusting.URL = url
	var log syncBuffer
	untrusting.Logger = slogTo(&log)
	s, err := New(untrusting)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	started := make(chan error, 1)
	go func() { started <- s.Start(ctx) }()
	waitFor(t, "certificate refusal logged", func() bool { return strings.Contains(log.String(), "unknown authority") })
	cancel()
	if err := <-started; err != context.Canceled {
		t.Errorf("Start without the CA = %v, want it still retrying until cancelled", err)
	}
	s.Stop()

	if _, err := New(Options{URL: url, ClientID: "x", Filters: []string{"#"}, Sink: sink, CAFile: filepath.Join(dir, "missing.pem")}); err == nil || !strings.Contains(err.Error(), "bridge.ca_file") {
		t.Errorf("New with a missing ca_file = %v, want an error naming bridge.ca_file", err)
	}
}

// writeTestPKI writes a CA and a server certificate for 127.0.0.1.
func writeTestPKI(t *testing.T, dir string) (ca, cert, key string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "mqflux test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	srvKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	srvTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		KeyUsage: x509.KeyUsageDigitalSignature,
	}
	caCert, _ := x509.ParseCertificate(caDER)
	srvDER, err := x509.CreateCertificate(rand.Reader, srvTmpl, caCert, &srvKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalECPrivateKey(srvKey)
	if err != nil {
		t.Fatal(err)
	}
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	return write("ca.pem", "CERTIFICATE", caDER), write("server.pem", "CERTIFICATE", srvDER), write("server.key", "EC PRIVATE KEY", keyDER)
}
