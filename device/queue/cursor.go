package queue

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
	"path/filepath"
)

// The cursor file holds the watermark: every id up to it has been
// acknowledged. It is written lazily (at most once per flush interval), so
// after a crash a few acknowledged records may be sent again; the receiver
// tolerates that because every reading carries its own timestamp.
const cursorName = "acked"

func readCursor(dir string) (uint64, error) {
	b, err := os.ReadFile(filepath.Join(dir, cursorName))
	if errors.Is(err, fs.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read queue cursor: %w", err)
	}
	if len(b) != 12 {
		return 0, fmt.Errorf("queue cursor %s: %d bytes, want 12", filepath.Join(dir, cursorName), len(b))
	}
	if crc32.Checksum(b[:8], castagnoli) != binary.LittleEndian.Uint32(b[8:]) {
		return 0, fmt.Errorf("queue cursor %s: CRC-32C mismatch", filepath.Join(dir, cursorName))
	}
	return binary.LittleEndian.Uint64(b[:8]), nil
}

// writeCursor replaces the cursor file atomically (write, rename), so a
// power cut leaves either the old or the new watermark.
func writeCursor(dir string, watermark uint64, sync bool) error {
	var b [12]byte
	binary.LittleEndian.PutUint64(b[:8], watermark)
	binary.LittleEndian.PutUint32(b[8:], crc32.Checksum(b[:8], castagnoli))
	tmp := filepath.Join(dir, cursorName+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o640)
	if err != nil {
		return fmt.Errorf("write queue cursor: %w", err)
	}
	_, err = f.Write(b[:])
	if err == nil && sync {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("write queue cursor %s: %w", tmp, err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, cursorName)); err != nil {
		return fmt.Errorf("write queue cursor: %w", err)
	}
	if sync {
		return syncDir(dir)
	}
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync queue dir: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync queue dir %s: %w", dir, err)
	}
	return nil
}
