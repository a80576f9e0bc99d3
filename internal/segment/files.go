package segment

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

const segmentExt = ".seg"

// Name is the file name of segment id.
func Name(id uint64) string { return fmt.Sprintf("%012d%s", id, segmentExt) }

// parseName returns the id of a segment file name; ok is false for any
// other name, a differently padded number included, so a file of another
// format that also ends in .seg is never taken for a segment.
func parseName(name string) (id uint64, ok bool) {
	num, found := strings.CutSuffix(name, segmentExt)
	if !found {
		return 0, false
	}
	id, err := strconv.ParseUint(num, 10, 64)
	if err != nil || id == 0 || Name(id) != name {
		return 0, false
	}
	return id, true
}

// lockDir flocks dir/lock so two processes never share a log.
func lockDir(dir string) (*os.File, error) {
	path := filepath.Join(dir, "lock")
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s (is another process using this directory?): %w", path, err)
	}
	return f, nil
}

// datasync is fdatasync(2): it skips the inode times fsync would also write.
func datasync(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	err = rc.Control(func(fd uintptr) {
		for {
			serr = syscall.Fdatasync(int(fd))
			if serr != syscall.EINTR {
				return
			}
		}
	})
	if err != nil {
		return err
	}
	return serr
}

// SyncDir makes a created, renamed or removed directory entry durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("fsync directory %s: %w", dir, err)
	}
	return nil
}

func syncFile(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
