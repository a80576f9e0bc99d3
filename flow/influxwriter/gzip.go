package influxwriter

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"sync"

	"github.com/klauspost/compress/gzip"
)

// gzipTransport compresses request bodies on their way out. The client
// library's own gzip (compress/gzip at its default level, through a pipe
// and a goroutine per request) was a tenth of mqflux's CPU under load
// (BENCHMARKS.md, "Profile of the hot path"); this one uses a faster
// encoder, reuses encoders and buffers, and compresses in the caller's
// goroutine. InfluxDB reads any valid gzip stream.
type gzipTransport struct {
	next  http.RoundTripper
	level int
	pool  sync.Pool // *gzipBuf
}

// gzipBuf is one encoder and the buffer it writes to.
type gzipBuf struct {
	buf bytes.Buffer
	zw  *gzip.Writer
}

// gzipLevel: the lowest of klauspost's levels compresses line protocol to
// about a tenth of its size at a fraction of the default level's CPU.
const gzipLevel = gzip.BestSpeed

func newGzipTransport(next http.RoundTripper, level int) *gzipTransport {
	t := &gzipTransport{next: next, level: level}
	t.pool.New = func() any {
		g := &gzipBuf{}
		g.zw, _ = gzip.NewWriterLevel(&g.buf, level) // the level is one of the package's constants
		return g
	}
	return t
}

func (t *gzipTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Body == nil || req.Header.Get("Content-Encoding") != "" {
		return t.next.RoundTrip(req)
	}
	g := t.pool.Get().(*gzipBuf)
	g.buf.Reset()
	g.zw.Reset(&g.buf)
	_, err := io.Copy(g.zw, req.Body)
	req.Body.Close()
	if err == nil {
		err = g.zw.Close()
	}
	if err != nil {
		t.pool.Put(g)
		return nil, fmt.Errorf("gzip request body: %w", err)
	}
	// Every attempt is a new request with its own body (Writer.send), so
	// consuming this one is safe. The compressed bytes are copied out of
	// the pooled buffer: the transport may still read the body after
	// RoundTrip returned.
	body := bytes.Clone(g.buf.Bytes())
	if g.buf.Cap() <= 4<<20 {
		t.pool.Put(g)
	}
	out := req.Clone(req.Context())
	out.Body = io.NopCloser(bytes.NewReader(body))
	out.ContentLength = int64(len(body))
	out.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(body)), nil }
	out.Header.Set("Content-Encoding", "gzip")
	return t.next.RoundTrip(out)
}
