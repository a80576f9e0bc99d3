package influxwriter

import (
	"bytes"
	"compress/gzip"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestGzipTransport: what the server receives is a gzip stream of exactly
// the body sent, announced as such, for bodies of every size the writer
// sends; a body already encoded passes untouched.
func TestGzipTransport(t *testing.T) {
	var got [][]byte
	var encodings []string
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		raw, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("read body: %v", err)
		}
		encodings = append(encodings, r.Header.Get("Content-Encoding"))
		if r.ContentLength != int64(len(raw)) {
			t.Errorf("Content-Length %d, body %d bytes", r.ContentLength, len(raw))
		}
		got = append(got, raw)
		rw.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	client := &http.Client{Transport: newGzipTransport(http.DefaultTransport, gzipLevel)}
	var big strings.Builder
	for _, r := range benchRecords(5000, time.Now().UnixNano()) {
		big.Write(r)
	}
	tests := []struct {
		name, body, encoding string
	}{
		{"one line", "m,device=a v=1 1\n", ""},
		{"a batch", big.String(), ""},
		{"already encoded", "not gzip", "identity"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			if tc.encoding != "" {
				req.Header.Set("Content-Encoding", tc.encoding)
			}
			resp, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if tc.encoding != "" {
				if encodings[i] != tc.encoding || string(got[i]) != tc.body {
					t.Fatalf("encoded body changed: %q %q", encodings[i], got[i])
				}
				return
			}
			if encodings[i] != "gzip" {
				t.Fatalf("Content-Encoding %q, want gzip", encodings[i])
			}
			zr, err := gzip.NewReader(bytes.NewReader(got[i]))
			if err != nil {
				t.Fatal(err)
			}
			plain, err := io.ReadAll(zr)
			if err != nil {
				t.Fatal(err)
			}
			if string(plain) != tc.body {
				t.Fatalf("decompressed %d bytes differ from the %d sent", len(plain), len(tc.body))
			}
			t.Logf("%d bytes sent as %d", len(tc.body), len(got[i]))
		})
	}
}
