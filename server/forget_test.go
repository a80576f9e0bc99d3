package server

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mqflux/mqflux/internal/configfile"
	"github.com/mqflux/mqflux/internal/testenv"
)

// runWithOutputs runs a server from the shipped config.yaml with an
// outputs: list, on loopback; it returns the MQTT and HTTP addresses.
func runWithOutputs(t *testing.T, outputsYAML string) (string, string) {
	t.Helper()
	shipped, err := os.ReadFile("../config.yaml")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, append(shipped, outputsYAML...), 0o600); err != nil {
		t.Fatal(err)
	}
	mqtt := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	httpAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cfg := DefaultConfig()
	env := []string{"MQFLUX_DATA_DIR=" + t.TempDir(), "MQFLUX_BROKER_TCP=" + mqtt, "MQFLUX_HTTP_ADDRESS=" + httpAddr}
	if _, err := configfile.LoadFile(path, &cfg, env); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	srv, err := New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	ready, done := make(chan struct{}), make(chan error, 1)
	go func() { done <- srv.Run(ctx, func() { close(ready) }) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case <-ready:
	case err := <-done:
		t.Fatalf("Run ended before it was ready: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("server not ready after 60s")
	}
	return mqtt, httpAddr
}

func deleteDevice(t *testing.T, httpAddr, path string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodDelete, "http://"+httpAddr+path, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// ?data=true asks the first output's configuration to delete the device
// when its kind is an output.DeviceDeleter (a kind from a test file: no
// server code knows it); a kind that is not answers 501 and the device is
// forgotten all the same.
func TestForgetDataThroughAnyOutputKind(t *testing.T) {
	for _, tc := range []struct {
		kind, label string
		code        int
		deleted     []string
	}{
		{deleteKind, "forget-1", http.StatusOK, []string{"pi-gone"}},
		{memKind, "forget-2", http.StatusNotImplemented, nil},
	} {
		t.Run(tc.kind, func(t *testing.T) {
			mqtt, httpAddr := runWithOutputs(t, fmt.Sprintf("outputs:\n  - {name: out, kind: %s, label: %s}\n", tc.kind, tc.label))
			if out, err := testenv.Pub(t, mqtt, testenv.DemoGateway, "devices/pi-gone/sensors/temperature", "21.5", "-q", "1"); err != nil {
				t.Fatalf("mosquitto_pub: %v\n%s", err, out)
			}
			testenv.WaitFor(t, 30*time.Second, "pi-gone in /v1/devices", func() bool {
				return strings.Contains(getText(t, "http://"+httpAddr+"/v1/devices"), `"pi-gone"`)
			})
			code, body := deleteDevice(t, httpAddr, "/v1/devices/pi-gone?data=true")
			if code != tc.code {
				t.Fatalf("DELETE ?data=true: %d %s, want %d", code, body, tc.code)
			}
			if got := deletedDevices(tc.label); !slices.Equal(got, tc.deleted) {
				t.Errorf("the output was asked to delete %v, want %v", got, tc.deleted)
			}
			if strings.Contains(getText(t, "http://"+httpAddr+"/v1/devices"), `"pi-gone"`) {
				t.Errorf("pi-gone still in /v1/devices")
			}
		})
	}
}
