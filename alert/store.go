package alert

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
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
//
// A store may keep the state in several parts (Shards), each holding the
// devices whose name hashes to it (shardOf) with their outbox entries, so
// that a device's transition and the notifications it causes are always
// in one part together: a crash between the writes of two parts leaves
// each device's state and notifications consistent. The first part also
// holds the recent transitions; each holds the sequence number.
type Store interface {
	// Shards is how many parts the state is saved in: 1 for a file.
	Shards() int
	// Load returns what the last Save wrote, one value per part, nil or
	// empty for a part never written.
	Load() ([][]byte, error)
	// Save replaces the state whole, len(parts) == Shards(): after a crash
	// each part is either the old or the new one.
	Save(parts [][]byte) error
	// Where names the store in messages.
	Where() string
}

// ErrUnreadable is what a Store's Load wraps when what it holds cannot be
// read (damaged, written by something else): the Service then starts with
// an empty registry and outbox rather than not at all.
var ErrUnreadable = errors.New("alert state unreadable")

// fileStore is the state file of a directory.
type fileStore struct{ dir string }

func (f fileStore) Where() string { return filepath.Join(f.dir, stateFile) }
func (f fileStore) Shards() int   { return 1 }

// Load reads the state file; a missing file is no state.
func (f fileStore) Load() ([][]byte, error) {
	b, err := os.ReadFile(filepath.Join(f.dir, stateFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read alert state: %w", err)
	}
	return [][]byte{b}, nil
}

func (f fileStore) Save(parts [][]byte) error { return write(f.dir, parts[0]) }

// shardOf is the part of a state of n parts that holds device.
func shardOf(device string, n int) int {
	if n <= 1 {
		return 0
	}
	h := fnv.New32a()
	h.Write([]byte(device))
	return int(h.Sum32() % uint32(n))
}

// split cuts st into n parts by device (see Store).
func split(st *saved, n int) []*saved {
	parts := make([]*saved, n)
	for i := range parts {
		parts[i] = &saved{Version: st.Version, Saved: st.Saved, Seq: st.Seq, Devices: []*Device{}, Outbox: []*entry{}}
	}
	parts[0].Recent = st.Recent
	for _, d := range st.Devices {
		p := parts[shardOf(d.Name, n)]
		p.Devices = append(p.Devices, d)
	}
	for _, e := range st.Outbox {
		p := parts[shardOf(e.N.Device, n)]
		p.Outbox = append(p.Outbox, e)
	}
	return parts
}

// decodeParts reads and joins the parts of a saved state; a part that
// cannot be read is reported in err, the others are returned joined
// (its devices are missing).
func decodeParts(parts [][]byte, where string) (*saved, error) {
	st := &saved{Version: stateVersion}
	var errs []error
	for i, b := range parts {
		p, err := decodeState(b, fmt.Sprintf("%s part %d", where, i))
		if err != nil {
			errs = append(errs, err)
			continue
		}
		st.Devices = append(st.Devices, p.Devices...)
		st.Outbox = append(st.Outbox, p.Outbox...)
		st.Seq = max(st.Seq, p.Seq)
		if p.Saved.After(st.Saved) {
			st.Saved = p.Saved
		}
		if len(p.Recent) > 0 {
			st.Recent = p.Recent
		}
	}
	// Each notifier's queue is in the order the transitions came.
	slices.SortStableFunc(st.Outbox, func(a, b *entry) int { return cmp.Compare(a.Seq, b.Seq) })
	return st, errors.Join(errs...)
}

// load reads the state file of dir; a missing file is an empty state.
func load(dir string) (*saved, error) {
	parts, err := fileStore{dir}.Load()
	if err != nil {
		return nil, err
	}
	return decodeParts(parts, filepath.Join(dir, stateFile))
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
