package hostlogs

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// State is where each source stopped: the journal's cursor (the __CURSOR
// of the last entry appended to the queue) and, per followed path, the
// file and the offset after its last appended line.
type State struct {
	Journal string             `json:"journal_cursor,omitempty"`
	Files   map[string]FilePos `json:"files,omitempty"`
}

// FilePos identifies a file by device and inode (its name changes when it
// is rotated) and the offset of the first byte not yet appended.
type FilePos struct {
	Dev    uint64 `json:"dev"`
	Inode  uint64 `json:"inode"`
	Offset int64  `json:"offset"`
}

func loadState(path string) (State, error) {
	st := State{Files: map[string]FilePos{}}
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("read log state %s: %w", path, err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return State{Files: map[string]FilePos{}}, fmt.Errorf("log state %s: %w", path, err)
	}
	if st.Files == nil {
		st.Files = map[string]FilePos{}
	}
	return st, nil
}

// saveState replaces the file by renaming a complete new one over it, so
// a crash leaves the old state or the new, never half of one. It is
// written after the lines it covers were appended to the queue, so a
// killed agent repeats at most the lines of one batch. It is not fsynced:
// after a power cut it may be older than the queue (lines sent twice;
// a journal line keeps its time, so InfluxDB stores it once) or newer
// than the queue's last second with fsync batch (those lines lost, as
// readings are).
func saveState(path string, st State) error {
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o640); err != nil {
		return fmt.Errorf("write log state: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write log state: %w", err)
	}
	return nil
}
