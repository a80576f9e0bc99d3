package testenv

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// SeaweedFSVersion is the SeaweedFS commit make tools builds weed from
// (SEAWEEDFS_VERSION in the Makefile).
const SeaweedFSVersion = "v0.0.0-20261109003541-7506e5f91cd6"

// seaweedStartTimeout bounds how long weed may take until its S3 gateway
// creates a bucket: master, volume server and filer start first.
const seaweedStartTimeout = 3 * time.Minute

// SeaweedPath finds the weed binary: $MQFLUX_WEED, then <module
// root>/bin/weed, then $PATH. A missing binary ends the test through
// Missing.
func SeaweedPath(t testing.TB) string {
	t.Helper()
	return binaryPath(t, "MQFLUX_WEED", "weed", "weed (SeaweedFS "+SeaweedFSVersion+")",
		"run make tools, or set MQFLUX_WEED to a weed binary")
}

// Seaweed is one running SeaweedFS (master, volume server, filer and S3
// gateway in one `weed server` process) owned by a test, with one bucket.
// Without an identity configuration its S3 API takes any credentials.
type Seaweed struct {
	// S3 is the S3 endpoint, http://127.0.0.1:<port>.
	S3     string
	Bucket string

	daemon
	dir string
}

// StartSeaweed starts weed server -s3 on free ports with its own data
// directory, creates the bucket, and stops the server when the test ends.
func StartSeaweed(t testing.TB, bucket string) *Seaweed {
	t.Helper()
	s := &Seaweed{daemon: daemon{name: "weed", bin: SeaweedPath(t)}, dir: t.TempDir(), Bucket: bucket}
	s.logPath = filepath.Join(s.dir, "weed.log")
	t.Cleanup(func() { _ = s.stop() })
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if err = s.launch(t); err == nil {
			return s
		}
		_ = s.stop()
	}
	t.Fatalf("weed: %v\n--- %s ---\n%s", err, s.logPath, fileTail(s.logPath))
	return nil
}

// launch starts weed on fresh ports (each HTTP port with its gRPC port
// given too: weed's default is the HTTP port + 10000, which FreePort does
// not check) and waits until the bucket is created.
func (s *Seaweed) launch(t testing.TB) error {
	port := func() string { return strconv.Itoa(FreePort(t)) }
	if err := os.MkdirAll(filepath.Join(s.dir, "data"), 0o750); err != nil {
		return err
	}
	s3 := port()
	s.S3 = "http://127.0.0.1:" + s3
	args := []string{"server", "-ip=127.0.0.1", "-dir=" + filepath.Join(s.dir, "data"),
		"-master.port=" + port(), "-master.port.grpc=" + port(), "-master.volumeSizeLimitMB=64",
		"-volume.port=" + port(), "-volume.port.grpc=" + port(), "-volume.max=16",
		"-filer.port=" + port(), "-filer.port.grpc=" + port(),
		"-s3", "-s3.port=" + s3, "-s3.port.grpc=" + port(), "-s3.port.iceberg=0", "-s3.port.lance=0",
	}
	if err := s.daemon.launch(args, s.S3+"/", http.StatusOK, seaweedStartTimeout); err != nil {
		return err
	}
	// The gateway answers before the filer takes writes: create the
	// bucket until it is made (or already there after a retry).
	deadline := time.Now().Add(seaweedStartTimeout)
	var last string
	for time.Now().Before(deadline) {
		req, _ := http.NewRequest(http.MethodPut, s.S3+"/"+s.Bucket, nil)
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusConflict {
				return nil
			}
			last = resp.Status
		} else {
			last = err.Error()
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Errorf("create bucket %s: %s", s.Bucket, last)
}

// URL is the dump URL of prefix in the bucket, with the endpoint and
// path-style addressing the gateway needs.
func (s *Seaweed) URL(prefix string) string {
	return "s3://" + s.Bucket + "/" + prefix + "?endpoint=" + s.S3 + "&region=us-east-1&use_path_style=true"
}

// Env is the environment an S3 client needs for this server: any
// credentials (the gateway checks none) and no instance metadata lookup.
func (s *Seaweed) Env() []string {
	return []string{"AWS_ACCESS_KEY_ID=mqflux-test", "AWS_SECRET_ACCESS_KEY=mqflux-test-secret", "AWS_EC2_METADATA_DISABLED=true"}
}
