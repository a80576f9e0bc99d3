//go:build unix

package deadletter

import (
	"os"
	"syscall"
)

// fileID tells a file from the one that replaces it by rename (rotation,
// a replay's rewrite), which the same path and even size cannot.
func fileID(fi os.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Ino)
	}
	return 0
}
