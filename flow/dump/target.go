package dump

import (
	"context"
	"fmt"
	"net/url"
	"path"
	"strings"

	"gocloud.dev/blob"
	// The stores a dump may go to, each registering its URL scheme.
	_ "gocloud.dev/blob/azureblob"
	_ "gocloud.dev/blob/fileblob"
	_ "gocloud.dev/blob/gcsblob"
	_ "gocloud.dev/blob/s3blob"
)

// Target is where the days go: a bucket URL as gocloud.dev/blob opens it
// and the key prefix every day's folder sits under.
type Target struct {
	// Bucket is the URL blob.OpenBucket takes.
	Bucket string
	// Prefix is "" or ends with "/": the path of the URL after the bucket
	// (s3://bucket/dumps/ puts days under dumps/).
	Prefix string
	// Shown is the URL as given, for logs.
	Shown string
}

// ParseTarget reads a dump URL: file:///dir (the directory is created, no
// sidecar metadata files, temporary files beside the final ones so that
// the closing rename is atomic), s3://bucket/prefix?region=&endpoint=&use_path_style=true,
// gs://bucket/prefix, azblob://container/prefix.
func ParseTarget(raw string) (Target, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return Target{}, fmt.Errorf("%q is not a URL: %w", raw, err)
	}
	q := u.Query()
	switch u.Scheme {
	case "file":
		if u.Path == "" || u.Path == "/" {
			return Target{}, fmt.Errorf("%q: want file:///path/to/directory", raw)
		}
		for k, v := range map[string]string{"create_dir": "true", "metadata": "skip", "no_tmp_dir": "true"} {
			if !q.Has(k) {
				q.Set(k, v)
			}
		}
		u.RawQuery = q.Encode()
		return Target{Bucket: u.String(), Shown: raw}, nil
	case "s3", "gs", "azblob":
		if u.Host == "" {
			return Target{}, fmt.Errorf("%q: no bucket; want %s://bucket/prefix", raw, u.Scheme)
		}
		prefix := strings.Trim(path.Clean("/"+u.Path), "/")
		if prefix != "" {
			prefix += "/"
		}
		u.Path, u.RawPath = "", ""
		return Target{Bucket: u.String(), Prefix: prefix, Shown: raw}, nil
	}
	return Target{}, fmt.Errorf("%q: the scheme must be file, s3, gs or azblob", raw)
}

// Open opens the bucket.
func (t Target) Open(ctx context.Context) (*blob.Bucket, error) {
	b, err := blob.OpenBucket(ctx, t.Bucket)
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", t.Shown, err)
	}
	return b, nil
}

// dayDir is the folder of one day's files.
func (t Target) dayDir(date string) string { return t.Prefix + date + "/" }
