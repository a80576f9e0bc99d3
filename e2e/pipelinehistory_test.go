package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mqflux/mqflux/internal/testenv"
)

// pipelineHistory is the answer of GET /v1/pipeline/history.
type pipelineHistory struct {
	IntervalSeconds float64   `json:"interval_seconds"`
	SpanSeconds     float64   `json:"span_seconds"`
	Time            []float64 `json:"time"`
	Received        []float64 `json:"received"`
	SpoolRecords    []float64 `json:"spool_records"`
	Outputs         []struct {
		Name    string    `json:"name"`
		Written []float64 `json:"written"`
	} `json:"outputs"`
}

func getPipelineHistory(t *testing.T, srv *testenv.Server) pipelineHistory {
	t.Helper()
	code, body := srv.HTTPGet(t, "/v1/pipeline/history")
	if code != http.StatusOK {
		t.Fatalf("GET /v1/pipeline/history: %d %s", code, body)
	}
	var h pipelineHistory
	if err := json.Unmarshal([]byte(body), &h); err != nil {
		t.Fatalf("GET /v1/pipeline/history: %v\n%s", err, body)
	}
	if len(h.Received) != len(h.Time) || len(h.SpoolRecords) != len(h.Time) {
		t.Fatalf("columns of other lengths than time's %d: %s", len(h.Time), body)
	}
	for _, o := range h.Outputs {
		if len(o.Written) != len(h.Time) {
			t.Fatalf("output %s: %d written samples for %d times", o.Name, len(o.Written), len(h.Time))
		}
	}
	return h
}

func publishN(t *testing.T, srv *testenv.Server, device string, n int) {
	t.Helper()
	for i := range n {
		if out, err := testenv.Pub(t, srv.MQTT, testenv.DemoGateway, "devices/"+device+"/sensors/climate",
			fmt.Sprintf(`{"temp": %d}`, 20+i), "-q", "1"); err != nil {
			t.Fatalf("mosquitto_pub: %v\n%s", err, out)
		}
	}
}

// waitTemps waits until InfluxDB holds n temperatures of publishN.
func waitTemps(t *testing.T, in *testenv.Influx, n int) {
	t.Helper()
	waitFor(t, 2*time.Minute, fmt.Sprintf("%d readings in InfluxDB", n), func() bool { return in.Count(t, "climate", "temp") >= n })
}

// TestPipelineHistory publishes readings to a real server and InfluxDB and
// finds them in the samples of /v1/pipeline/history: readings in and
// written by the output "influx" per second add up to what was published,
// and while InfluxDB is down the spool's depth rises, then falls back to
// zero once it is up again.
func TestPipelineHistory(t *testing.T) {
	in := testenv.StartInflux(t)
	srv := testenv.StartServer(t, testenv.ServerOptions{Influx: in})

	h := getPipelineHistory(t, srv)
	if h.IntervalSeconds != 1 || h.SpanSeconds != 900 {
		t.Errorf("interval %v s, span %v s; want 1 and 900", h.IntervalSeconds, h.SpanSeconds)
	}
	if len(h.Outputs) != 1 || h.Outputs[0].Name != "influx" {
		t.Fatalf("outputs %+v, want the one named influx", h.Outputs)
	}

	// Two samples first, so that every reading falls in a sample whose
	// interval the times tell (the first one's starts when the server did).
	waitFor(t, time.Minute, "two samples", func() bool { return len(getPipelineHistory(t, srv).Time) >= 2 })
	const n = 6
	publishN(t, srv, "pi-history", n)
	waitTemps(t, in, n)
	// A rate of r for a sample dt apart counts r×dt readings: the samples
	// add up to what was published once both are sampled.
	waitFor(t, time.Minute, "the readings in the samples", func() bool {
		h = getPipelineHistory(t, srv)
		return readingsIn(h, h.Received) == n && readingsIn(h, h.Outputs[0].Written) == n
	})
	for i := 1; i < len(h.Time); i++ {
		if h.Time[i] < h.Time[i-1] {
			t.Fatalf("samples not oldest first: %v", h.Time)
		}
	}

	in.Stop(t)
	publishN(t, srv, "pi-history", 3)
	waitFor(t, time.Minute, "the spool's depth in the samples while InfluxDB is down", func() bool {
		h = getPipelineHistory(t, srv)
		return len(h.SpoolRecords) > 0 && h.SpoolRecords[len(h.SpoolRecords)-1] == 3
	})
	in.Start(t)
	waitTemps(t, in, n+3)
	waitFor(t, time.Minute, "the spool empty again in the samples", func() bool {
		h = getPipelineHistory(t, srv)
		return h.SpoolRecords[len(h.SpoolRecords)-1] == 0 && readingsIn(h, h.Outputs[0].Written) == n+3
	})
}

// readingsIn is how many readings the per-second rates of a column count:
// each rate times the seconds since the sample before (the first sample's
// interval is not in the answer: the test publishes after it).
func readingsIn(h pipelineHistory, rates []float64) int {
	var total float64
	for i := range rates {
		if i > 0 {
			total += rates[i] * (h.Time[i] - h.Time[i-1])
		}
	}
	return int(total + 0.5)
}

// TestConsolePipelineCharts: the console's pipeline view, in headless
// Chromium against a real server and InfluxDB, draws three charts of the
// last 15 minutes (readings in, written by each output, the spool's depth),
// and the first two show the readings just published; leaving the view and
// coming back draws them again.
func TestConsolePipelineCharts(t *testing.T) {
	in := testenv.StartInflux(t)
	srv := testenv.StartServer(t, testenv.ServerOptions{Influx: in})
	ctx := testenv.Browser(t)
	var errs consoleErrors
	errs.listen(t, ctx)
	base := "http://" + srv.HTTP + "/"
	run(t, ctx, "the pipeline view", chromedp.Navigate(base+"#/pipeline"),
		chromedp.WaitVisible(chromedp.CSS(`#pipeline-charts`)))

	publishN(t, srv, "pi-charts", 5)
	waitTemps(t, in, 5)
	for _, key := range []string{"received", "written", "spool"} {
		chart := `.chart[data-series="pipeline-` + key + `"]`
		run(t, ctx, "the "+key+" chart drawn with samples", chromedp.WaitVisible(chromedp.CSS(chart+" canvas")),
			until(`Number(document.querySelector('`+chart+`').dataset.points) > 0`))
	}
	for _, key := range []string{"received", "written"} {
		chart := `.chart[data-series="pipeline-` + key + `"]`
		run(t, ctx, "the "+key+" chart shows the readings", until(`Number(document.querySelector('`+chart+`').dataset.nonzero) > 0`))
	}
	// The written chart has a series per output, named in its legend.
	legend := get(t, ctx, "the written chart's legend", chromedp.Text(chromedp.CSS(`.chart[data-series="pipeline-written"] .u-legend`)))
	if !strings.Contains(legend, "influx") {
		t.Errorf("the written chart's legend says %q, want the output influx", legend)
	}
	points := get(t, ctx, "the spool chart's samples", chromedp.AttributeValue(chromedp.CSS(`.chart[data-series="pipeline-spool"]`), "data-points")).Value
	if n, _ := strconv.Atoi(points); n < 1 {
		t.Errorf("the spool chart has %q samples", points)
	}
	// Leaving the view and coming back draws the charts anew, the samples
	// kept by the server.
	run(t, ctx, "away and back", chromedp.Navigate(base+"#/"), chromedp.WaitVisible(chromedp.CSS(`#fleet`)),
		chromedp.Navigate(base+"#/pipeline"),
		until(`Number(document.querySelector('.chart[data-series="pipeline-received"]')?.dataset.nonzero) > 0`))
	if n := get(t, ctx, "charts", chromedp.Evaluate[int](`document.querySelectorAll("#pipeline-charts .chart canvas").length`)); n != 3 {
		t.Errorf("%d charts drawn after coming back, want 3", n)
	}
	if e := errs.list(); len(e) > 0 {
		t.Errorf("the browser reported errors:\n%s", strings.Join(e, "\n"))
	}
}
