package alert

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/mqflux/mqflux/alert/notify"
	"github.com/mqflux/mqflux/internal/segment"
)

// stateFile is the registry, the rule states and the outbox, in one file
// under the alerts directory, replaced whole on each save. One file keeps
// a transition and the notifications it causes together: after a crash
// either both are on disk or neither is, so a firing is never sent without
// being remembered (and sent again after a restart), nor remembered
// without being sent.
const stateFile = "state.json"

// stateVersion changes when the file's shape does.
const stateVersion = 1

// saved is the state file's content.
type saved struct {
	Version int                   `json:"version"`
	Saved   time.Time             `json:"saved"`
	Devices []*Device             `json:"devices"`
	Outbox  []*entry              `json:"outbox"`
	Recent  []notify.Notification `json:"recent"`
	Seq     uint64                `json:"seq"`
}

// entry is one notification waiting for one notifier.
type entry struct {
	Seq      uint64              `json:"seq"`
	Notifier string              `json:"notifier"`
	N        notify.Notification `json:"notification"`
	Attempts int                 `json:"attempts"`
}

// Store keeps the state between runs: a file under data_dir/alerts by
// default, or a shared store when several instances take turns at
// alerting (one at a time: see package natsinput's fleet).
type Store interface {
	// Load returns what the last Save wrote, nil when nothing was saved.
	Load() ([]byte, error)
	// Save replaces the state whole: after a crash the store holds either
	// the old state or the new one.
	Save(b []byte) error
	// Where names the store in messages.
	Where() string
}

// fileStore is the state file of a directory.
type fileStore struct{ dir string }

func (f fileStore) Where() string { return filepath.Join(f.dir, stateFile) }

// Load reads the state file; a missing file is no state.
func (f fileStore) Load() ([]byte, error) {
	b, err := os.ReadFile(filepath.Join(f.dir, stateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read alert state: %w", err)
	}
	return b, nil
}

func (f fileStore) Save(b []byte) error { return write(f.dir, b) }

// load reads the state file of dir; a missing file is an empty state.
func load(dir string) (*saved, error) {
	b, err := fileStore{dir}.Load()
	if err != nil {
		return nil, err
	}
	return decodeState(b, filepath.Join(dir, stateFile))
}

// decodeState reads a saved state; nothing is an empty state.
func decodeState(b []byte, where string) (*saved, error) {
	if len(b) == 0 {
		return &saved{Version: stateVersion}, nil
	}
	var s saved
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("read alert state %s: %w", where, err)
	}
	if s.Version != stateVersion {
		return nil, fmt.Errorf("read alert state %s: version %d, want %d", where, s.Version, stateVersion)
	}
	return &s, nil
}

// write replaces the state file: a temporary file, synced, renamed over
// the old one, and the directory synced, so that a crash leaves either
// the old state or the new one.
func write(dir string, b []byte) error {
	tmp := filepath.Join(dir, stateFile+".tmp")
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("save alert state: %w", err)
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, filepath.Join(dir, stateFile))
	}
	if err == nil {
		err = segment.SyncDir(dir)
	}
	if err != nil {
		// A partial temporary file would hold on to room a full disk needs.
		os.Remove(tmp)
		return fmt.Errorf("save alert state %s: %w", filepath.Join(dir, stateFile), err)
	}
	return nil
}
