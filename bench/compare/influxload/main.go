// Command influxload is the InfluxDB ceiling of `make bench-compare`: it
// writes the same points the pipelines store (measurement, tag device, field
// value, nanosecond time) straight to InfluxDB as gzip line protocol in
// fixed-size batches, the way mqflux and Telegraf write them, and reports how
// fast InfluxDB took them and what it cost InfluxDB in CPU.
//
// Bodies are built and compressed before the clock starts, so the numbers
// are InfluxDB's alone.
package main

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

func main() {
	if err := run(os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "influxload:", err)
		os.Exit(1)
	}
}

type result struct {
	Points        int     `json:"points"`
	Batch         int     `json:"batch"`
	Concurrency   int     `json:"concurrency"`
	Seconds       float64 `json:"seconds"`
	Rate          float64 `json:"stored_rate"`
	InfluxCPU     float64 `json:"influxd_cpu_seconds"`
	InfluxCPUPerM float64 `json:"influxd_cpu_seconds_per_million"`
}

func run(args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("influxload", flag.ContinueOnError)
	influx := fs.String("influx", "http://127.0.0.1:8086", "InfluxDB URL")
	bucket := fs.String("bucket", "telemetry/autogen", "database/retention-policy")
	devices := fs.Int("devices", 100, "series (tag device)")
	points := fs.Int("points", 200000, "points in all")
	batch := fs.Int("batch", 5000, "lines per request")
	conc := fs.Int("concurrency", 2, "requests in flight")
	pid := fs.Int("pid", 0, "influxd's pid, for its CPU seconds")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *devices < 1 || *points < 1 || *batch < 1 || *conc < 1 {
		return errors.New("-devices, -points, -batch and -concurrency must be positive")
	}
	bodies, err := buildBodies(*devices, *points, *batch)
	if err != nil {
		return err
	}
	db, rp, _ := strings.Cut(*bucket, "/")
	q := url.Values{"db": {db}, "precision": {"ns"}}
	if rp != "" {
		q.Set("rp", rp)
	}
	writeURL := strings.TrimRight(*influx, "/") + "/write?" + q.Encode()

	cpu0, err := cpuSeconds(*pid)
	if err != nil {
		return err
	}
	start := time.Now()
	work := make(chan []byte)
	errs := make(chan error, *conc)
	var wg sync.WaitGroup
	client := &http.Client{Timeout: time.Minute}
	ctx := context.Background()
	for range *conc {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for body := range work {
				if err := post(ctx, client, writeURL, body); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	for _, b := range bodies {
		work <- b
	}
	close(work)
	wg.Wait()
	elapsed := time.Since(start)
	select {
	case err := <-errs:
		return err
	default:
	}
	cpu1, err := cpuSeconds(*pid)
	if err != nil {
		return err
	}
	r := result{Points: *points, Batch: *batch, Concurrency: *conc, Seconds: elapsed.Seconds(),
		Rate: float64(*points) / elapsed.Seconds(), InfluxCPU: cpu1 - cpu0}
	r.InfluxCPUPerM = r.InfluxCPU / float64(*points) * 1e6
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// buildBodies makes the gzip bodies: points spread round-robin over devices,
// each device's times strictly increasing, as the load tool publishes them.
func buildBodies(devices, points, batch int) ([][]byte, error) {
	meas := fmt.Sprintf("influxload_%d", time.Now().UnixNano())
	t0 := time.Now().UnixNano()
	var bodies [][]byte
	var raw bytes.Buffer
	line := make([]byte, 0, 128)
	flush := func() error {
		var z bytes.Buffer
		zw := gzip.NewWriter(&z)
		if _, err := zw.Write(raw.Bytes()); err != nil {
			return fmt.Errorf("gzip a batch: %w", err)
		}
		if err := zw.Close(); err != nil {
			return fmt.Errorf("gzip a batch: %w", err)
		}
		bodies = append(bodies, z.Bytes())
		raw.Reset()
		return nil
	}
	for i := range points {
		line = append(line[:0], meas...)
		line = append(line, ",device=bench-"...)
		line = strconv.AppendInt(line, int64(i%devices), 10)
		line = append(line, " value="...)
		line = strconv.AppendInt(line, int64(i), 10)
		line = append(line, ' ')
		line = strconv.AppendInt(line, t0+int64(i), 10)
		line = append(line, '\n')
		raw.Write(line)
		if (i+1)%batch == 0 {
			if err := flush(); err != nil {
				return nil, err
			}
		}
	}
	if raw.Len() > 0 {
		if err := flush(); err != nil {
			return nil, err
		}
	}
	return bodies, nil
}

func post(ctx context.Context, c *http.Client, u string, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("write request: %w", err)
	}
	req.Header.Set("Content-Encoding", "gzip")
	req.Header.Set("Content-Type", "text/plain; charset=utf-8")
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("write to %s: %w", u, err)
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("write to %s: %s: %s", u, resp.Status, msg)
	}
	return nil
}

// cpuSeconds is utime+stime of pid from /proc/PID/stat; 0 without a pid.
func cpuSeconds(pid int) (float64, error) {
	if pid == 0 {
		return 0, nil
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("influxd cpu: %w", err)
	}
	// Fields after the command name, which is in parentheses and may hold spaces.
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("influxd cpu: short /proc/%d/stat", pid)
	}
	ut, err1 := strconv.ParseFloat(f[11], 64)
	st, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("influxd cpu: /proc/%d/stat: %w", pid, errors.Join(err1, err2))
	}
	return (ut + st) / 100, nil // USER_HZ is 100 on Linux
}
