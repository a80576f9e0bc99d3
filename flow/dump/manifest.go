package dump

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"io"
	"strings"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"
)

// ManifestName is the file that lists one day's files, written after them.
const ManifestName = "manifest.json"

// Manifest describes one dumped day: what a reader checks the files
// against.
type Manifest struct {
	Date     string    `json:"date"`
	Timezone string    `json:"timezone"`
	Start    time.Time `json:"start"` // the day's first instant, inclusive
	End      time.Time `json:"end"`   // the next day's first instant, exclusive
	Created  time.Time `json:"created"`
	// MQFluxVersion is the version of the mqflux that wrote the day.
	MQFluxVersion string `json:"mqflux_version"`
	Files         []File `json:"files"`
}

// File is one measurement's Parquet file of a day.
type File struct {
	Measurement string `json:"measurement"`
	// Key is the file's key relative to the dump's prefix:
	// 2026-12-05/temperature.parquet.
	Key     string   `json:"key"`
	Rows    int64    `json:"rows"`
	Bytes   int64    `json:"bytes"`
	SHA256  string   `json:"sha256"`
	Columns []Column `json:"columns"`
}

// Column is one column of a file.
type Column struct {
	Name string `json:"name"`
	// Role is time, tag or field.
	Role string `json:"role"`
	// Type is the Parquet type readers see: timestamp_ns, string, double,
	// int64, uint64 or boolean.
	Type string `json:"type"`
}

// Rows is the day's rows over all files.
func (m Manifest) Rows() (n int64) {
	for _, f := range m.Files {
		n += f.Rows
	}
	return n
}

// Bytes is the size of the day's files.
func (m Manifest) Bytes() (n int64) {
	for _, f := range m.Files {
		n += f.Bytes
	}
	return n
}

// putJSON writes v as indented JSON at key, atomically (one PUT).
func putJSON(ctx context.Context, b *blob.Bucket, key string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", key, err)
	}
	return putBytes(ctx, b, key, "application/json", append(data, '\n'))
}

func putBytes(ctx context.Context, b *blob.Bucket, key, contentType string, data []byte) error {
	if err := b.WriteAll(ctx, key, data, &blob.WriterOptions{ContentType: contentType}); err != nil {
		return fmt.Errorf("write %s: %w", key, err)
	}
	return nil
}

// readManifest reads the manifest at key; ok is false when there is none.
func readManifest(ctx context.Context, b *blob.Bucket, key string) (m Manifest, ok bool, err error) {
	data, err := b.ReadAll(ctx, key)
	if gcerrors.Code(err) == gcerrors.NotFound {
		return m, false, nil
	}
	if err != nil {
		return m, false, fmt.Errorf("read %s: %w", key, err)
	}
	if err := json.Unmarshal(data, &m); err != nil {
		return m, false, fmt.Errorf("decode %s: %w", key, err)
	}
	return m, true, nil
}

// upload is one blob being written: what it was sent through counted and
// hashed. Nothing is visible at the key before Close succeeds (a single
// PUT or a completed multipart upload on S3, a rename on file://, a
// finalized upload on GCS, a committed block list on Azure); abort
// cancels the upload instead.
type upload struct {
	w      *blob.Writer
	cancel context.CancelFunc
	sum    hash.Hash
	n      int64
}

func newUpload(ctx context.Context, b *blob.Bucket, key, contentType string) (*upload, error) {
	ctx, cancel := context.WithCancel(ctx)
	w, err := b.NewWriter(ctx, key, &blob.WriterOptions{ContentType: contentType})
	if err != nil {
		cancel()
		return nil, fmt.Errorf("write %s: %w", key, err)
	}
	return &upload{w: w, cancel: cancel, sum: sha256.New()}, nil
}

func (u *upload) Write(p []byte) (int, error) {
	n, err := u.w.Write(p)
	u.sum.Write(p[:n])
	u.n += int64(n)
	return n, err
}

// Close completes the upload.
func (u *upload) Close() error {
	defer u.cancel()
	return u.w.Close()
}

// abort drops the upload: the key keeps what it held before.
func (u *upload) abort() {
	u.cancel()
	_ = u.w.Close() // the cancelled context makes Close discard the upload
}

func (u *upload) sha256() string { return hex.EncodeToString(u.sum.Sum(nil)) }

// deleteStale removes what the folder dir holds beyond keep: files of an
// earlier run of the day that this run did not write.
func deleteStale(ctx context.Context, b *blob.Bucket, dir string, keep map[string]bool) ([]string, error) {
	var gone []string
	it := b.List(&blob.ListOptions{Prefix: dir})
	for {
		obj, err := it.Next(ctx)
		if errors.Is(err, io.EOF) {
			return gone, nil
		}
		if err != nil {
			return gone, fmt.Errorf("list %s: %w", dir, err)
		}
		if obj.IsDir || keep[obj.Key] || strings.HasSuffix(obj.Key, ".tmp") {
			continue
		}
		if err := b.Delete(ctx, obj.Key); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
			return gone, fmt.Errorf("delete %s: %w", obj.Key, err)
		}
		gone = append(gone, obj.Key)
	}
}
