package testenv

import (
	"crypto/tls"
	"crypto/x509"
	"os"
	"slices"
	"testing"
	"time"
)

func TestMosquittoRestartKeepsPersistence(t *testing.T) {
	m := StartMosquitto(t, "", WithPersistence())
	if out, err := Pub(t, m.Addr, Login{}, "t/kept", "1", "-r", "-q", "1"); err != nil {
		t.Fatalf("publish retained: %v %s", err, out)
	}
	m.Stop()
	m.Start(t) // same port
	s := Subscribe(t, m.Addr, Login{}, "t/kept", "-C", "1", "-W", "20")
	if err, stderr := s.Wait(30 * time.Second); err != nil {
		t.Fatalf("read retained after restart: %v %s", err, stderr)
	}
	if got := s.Lines(); !slices.Equal(got, []string{"t/kept 1"}) {
		t.Fatalf("after restart the retained message is %q, want [t/kept 1]", got)
	}
	m.Kill()
	m.Kill() // a stopped broker stays stopped
	if m.running() {
		t.Fatal("broker still running after Kill")
	}
}

func TestWriteCertTrustsOnlyItself(t *testing.T) {
	cert, key := WriteCert(t)
	other, _ := WriteCert(t)
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	verify := func(caPath string) error {
		pem, err := os.ReadFile(caPath)
		if err != nil {
			t.Fatal(err)
		}
		roots := x509.NewCertPool()
		roots.AppendCertsFromPEM(pem)
		_, err = leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: "127.0.0.1"})
		return err
	}
	if err := verify(cert); err != nil {
		t.Errorf("the certificate as its own CA: %v", err)
	}
	if err := verify(other); err == nil {
		t.Error("another WriteCert's certificate verified it")
	}
}
