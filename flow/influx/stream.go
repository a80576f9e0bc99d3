package influx

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
)

// DefaultChunkSize is how many rows QueryStream asks InfluxDB for in one
// chunk of its answer.
const DefaultChunkSize = 10000

// QueryStream runs one InfluxQL statement through /query with
// chunked=true and hands each chunk's series to each, in order, while the
// answer arrives: however large the answer, only one chunk (chunkSize rows,
// DefaultChunkSize when 0) is held at a time. Times are Unix nanoseconds
// (epoch=ns), unlike Query's milliseconds, so that a dump loses no
// precision. Rows of one series may come in several chunks, each a Series
// of the same name and columns.
func (e Endpoint) QueryStream(ctx context.Context, influxql string, chunkSize int, each func(Series) error) error {
	if chunkSize <= 0 {
		chunkSize = DefaultChunkSize
	}
	resp, err := e.send(ctx, http.MethodGet, url.Values{"q": {influxql}, "epoch": {"ns"},
		"chunked": {"true"}, "chunk_size": {strconv.Itoa(chunkSize)}})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	dec := json.NewDecoder(bufio.NewReaderSize(resp.Body, 64<<10))
	for n := 0; ; n++ {
		var chunk answer
		err := dec.Decode(&chunk)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("query %s: decode chunk %d: %w", e.URL, n, err)
		}
		if err := chunk.err(); err != nil {
			return err
		}
		for _, r := range chunk.Results {
			for _, s := range r.Series {
				if err := each(s); err != nil {
					return err
				}
			}
		}
	}
}
