package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/mqflux/mqflux/internal/testenv"
)

// consoleErrors collects what the page reports as errors: console.error
// calls and uncaught exceptions.
type consoleErrors struct {
	mu   sync.Mutex
	errs []string
}

func (c *consoleErrors) listen(t *testing.T, ctx context.Context) {
	err := chromedp.Listen(ctx, func(ev any) {
		c.mu.Lock()
		defer c.mu.Unlock()
		switch ev := ev.(type) {
		case *runtime.EventConsoleAPICalled:
			if ev.Type == runtime.ConsoleAPICalledTypeError {
				var parts []string
				for _, a := range ev.Args {
					parts = append(parts, string(a.Value)+a.Description)
				}
				c.errs = append(c.errs, "console.error: "+strings.Join(parts, " "))
			}
		case *runtime.EventExceptionThrown:
			c.errs = append(c.errs, "exception: "+ev.ExceptionDetails.Text+" "+exceptionText(ev.ExceptionDetails))
		}
	})
	if err != nil {
		t.Fatalf("listen to the page: %v", err)
	}
}

func (c *consoleErrors) list() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.errs...)
}

// screenshot saves a PNG of the page; with MQFLUX_SCREENSHOTS=docs it
// refreshes the ones the README shows.
func screenshot(t *testing.T, ctx context.Context, name string) {
	t.Helper()
	png := get(t, ctx, "screenshot "+name, chromedp.FullScreenshot(100))
	dir := t.TempDir()
	if d := os.Getenv("MQFLUX_SCREENSHOTS"); d != "" {
		dir = filepath.Join(testenv.ModuleRoot(t), d)
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// run runs browser steps, each DOM wait bounded only so that a broken
// console fails the test instead of hanging it.
func run(t *testing.T, ctx context.Context, what string, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func get[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// until waits for a JavaScript expression to hold.
func until(expr string) chromedp.Action[chromedp.Void] {
	return func(ctx context.Context, tg *chromedp.Target) (chromedp.Void, error) {
		_, err := chromedp.Poll[bool](expr)(ctx, tg)
		return chromedp.Void{}, err
	}
}

// TestConsole drives the console in a real headless Chromium against a real
// server and InfluxDB: it loads without errors, a reading published with
// mosquitto_pub shows up without a reload, the device's chart holds the
// points InfluxDB stores, a device that stops publishing changes state on
// screen, and the pipeline view shows a dead letter and the output.
func TestConsole(t *testing.T) {
	in := testenv.StartInflux(t)
	srv := testenv.StartServer(t, testenv.ServerOptions{Influx: in, Env: []string{
		"MQFLUX_ALERTS_SILENT_AFTER=4s", "MQFLUX_ALERTS_CHECK_INTERVAL=200ms",
	}})
	// The last hour of pi-kitchen's temperature, a point a minute.
	now := time.Now().Truncate(time.Minute)
	var lines []string
	for i := 1; i <= 30; i++ {
		lines = append(lines, fmt.Sprintf("climate,device=pi-kitchen temp=%d %d", 18+i%5, now.Add(-time.Duration(i)*time.Minute).UnixNano()))
	}
	in.WriteLines(t, strings.Join(lines, "\n"))

	ctx := testenv.Browser(t)
	var errs consoleErrors
	errs.listen(t, ctx)
	base := "http://" + srv.HTTP + "/"
	run(t, ctx, "load the fleet view", chromedp.Navigate(base), chromedp.WaitVisible(chromedp.CSS(`#fleet`)), chromedp.WaitVisible(chromedp.CSS(`#live`)))
	run(t, ctx, "stream connected", until(`document.getElementById("live").textContent === "live"`))

	pub := func(topic, payload string) {
		t.Helper()
		if out, err := testenv.Pub(t, srv.MQTT, testenv.DemoGateway, topic, payload, "-q", "1"); err != nil {
			t.Fatalf("mosquitto_pub: %v\n%s", err, out)
		}
	}
	pub("devices/pi-kitchen/sensors/climate", `{"temp": 21.5, "humidity": 48}`)
	pub("devices/pi-attic/sensors/climate", `{"temp": 12.25}`)
	run(t, ctx, "the published reading in the fleet view, without a reload",
		chromedp.WaitVisible(chromedp.CSS(`tr[data-device="pi-kitchen"] [data-field="climate.temp"]`)))
	value := get(t, ctx, "its text", chromedp.Text(chromedp.CSS(`tr[data-device="pi-kitchen"] [data-field="climate.temp"]`)))
	if !strings.Contains(value, "21.5 °C") {
		t.Errorf("fleet shows %q for pi-kitchen's temperature, want 21.5 °C", value)
	}
	waitFor(t, time.Minute, "the reading in InfluxDB", func() bool { return in.Count(t, "climate", "temp") == 32 })
	screenshot(t, ctx, "console-fleet.png")

	// The chart holds every stored point of the hour: 30 written here and
	// the published one, each in its own 4 s bucket.
	run(t, ctx, "the device's chart",
		chromedp.Navigate(base+"#/device/pi-kitchen"),
		chromedp.WaitVisible(chromedp.CSS(`.chart[data-series="climate.temp"] canvas`)))
	points := get(t, ctx, "its points", chromedp.AttributeValue(chromedp.CSS(`.chart[data-series="climate.temp"]`), "data-points")).Value
	if n, _ := strconv.Atoi(points); n != 31 {
		t.Errorf("chart of climate.temp has %s points, want the 31 InfluxDB stores", points)
	}
	screenshot(t, ctx, "console-device.png")

	// A rejected reading, then the pipeline view lists it.
	pub("devices/pi-attic/sensors/climate", `not json`)
	run(t, ctx, "the pipeline view",
		chromedp.Navigate(base+"#/pipeline"),
		until(`[...document.querySelectorAll("#dead td")].some(td => td.textContent === "not json")`))
	// The one output, from the influx: block, is listed with its state.
	run(t, ctx, "the output in the pipeline view",
		until(`document.querySelector('#outputs tr[data-output="influx"][data-up="true"]') !== null`))
	state := get(t, ctx, "its state", chromedp.Text(chromedp.CSS(`#outputs tr[data-output="influx"] [data-label="State"]`)))
	if state != "up" {
		t.Errorf("the pipeline view shows output influx as %q, want up", state)
	}
	// What the output's kind says of it: its URL, API and bucket.
	target := get(t, ctx, "its target", chromedp.Text(chromedp.CSS(`#outputs tr[data-output="influx"] [data-field="target"]`)))
	if !strings.Contains(target, in.URL) || !strings.Contains(target, "api v2") || !strings.Contains(target, "bucket "+in.Bucket()) {
		t.Errorf("the pipeline view shows output influx's target as %q, want %s, api v2 and bucket %s", target, in.URL, in.Bucket())
	}
	// The charts of the last 15 minutes hold samples before the picture.
	run(t, ctx, "the pipeline's charts", until(`[...document.querySelectorAll("#pipeline-charts .chart")].every(c => Number(c.dataset.points) > 1)`))
	screenshot(t, ctx, "console-pipeline.png")

	// pi-attic stops publishing (pi-kitchen goes on): its state changes
	// on screen.
	run(t, ctx, "back to the fleet", chromedp.Navigate(base+"#/"), chromedp.WaitVisible(chromedp.CSS(`tr[data-device="pi-attic"]`)))
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(time.Second):
				_, _ = testenv.Pub(t, srv.MQTT, testenv.DemoGateway, "devices/pi-kitchen/sensors/climate", `{"temp": 21.5}`, "-q", "1")
			}
		}
	}()
	run(t, ctx, "pi-attic turns silent on screen",
		until(`document.querySelector('tr[data-device="pi-attic"] .state')?.textContent === "silent"`))
	kitchen := get(t, ctx, "pi-kitchen's state", chromedp.Text(chromedp.CSS(`tr[data-device="pi-kitchen"] .state`)))
	close(stop)
	wg.Wait()
	if kitchen != "online" {
		t.Errorf("pi-kitchen, still publishing, shows %q", kitchen)
	}
	if e := errs.list(); len(e) > 0 {
		t.Errorf("the browser reported errors:\n%s", strings.Join(e, "\n"))
	}
}

// TestConsoleLoginBeyondLoopback: beyond loopback the console asks for a
// login, refuses a wrong password, and lets a reader in.
func TestConsoleLoginBeyondLoopback(t *testing.T) {
	srv := startExposed(t)
	ctx := testenv.Browser(t)
	var errs consoleErrors
	errs.listen(t, ctx)
	base := "http://" + srv.HTTP + "/"
	login := func(user, password string) {
		t.Helper()
		run(t, ctx, "the login form",
			chromedp.Navigate(base), chromedp.WaitVisible(chromedp.CSS(`input[name=username]`)),
			chromedp.SetValue(chromedp.CSS(`input[name=username]`), user), chromedp.SetValue(chromedp.CSS(`input[name=password]`), password),
			chromedp.Submit(chromedp.CSS(`form`)))
	}
	login(exposedReader.User, "wrong-password")
	run(t, ctx, "the refusal", chromedp.WaitVisible(chromedp.CSS(`#login-error`)))
	msg := get(t, ctx, "its text", chromedp.Text(chromedp.CSS(`#login-error`)))
	if !strings.Contains(msg, "wrong user name or password") {
		t.Errorf("login error says %q", msg)
	}
	loc := get(t, ctx, "still no console", chromedp.Location())
	if !strings.HasSuffix(loc, "/login") {
		t.Errorf("after a wrong password the browser is at %s", loc)
	}
	// A device user is not a reader.
	login(exposedDevice.User, exposedDevice.Password)
	run(t, ctx, "a device user is refused", chromedp.WaitVisible(chromedp.CSS(`#login-error`)))

	login(exposedReader.User, exposedReader.Password)
	run(t, ctx, "the console after a good login", chromedp.WaitVisible(chromedp.CSS(`#fleet`)),
		until(`document.getElementById("live").textContent === "live"`),
		chromedp.WaitVisible(chromedp.CSS(`#logout button`)))
	run(t, ctx, "log out", chromedp.Click(chromedp.CSS(`#logout button`)), chromedp.WaitVisible(chromedp.CSS(`input[name=username]`)))
	run(t, ctx, "the console again asks for a login", chromedp.Navigate(base), chromedp.WaitVisible(chromedp.CSS(`input[name=username]`)))
	if e := errs.list(); len(e) > 0 {
		t.Errorf("the browser reported errors:\n%s", strings.Join(e, "\n"))
	}
}

func exceptionText(d *runtime.ExceptionDetails) string {
	if d.Exception != nil {
		return d.Exception.Description
	}
	return ""
}
