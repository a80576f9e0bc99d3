package spool

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/mqflux/mqflux/flow/ingest"
	"github.com/mqflux/mqflux/internal/segment"
	"github.com/mqflux/mqflux/internal/testenv"
)

// smallFS mounts a tmpfs of size on a new directory for the test (root
// only: skipped without, a failure in CI).
func smallFS(t *testing.T, size string) string {
	t.Helper()
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		testenv.Missing(t, "a tmpfs mount (root)", err.Error())
	}
	t.Cleanup(func() {
		if err := syscall.Unmount(dir, syscall.MNT_DETACH); err != nil {
			t.Errorf("unmount %s: %v", dir, err)
		}
	})
	return dir
}

// A spool whose file system fills before its size bound pushes back
// (ingest.ErrFull wrapping ENOSPC, Fault set), and once its records are
// acked takes records again in the same process: the drained segment is
// deleted and no descriptor keeps its room.
func TestFullFileSystemPushesBackAndRecovers(t *testing.T) {
	dir := smallFS(t, "4m")
	s := openSpool(t, Options{Dir: filepath.Join(dir, "spool")})
	n := 0
	var err error
	for ; ; n++ {
		if err = s.Append(record(n)); err != nil {
			break
		}
	}
	if !errors.Is(err, ingest.ErrFull) || !segment.IsNoSpace(err) {
		t.Fatalf("Append on a full file system: %v, want ingest.ErrFull and ENOSPC", err)
	}
	if f := s.Fault(); f != "no space left on device" {
		t.Fatalf("Fault() = %q", f)
	}
	if s.HasRoom(len(record(n))) {
		t.Fatal("HasRoom says yes on a full file system")
	}
	wantRecords(t, drainAll(t, s), 0, n)
	if held := deletedHeld(t, dir); len(held) > 0 {
		t.Fatalf("descriptors still hold deleted files %v after the spool drained", held)
	}
	if err := s.Append(record(n)); err != nil {
		t.Fatalf("Append after the spool drained: %v", err)
	}
	if f := s.Fault(); f != "" {
		t.Fatalf("Fault() = %q after an append with room again", f)
	}
	wantRecords(t, drainAll(t, s), n, 1)
}

// deletedHeld lists files under dir that this process holds open although
// they were deleted.
func deletedHeld(t *testing.T, dir string) []string {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	var out []string
	for _, fd := range fds {
		target, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name()))
		if err == nil && strings.HasPrefix(target, dir) && strings.HasSuffix(target, "(deleted)") {
			out = append(out, target)
		}
	}
	return out
}
