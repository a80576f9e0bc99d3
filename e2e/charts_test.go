package e2e

import (
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mqflux/mqflux/internal/testenv"
)

// The device view's charts fit the data, in headless Chromium against a
// real server and InfluxDB: a device whose first reading is 9 minutes old
// gets an axis starting there (not an hour-wide axis with every point at
// the right edge), with its min, mean, max and last under the chart; a
// field with no reading in the range says so and when its last reading
// was; a single reading draws on an axis a minute wide in the present,
// not one spanning years; six ranges are offered; hovering shows the time
// and value.
func TestConsoleChartsFitTheData(t *testing.T) {
	in := testenv.StartInflux(t)
	srv := testenv.StartServer(t, testenv.ServerOptions{Influx: in})
	now := time.Now()
	first := now.Add(-9 * time.Minute).Truncate(time.Second)
	in.WriteLines(t, fmt.Sprintf("climate,device=pi-young temp=4 %d\nclimate,device=pi-young temp=1 %d",
		first.UnixNano(), now.Add(-6*time.Minute).UnixNano()))
	pub := func(device, payload string) {
		t.Helper()
		if out, err := testenv.Pub(t, srv.MQTT, testenv.DemoGateway, "devices/"+device+"/sensors/climate", payload, "-q", "1"); err != nil {
			t.Fatalf("mosquitto_pub: %v\n%s", err, out)
		}
	}
	pub("pi-young", `{"temp": 7}`)
	stale := now.Add(-48 * time.Hour).UTC()
	pub("pi-stale", fmt.Sprintf(`{"temp": 3.5, "time": %q}`, stale.Format(time.RFC3339)))
	pub("pi-one", `{"temp": 12.5}`)
	waitFor(t, time.Minute, "the readings in InfluxDB", func() bool { return in.Count(t, "climate", "temp") == 5 })

	ctx := testenv.Browser(t)
	var errs consoleErrors
	errs.listen(t, ctx)
	base := "http://" + srv.HTTP + "/"
	chart := `.chart[data-series="climate.temp"]`
	attr := func(name string) int64 {
		t.Helper()
		v := get(t, ctx, name, chromedp.AttributeValue(chromedp.CSS(chart), name)).Value
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			t.Fatalf("%s = %q: %v", name, v, err)
		}
		return n
	}

	run(t, ctx, "pi-young's chart",
		chromedp.Navigate(base+"#/device/pi-young"),
		chromedp.WaitVisible(chromedp.CSS(chart+" canvas")), until(`document.querySelector('`+chart+`').dataset.xMin !== undefined`))
	if n := get(t, ctx, "range options", chromedp.Evaluate[int](`document.querySelectorAll("#range option").length`)); n != 6 {
		t.Errorf("%d ranges offered, want 6 (15 min to 30 days)", n)
	}
	if p := attr("data-points"); p != 3 {
		t.Errorf("pi-young's chart has %d points, want its 3 readings", p)
	}
	xMin, xMax := attr("data-x-min"), attr("data-x-max")
	if start := time.UnixMilli(xMin); start.Before(first.Add(-time.Minute)) || start.After(first) {
		t.Errorf("the axis starts at %s, want at the first reading %s (within a minute before it), not an hour back", start, first)
	}
	if end := time.UnixMilli(xMax); end.Before(now.Add(-time.Minute)) {
		t.Errorf("the axis ends at %s, want now", end)
	}
	stats := map[string]string{}
	for _, k := range []string{"min", "mean", "max", "last"} {
		stats[k] = get(t, ctx, "stat "+k, chromedp.Text(chromedp.CSS(`[data-stats="climate.temp"] [data-stat="`+k+`"] dd`)))
	}
	if stats["min"] != "1 °C" || stats["mean"] != "4 °C" || stats["max"] != "7 °C" || stats["last"] != "7 °C" {
		t.Errorf("stats under the chart: %v, want min 1, mean 4, max 7, last 7 °C", stats)
	}
	// Hovering the chart shows a time and a value in its legend.
	run(t, ctx, "hover the chart", until(`(() => {
		const o = document.querySelector('`+chart+` .u-over'); const r = o.getBoundingClientRect();
		o.dispatchEvent(new MouseEvent("mousemove", {clientX: r.right - 3, clientY: r.top + r.height / 2, bubbles: true}));
		return true; })()`),
		until(`/\d{4}-\d\d-\d\d \d\d:\d\d:\d\d/.test(document.querySelector('`+chart+` .u-legend .u-series:first-child .u-value')?.textContent)`),
		until(`/°C/.test(document.querySelector('`+chart+` .u-legend .u-series:nth-child(2) .u-value')?.textContent)`))
	// Over 15 minutes the first reading is still inside: the axis still starts there.
	run(t, ctx, "range 15 min", chromedp.SetValue(chromedp.CSS(`#range`), "15m"),
		until(`(document.getElementById("range").dispatchEvent(new Event("change")), true)`),
		until(`document.querySelector('`+chart+`')?.closest("#charts") && document.getElementById("range").value === "15m"`))
	time.Sleep(500 * time.Millisecond) // the redraw replaces the chart
	run(t, ctx, "the redrawn chart", chromedp.WaitVisible(chromedp.CSS(chart+" canvas")))
	if start := time.UnixMilli(attr("data-x-min")); start.Before(first.Add(-time.Minute)) || start.After(first) {
		t.Errorf("over 15 min the axis starts at %s, want at the first reading %s", start, first)
	}

	// A field with no reading in the range.
	run(t, ctx, "pi-stale's chart", chromedp.Navigate(base+"#/device/pi-stale"), chromedp.WaitVisible(chromedp.CSS(chart+" .no-readings")))
	msg := get(t, ctx, "its message", chromedp.Text(chromedp.CSS(chart+" .no-readings")))
	if !strings.HasPrefix(msg, "no readings in this range") || !strings.Contains(msg, "2 d ago") || !strings.Contains(msg, "3.5 °C") {
		t.Errorf("pi-stale's chart says %q, want no readings in this range and its last reading 2 d ago, 3.5 °C", msg)
	}

	// A single reading: a point on an axis a minute or so wide, today.
	run(t, ctx, "pi-one's chart", chromedp.Navigate(base+"#/device/pi-one"),
		chromedp.WaitVisible(chromedp.CSS(chart+" canvas")), until(`document.querySelector('`+chart+`').dataset.xMin !== undefined`))
	if p := attr("data-points"); p != 1 {
		t.Errorf("pi-one's chart has %d points, want 1", p)
	}
	xMin, xMax = attr("data-x-min"), attr("data-x-max")
	if span := time.Duration(xMax-xMin) * time.Millisecond; span < 50*time.Second || span > 5*time.Minute ||
		time.UnixMilli(xMin).Year() != now.Year() || time.UnixMilli(xMax).After(now.Add(5*time.Minute)) {
		t.Errorf("a single reading's axis runs %s to %s, want about a minute up to now", time.UnixMilli(xMin), time.UnixMilli(xMax))
	}
	// The point itself is drawn: some pixel of the canvas has the series' colour.
	drawn := get(t, ctx, "the point on the canvas", chromedp.Evaluate[bool](`(() => {
		const c = document.querySelector('`+chart+` canvas'); const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
		for (let i = 0; i < d.length; i += 4) if (d[i] === 0x3b && d[i+1] === 0x82 && d[i+2] === 0xf6 && d[i+3] > 200) return true;
		return false; })()`))
	if !drawn {
		t.Errorf("pi-one's single reading is not drawn on the canvas")
	}
	if e := errs.list(); len(e) > 0 {
		t.Errorf("the browser reported errors:\n%s", strings.Join(e, "\n"))
	}
}
