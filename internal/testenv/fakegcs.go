package testenv

import (
	"bytes"
	"net/http"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// FakeGCSVersion is the fake-gcs-server release make tools builds
// (FAKE_GCS_VERSION in the Makefile): an emulator of Google Cloud
// Storage's JSON API.
const FakeGCSVersion = "v1.56.1"

// fakeGCSStartTimeout bounds the emulator's start on a busy machine.
const fakeGCSStartTimeout = time.Minute

// FakeGCSPath finds fake-gcs-server: $MQFLUX_FAKE_GCS, then <module
// root>/bin/fake-gcs-server, then $PATH. A missing binary ends the test
// through Missing.
func FakeGCSPath(t testing.TB) string {
	t.Helper()
	return binaryPath(t, "MQFLUX_FAKE_GCS", "fake-gcs-server", "fake-gcs-server "+FakeGCSVersion,
		"run make tools, or set MQFLUX_FAKE_GCS to a fake-gcs-server binary")
}

// FakeGCS is one running GCS emulator owned by a test, in memory, plain
// HTTP on 127.0.0.1, with one bucket. It checks no credentials.
type FakeGCS struct {
	// Host is host:port, what STORAGE_EMULATOR_HOST takes.
	Host   string
	Bucket string
	daemon
}

// StartFakeGCS starts fake-gcs-server on a free port, creates the bucket
// and stops the server when the test ends.
func StartFakeGCS(t testing.TB, bucket string) *FakeGCS {
	t.Helper()
	g := &FakeGCS{daemon: daemon{name: "fake-gcs-server", bin: FakeGCSPath(t)}, Bucket: bucket}
	g.logPath = filepath.Join(t.TempDir(), "fake-gcs-server.log")
	t.Cleanup(func() { _ = g.stop() })
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		port := strconv.Itoa(FreePort(t))
		g.Host = "127.0.0.1:" + port
		// Resumable uploads continue at the Location the server names:
		// external-url makes it this address.
		err = g.launch([]string{"-scheme", "http", "-host", "127.0.0.1", "-port", port, "-backend", "memory",
			"-external-url", "http://" + g.Host, "-public-host", g.Host, "-log-level", "warn"},
			"http://"+g.Host+"/storage/v1/b", http.StatusOK, fakeGCSStartTimeout)
		if err == nil {
			req, _ := http.NewRequest(http.MethodPost, "http://"+g.Host+"/storage/v1/b?project=mqflux-test",
				bytes.NewReader([]byte(`{"name":"`+bucket+`"}`)))
			req.Header.Set("Content-Type", "application/json")
			if _, err = roundTrip(req, http.StatusOK); err == nil {
				return g
			}
		}
		_ = g.stop()
	}
	t.Fatalf("fake-gcs-server: %v\n--- %s ---\n%s", err, g.logPath, fileTail(g.logPath))
	return nil
}

// URL is the dump URL of prefix in the bucket.
func (g *FakeGCS) URL(prefix string) string { return "gs://" + g.Bucket + "/" + prefix }

// Env points gocloud's gcsblob (and Google's storage client) at the
// emulator, with no credentials.
func (g *FakeGCS) Env() []string { return []string{"STORAGE_EMULATOR_HOST=" + g.Host} }
