package natsinput

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// stateKey is the key of the fleet bucket that holds the alert state:
// the registry, the rule states, the outbox and the recent transitions,
// gzipped JSON, replaced whole.
const stateKey = "alerts"

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
// holding the lease (an alert.Store). Every save is an Update at the
// revision this instance last wrote or read, so an instance that lost
// the lease without noticing cannot overwrite what its successor
// saved: Load writes the state back at once, which moves the revision
// past anything the previous holder may still try.
type kvStore struct {
	kv      jetstream.KeyValue
	max     int64 // the largest value NATS takes
	timeout time.Duration

	mu    sync.Mutex
	rev   uint64
	bytes int // of the last value written
}

func (s *kvStore) Where() string { return "NATS key-value " + s.kv.Bucket() + "/" + stateKey }

// Load reads the state and claims it (writes it back at its revision).
func (s *kvStore) Load() ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	for attempt := 0; ; attempt++ {
		e, err := s.kv.Get(ctx, stateKey)
		if errors.Is(err, jetstream.ErrKeyNotFound) {
			s.setRev(0)
			return nil, nil
		}
		if err != nil {
			return nil, fmt.Errorf("load alert state from %s: %w", s.Where(), err)
		}
		rev, err := s.kv.Update(ctx, stateKey, e.Value(), e.Revision())
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) && attempt < 3 {
			continue // the previous holder saved once more: read again
		}
		if err != nil {
			return nil, fmt.Errorf("claim alert state in %s: %w", s.Where(), err)
		}
		s.setRev(rev)
		return unzip(e.Value())
	}
}

func (s *kvStore) setRev(rev uint64) {
	s.mu.Lock()
	s.rev = rev
	s.mu.Unlock()
}

// Save replaces the state at the revision last seen.
func (s *kvStore) Save(b []byte) error {
	z, err := gzipped(b)
	if err != nil {
		return err
	}
	if s.max > 0 && int64(len(z)) > s.max {
		return fmt.Errorf("save alert state to %s: %d bytes gzipped, more than the %d bytes NATS takes in one message (max_payload): fewer devices (alerts.max_devices) or a larger max_payload", s.Where(), len(z), s.max)
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
	defer cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	var rev uint64
	if s.rev == 0 {
		rev, err = s.kv.Create(ctx, stateKey, z)
	} else {
		rev, err = s.kv.Update(ctx, stateKey, z, s.rev)
	}
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("save alert state to %s: another instance saved it since: this one no longer holds the lease: %w", s.Where(), err)
	}
	if err != nil {
		return fmt.Errorf("save alert state to %s: %w", s.Where(), err)
	}
	s.rev, s.bytes = rev, len(z)
	return nil
}

// size is the last saved value's size.
func (s *kvStore) size() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bytes
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
