package server

import (
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mqflux/mqflux/flow/mapping"
	"github.com/mqflux/mqflux/internal/testenv"
)

// ARCHITECTURE.md's "Adding a preset" followed from a test file: a preset
// registered here is named in mapping.presets, its template joins the
// broker's layout (a gateway may publish it) and its readings reach the
// output with the preset's measurement.
func init() {
	mapping.RegisterPreset("test_preset", mapping.Preset{
		Topics: []mapping.TopicRule{
			{Template: "testpreset/{device}/cmd", Ignore: true},
			{Template: "testpreset/{device}/{field}", Measurement: "preset_probe", Format: mapping.FormatText},
		},
	})
}

func TestPresetRegisteredInATest(t *testing.T) {
	srv, mqtt, _ := startMemServer(t, "MQFLUX_MAPPING_PRESETS=[test_preset]")
	for _, m := range [][2]string{{"testpreset/pump-1/cmd", "on"}, {"testpreset/pump-1/flow", "3.5"}} {
		if out, err := testenv.Pub(t, mqtt, testenv.DemoGateway, m[0], m[1], "-q", "1"); err != nil {
			t.Fatalf("mosquitto_pub %s: %v\n%s", m[0], err, out)
		}
	}
	v, _ := memOutputs.Load("shelf-1")
	mem := v.(*memOutput)
	testenv.WaitFor(t, 30*time.Second, "the preset's reading in the output", func() bool { return len(mem.Records()) > 0 })
	got := strings.Join(mem.Records(), "")
	if !strings.Contains(got, "preset_probe,device=pump-1") || !strings.Contains(got, "flow=3.5") {
		t.Errorf("stored %q, want preset_probe of pump-1 with flow=3.5", got)
	}
	if n := srv.pipe.Stats().Rejected; len(n) != 0 {
		t.Errorf("rejected %v: the ignored command topic must leave no dead letter", n)
	}
}

// ARCHITECTURE.md's "Adding a console view": every view the console's
// navigation names has its function in app.js, dispatched by route(), and
// every endpoint app.js reads is a route the server serves.
func TestConsoleViewsServed(t *testing.T) {
	index, err := os.ReadFile("console/assets/index.html")
	if err != nil {
		t.Fatal(err)
	}
	app, err := os.ReadFile("console/assets/app.js")
	if err != nil {
		t.Fatal(err)
	}
	views := regexp.MustCompile(`data-view="([a-z]+)"`).FindAllStringSubmatch(string(index), -1)
	if len(views) < 2 {
		t.Fatalf("index.html names %d views; has the navigation changed?", len(views))
	}
	route := string(app[strings.Index(string(app), "function route()"):])
	for _, v := range views {
		fn := v[1] + "View("
		if !strings.Contains(string(app), "function "+fn) || !strings.Contains(route, fn) {
			t.Errorf("view %q: app.js lacks function %s...) or route() does not call it", v[1], fn)
		}
	}
	reads := regexp.MustCompile("(?:getJSON|EventSource)\\([\"`](v1/[a-z/]+)").FindAllStringSubmatch(string(app), -1)
	if len(reads) < 5 {
		t.Fatalf("app.js reads %d endpoints; has the way it fetches changed?", len(reads))
	}
	_, _, httpAddr := startMemServer(t)
	for _, r := range reads {
		resp, err := http.Get("http://" + httpAddr + "/" + r[1])
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close() // /v1/stream answers its headers, then streams
		if resp.StatusCode == http.StatusNotFound || resp.StatusCode == http.StatusMethodNotAllowed {
			t.Errorf("app.js reads /%s: the server answers %d", r[1], resp.StatusCode)
		}
	}
}
