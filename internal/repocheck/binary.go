package repocheck

import (
	"bytes"
	"encoding/binary"
)

// ExecutableFormat names the executable format whose header starts head
// (the first bytes of a file; 512 are enough), or "" when it is none:
// ELF, Mach-O (both byte orders, fat binaries) and Windows PE.
func ExecutableFormat(head []byte) string {
	switch {
	case bytes.HasPrefix(head, []byte("\x7fELF")):
		return "ELF"
	case bytes.HasPrefix(head, []byte{0xfe, 0xed, 0xfa, 0xce}), bytes.HasPrefix(head, []byte{0xfe, 0xed, 0xfa, 0xcf}),
		bytes.HasPrefix(head, []byte{0xce, 0xfa, 0xed, 0xfe}), bytes.HasPrefix(head, []byte{0xcf, 0xfa, 0xed, 0xfe}),
		bytes.HasPrefix(head, []byte{0xca, 0xfe, 0xba, 0xbe}):
		return "Mach-O"
	case bytes.HasPrefix(head, []byte("MZ")) && len(head) >= 0x40:
		// "MZ" alone may start a text file; a PE file points at its
		// "PE\0\0" signature from offset 0x3c.
		off := int(binary.LittleEndian.Uint32(head[0x3c:]))
		if off >= 0 && off+4 <= len(head) && bytes.Equal(head[off:off+4], []byte("PE\x00\x00")) {
			return "PE"
		}
	}
	return ""
}
