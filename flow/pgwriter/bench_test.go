package pgwriter

import (
	"fmt"
	"testing"

	"github.com/mqflux/mqflux/internal/testenv"
)

// BenchmarkWrite compares the two ways of storing a batch of 5,000
// readings (100 devices, the load tool's JSON readings as the mapper
// writes them) in a table with its key: COPY into a temporary table and
// one INSERT ... SELECT ... ON CONFLICT (copy), or multi-row INSERT ...
// VALUES ... ON CONFLICT statements (values). Each iteration writes new
// rows, then the same batch again (a resend: every row a conflict).
// BENCHMARKS.md has the numbers.
//
//	go test -run '^$' -bench Write -benchtime 20x -count 3 ./flow/pgwriter
func BenchmarkWrite(b *testing.B) {
	pg := testenv.StartPostgres(b)
	for _, mode := range []struct {
		name string
		copy bool
	}{{"copy", true}, {"values", false}} {
		b.Run(mode.name, func(b *testing.B) {
			w := newWriter(b, pg)
			w.copy = mode.copy
			table := "bench_" + mode.name
			const size = 5000
			recs := make([][]byte, size)
			next := int64(0)
			fill := func() {
				for i := range recs {
					recs[i] = fmt.Appendf(recs[i][:0], "%s,device=bench-%d value=%d %d\n", table, next%100, next, t0+next*1000)
					next++
				}
			}
			fill()
			write(b, w, recs) // creates the table
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				fill()
				b.StartTimer()
				write(b, w, recs)
				write(b, w, recs)
			}
			b.ReportMetric(float64(2*size*b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
