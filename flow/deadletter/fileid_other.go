//go:build !unix

package deadletter

import "os"

// fileID is 0 where no inode is at hand: a cursor then survives a rotation
// or rewrite it should not, and reads from the same offset of the new file.
func fileID(os.FileInfo) uint64 { return 0 }
