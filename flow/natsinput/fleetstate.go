package natsinput

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/mqflux/mqflux/alert"
)

// stateShards is how many keys of the fleet bucket the alert state is
// cut into (alert.Store), by device: each key holds the registry, rule
// states and outbox of its devices, gzipped JSON, replaced whole. A value
// must fit in one NATS message (max_payload, 1 MiB by default): 10,000
// devices take 1.2 MB gzipped, a 32nd of it a key; 100,000 devices
// (alerts.max_devices) would be about 390 KB a key.
const stateShards = 32

// stateKeys matches the keys of the state.
const stateKeys = "alerts.*"

func stateKey(i int) string { return fmt.Sprintf("alerts.%02d", i) }

// StateBucket creates or updates the bucket the alert state is kept in:
// one revision per key, replicas as the stream's.
func StateBucket(ctx context.Context, js jetstream.JetStream, bucket string, replicas int) (jetstream.KeyValue, error) {
	kv, err := js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: bucket, Description: "mqflux fleet: the device registry and alert state", History: 1,
		Replicas: replicas, Storage: jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("fleet bucket %s: %w", bucket, err)
	}
	return kv, nil
}

// kvStore keeps the alert state in the fleet bucket for the instance
// holding the lease (an alert.Store). Every save of a key is an Update at
// the revision this instance last wrote or read, so an instance that lost
// the lease without noticing cannot overwrite what its successor saved:
// Load writes every key back at once, which moves its revision past
// anything the previous holder may still try. A key whose value did not
// change since the last save is not written again.
type kvStore struct {
	kv      jetstream.KeyValue
	max     int64 // the largest value NATS takes
	timeout time.Duration

	// fenced is set when a key's revision moved under this instance:
	// another wrote it (a successor, or something else).
	fenced atomic.Bool

	mu   sync.Mutex
	rev  [stateShards]uint64
	last [stateShards][]byte // the JSON last written
}

func (s *kvStore) Where() string { return "NATS key-value " + s.kv.Bucket() + "/" + stateKeys }
func (s *kvStore) Shards() int   { return stateShards }

// Load reads the state and claims it (writes each key back at its
// revision).
func (s *kvStore) Load() ([][]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	parts := make([][]byte, stateShards)
	var bad []error
	for i := range stateShards {
		z, rev, err := s.claim(ctx, stateKey(i))
		if err != nil {
			return nil, err
		}
		s.rev[i], s.last[i] = rev, nil
		if parts[i], err = unzip(z); err != nil {
			bad = append(bad, fmt.Errorf("%s: %w", stateKey(i), err))
		}
	}
	if len(bad) > 0 {
		return parts, fmt.Errorf("%w: %w", alert.ErrUnreadable, errors.Join(bad...))
	}
	return parts, nil
}

// claim reads one key and writes it back at its revision: its value and
// new revision; nil and 0 for a key never written.
func (s *kvStore) claim(ctx context.Context, key string) ([]byte, uint64, error) {
	for attempt := 0; ; attempt++ {
		e, err := s.kv.Get(ctx, key)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			return nil, 0, nil
		}
		if err != nil {
			return nil, 0, fmt.Errorf("load alert state %s from %s: %w", key, s.Where(), err)
		}
		rev, err := s.kv.Update(ctx, key, e.Value(), e.Revision())
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) && attempt < 3 {
			continue // the previous holder saved once more: read again
		}
		if err != nil {
			return nil, 0, fmt.Errorf("claim alert state %s in %s: %w", key, s.Where(), err)
		}
		return e.Value(), rev, nil
	}
}

// Save writes each part that changed at the revision last seen.
func (s *kvStore) Save(parts [][]byte) error {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, b := range parts {
		if s.rev[i] != 0 && bytes.Equal(b, s.last[i]) {
			continue
		}
		z, err := gzipped(b)
		if err != nil {
			return err
		}
		if s.max > 0 && int64(len(z)) > s.max {
			return fmt.Errorf("save alert state %s to %s: %d bytes gzipped, more than the %d bytes NATS takes in one message (max_payload): fewer devices (alerts.max_devices) or a larger max_payload", stateKey(i), s.Where(), len(z), s.max)
		}
		var rev uint64
		if s.rev[i] == 0 {
			rev, err = s.kv.Create(ctx, stateKey(i), z)
		} else {
			rev, err = s.kv.Update(ctx, stateKey(i), z, s.rev[i])
		}
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists) {
			s.fenced.Store(true)
			return fmt.Errorf("save alert state %s to %s: another instance saved it since: this one no longer holds the lease: %w", stateKey(i), s.Where(), err)
		}
		if err != nil {
			return fmt.Errorf("save alert state %s to %s: %w", stateKey(i), s.Where(), err)
		}
		s.rev[i], s.last[i] = rev, b
	}
	return nil
}

func gzipped(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	w, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if _, err := w.Write(b); err != nil {
		return nil, fmt.Errorf("compress alert state: %w", err)
	}
	if err := w.Close(); err != nil {
		return nil, fmt.Errorf("compress alert state: %w", err)
	}
	return buf.Bytes(), nil
}

// unzip reads a gzipped state; an empty value is no state.
func unzip(z []byte) ([]byte, error) {
	if len(z) == 0 {
		return nil, nil
	}
	r, err := gzip.NewReader(bytes.NewReader(z))
	if err != nil {
		return nil, fmt.Errorf("read alert state: %w", err)
	}
	b, err := io.ReadAll(io.LimitReader(r, 1<<30))
	if err != nil {
		return nil, fmt.Errorf("read alert state: %w", err)
	}
	return b, nil
}
