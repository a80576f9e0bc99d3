package subscriber

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mqflux/mqflux/internal/testenv"
)

// With ca_file the bridge verifies the broker's certificate and receives
// over TLS; without it the same broker is not trusted.
func TestTLSWithCAFile(t *testing.T) {
	ca, key := testenv.WriteCert(t) // self-signed: its own CA
	broker := testenv.StartMosquitto(t, fmt.Sprintf("cafile %s\ncertfile %s\nkeyfile %s", ca, ca, key))
	url := "ssl://" + broker.Addr

	sink := &recordingSink{}
	o := options(broker.Addr, "bridge-tls", sink, "devices/#")
	o.URL, o.CAFile = url, ca
	startSub(t, o)
	host, port, _ := strings.Cut(broker.Addr, ":")
	if out, err := testenv.Pub(t, broker.Addr, testenv.Login{}, "devices/d/sensors/t", "1.5", "-q", "1", "--cafile", ca); err != nil {
		t.Fatalf("mosquitto_pub over TLS to %s:%s: %v %s", host, port, err, out)
	}
	waitFor(t, "message over TLS", func() bool { return len(sink.Stored()) == 1 })
	if got := sink.Stored(); !slices.Equal(got, []string{"devices/d/sensors/t 1.5"}) {
		t.Errorf("stored %q", got)
	}

	untrusting := options(broker.Addr, "bridge-tls-2", &recordingSink{}, "devices/#")
	untrusting.URL = url
	var log testenv.SyncBuffer
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

	if _, err := New(Options{URL: url, ClientID: "x", Filters: []string{"#"}, Sink: sink, CAFile: filepath.Join(t.TempDir(), "missing.pem")}); err == nil || !strings.Contains(err.Error(), "bridge.ca_file") {
		t.Errorf("New with a missing ca_file = %v, want an error naming bridge.ca_file", err)
	}
}
