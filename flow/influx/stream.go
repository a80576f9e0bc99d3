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
	db, rp := e.DBRP()
	params := url.Values{"db": {db}, "q": {influxql}, "epoch": {"ns"},
		"chunked": {"true"}, "chunk_size": {strconv.Itoa(chunkSize)}}
	if rp != "" {
		params.Set("rp", rp)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, e.at("/query", params), nil)
	if err != nil {
		return fmt.Errorf("query request: %w", err)
	}
	e.Authorize(req)
	c := e.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("query %s: %w", e.URL, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		return fmt.Errorf("query %s: %s: %.300s", e.URL, resp.Status, body)
	}
	dec := json.NewDecoder(bufio.NewReaderSize(resp.Body, 64<<10))
	for n := 0; ; n++ {
		var chunk struct {
			Error   string `json:"error"`
			Results []struct {
				Error  string   `json:"error"`
				Series []Series `json:"series"`
			} `json:"results"`
		}
		err := dec.Decode(&chunk)
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("query %s: decode chunk %d: %w", e.URL, n, err)
		}
		if chunk.Error != "" {
			return &QueryError{chunk.Error}
		}
		for _, r := range chunk.Results {
			if r.Error != "" {
				return &QueryError{r.Error}
			}
			for _, s := range r.Series {
				if err := each(s); err != nil {
					return err
				}
			}
		}
	}
}
