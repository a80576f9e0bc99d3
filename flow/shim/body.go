package shim

import (
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
)

// body is a request body opened for reading: decompressed if the client sent
// gzip, and limited before and after decompression so that neither a huge
// upload nor a small gzip bomb can exceed the configured size.
type body struct {
	io.Reader
	raw   *errorMemory
	gzip  bool
	limit int64
}

// openBody prepares r.Body; limit 0 means no limit.
func openBody(w http.ResponseWriter, r *http.Request, limit int64) (*body, *problem) {
	var rc io.ReadCloser = r.Body
	if limit > 0 {
		// MaxBytesReader also tells the server to close the connection
		// rather than drain an oversized upload.
		rc = http.MaxBytesReader(w, rc, limit)
	}
	b := &body{raw: &errorMemory{r: rc}, limit: limit}
	b.Reader = b.raw
	switch enc := strings.ToLower(strings.TrimSpace(r.Header.Get("Content-Encoding"))); enc {
	case "", "identity":
	case "gzip", "x-gzip":
		b.gzip = true
		gz, err := gzip.NewReader(b.raw)
		if err != nil {
			return nil, b.readProblem(err)
		}
		b.Reader = gz
	default:
		return nil, &problem{status: http.StatusUnsupportedMediaType, reason: "content_encoding",
			detail: fmt.Sprintf("Content-Encoding %q is not supported: send the body plain or gzip", truncate(enc, 40))}
	}
	if limit > 0 {
		b.Reader = &limitReader{r: b.Reader, left: limit, limit: limit}
	}
	return b, nil
}

// readProblem explains why reading the body failed.
func (b *body) readProblem(err error) *problem {
	var tooBig *http.MaxBytesError
	if errors.As(err, &tooBig) {
		return &problem{status: http.StatusRequestEntityTooLarge, reason: "body_too_large",
			detail: fmt.Sprintf("the body is larger than the limit of %d bytes (after decompression too)", tooBig.Limit)}
	}
	if raw := b.raw.err; raw != nil && raw != io.EOF {
		return &problem{status: http.StatusBadRequest, reason: "read_error",
			detail: fmt.Sprintf("reading the body failed: %v", raw)}
	}
	if b.gzip {
		return &problem{status: http.StatusBadRequest, reason: "bad_gzip", badBody: true,
			detail: fmt.Sprintf("the body is not valid gzip: %v", err)}
	}
	return &problem{status: http.StatusBadRequest, reason: "read_error",
		detail: fmt.Sprintf("reading the body failed: %v", err)}
}

// errorMemory remembers the error of the reader under a decompressor, which
// tells a broken upload apart from broken gzip.
type errorMemory struct {
	r   io.Reader
	err error
}

func (m *errorMemory) Read(p []byte) (int, error) {
	n, err := m.r.Read(p)
	if err != nil {
		m.err = err
	}
	return n, err
}

// limitReader fails with *http.MaxBytesError once more than limit bytes came
// through, where io.LimitReader would end the body quietly.
type limitReader struct {
	r     io.Reader
	left  int64
	limit int64
}

func (l *limitReader) Read(p []byte) (int, error) {
	if l.left < 0 {
		return 0, &http.MaxBytesError{Limit: l.limit}
	}
	if int64(len(p)) > l.left+1 {
		p = p[:l.left+1]
	}
	n, err := l.r.Read(p)
	l.left -= int64(n)
	if l.left < 0 {
		return n + int(l.left), &http.MaxBytesError{Limit: l.limit}
	}
	return n, err
}
