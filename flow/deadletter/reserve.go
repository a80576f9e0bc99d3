package deadletter

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// The dead-letter file keeps a reserve: a file of ReserveBytes next to it,
// allocated while there is room. A write the file system refuses for room
// deletes the reserve and tries again. Without it a full disk could
// deadlock: an output's refused point is acked to the spool only once its
// dead letter is written, and the spool, holding that batch, cannot delete
// the segment that fills the disk. The reserve is allocated again once the
// file system has room for it several times over.
const ReserveBytes = 1 << 20

// reserveRetry spaces out attempts to allocate the reserve again.
const reserveRetry = 10 * time.Second

func (d *File) reservePath() string {
	return filepath.Join(filepath.Dir(d.path), "."+filepath.Base(d.path)+".reserve")
}

// keepReserve allocates the reserve if it is missing and there is room
// for it; a failure is logged once and tried again later. mu held.
func (d *File) keepReserve() {
	if d.reserved || time.Since(d.reserveTried) < reserveRetry {
		return
	}
	d.reserveTried = time.Now()
	if fi, err := os.Stat(d.reservePath()); err == nil && fi.Size() >= ReserveBytes {
		d.reserved = true
		return
	}
	if !hasRoom(filepath.Dir(d.path), 4*ReserveBytes) {
		return
	}
	if err := allocate(d.reservePath(), ReserveBytes); err != nil {
		os.Remove(d.reservePath())
		d.log.Warn("dead-letter: cannot allocate the reserve kept for a full disk", "file", d.reservePath(), "err", err)
		return
	}
	d.reserved = true
}

// useReserve deletes the reserve after a write refused for room; it says
// whether there was one to delete. mu held.
func (d *File) useReserve(err error) bool {
	if !errors.Is(err, syscall.ENOSPC) && !errors.Is(err, syscall.EDQUOT) {
		return false
	}
	if rerr := os.Remove(d.reservePath()); rerr != nil {
		return false
	}
	d.reserved = false
	d.reserveTried = time.Now()
	d.log.Warn("dead-letter: the disk is full; using the room kept in reserve for dead letters", "file", d.path, "reserve_bytes", ReserveBytes)
	return true
}

// allocate creates path with n bytes allocated on disk (not a sparse file).
func allocate(path string, n int64) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	err = syscall.Fallocate(int(f.Fd()), 0, 0, n)
	if errors.Is(err, syscall.EOPNOTSUPP) {
		_, err = f.Write(make([]byte, n))
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// hasRoom says whether the file system holding dir has n bytes free.
func hasRoom(dir string, n int64) bool {
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		return false
	}
	return int64(st.Bavail)*int64(st.Bsize) >= n
}
