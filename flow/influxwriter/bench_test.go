package influxwriter

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/mqflux/mqflux/internal/testenv"
)

// BenchmarkWrite measures points/s into a real InfluxDB 1.8 for batches of
// 5000 one-line records, the size the spool hands over, with one writer and
// with four concurrent ones.
func BenchmarkWrite(b *testing.B) {
	in := testenv.StartInflux(b, testenv.WithoutFlux())
	const batchSize = 5000
	for _, gzip := range []bool{true, false} {
		for _, par := range []int{1, 4} {
			b.Run(fmt.Sprintf("gzip=%t/writers=%d", gzip, par), func(b *testing.B) {
				cfg := DefaultConfig(in.URL, in.Bucket())
				cfg.Gzip = gzip
				w, err := New(cfg, nil)
				if err != nil {
					b.Fatal(err)
				}
				defer w.Close()
				// Distinct timestamps per batch, so every point is new.
				batches := make([][][]byte, par*4)
				for i := range batches {
					batches[i] = benchRecords(batchSize, time.Now().UnixNano()+int64(i)*1e9)
				}
				b.ReportAllocs()
				b.ResetTimer()
				var wg sync.WaitGroup
				for g := range par {
					wg.Go(func() {
						for i := g; i < b.N; i += par {
							rejected, err := w.Write(b.Context(), batches[i%len(batches)])
							if err != nil || len(rejected) != 0 {
								b.Errorf("Write = %v, %v", rejected, err)
								return
							}
						}
					})
				}
				wg.Wait()
				b.ReportMetric(float64(b.N*batchSize)/b.Elapsed().Seconds(), "points/s")
			})
		}
	}
}

func benchRecords(n int, base int64) [][]byte {
	recs := make([][]byte, n)
	for i := range recs {
		recs[i] = fmt.Appendf(nil, "env,device=pi-%04d temperature=%d.%02d,humidity=40.12,rssi=-61i %d\n",
			i%500, 15+i%10, i%100, base+int64(i))
	}
	return recs
}

// BenchmarkWriteClientSide isolates the writer's own cost (building the
// body, gzip, HTTP) against a local server that reads and discards the body.
func BenchmarkWriteClientSide(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		rw.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	const batchSize = 5000
	recs := benchRecords(batchSize, time.Now().UnixNano())
	for _, api := range APIs() {
		for _, gzip := range []bool{true, false} {
			b.Run(fmt.Sprintf("api=%s/gzip=%t", api, gzip), func(b *testing.B) {
				cfg := DefaultConfig(srv.URL, bucketFor(api))
				cfg.Gzip, cfg.API = gzip, api
				w, err := New(cfg, nil)
				if err != nil {
					b.Fatal(err)
				}
				defer w.Close()
				b.ReportAllocs()
				for b.Loop() {
					if _, err := w.Write(b.Context(), recs); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.N*batchSize)/b.Elapsed().Seconds(), "points/s")
			})
		}
	}
}
