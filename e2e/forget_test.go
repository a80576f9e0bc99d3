package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mqflux/mqflux/internal/testenv"
)

// startExposedWithInflux is startExposed writing to a real InfluxDB, with
// silence after 2 s so that a device has an alert firing to be resolved.
func startExposedWithInflux(t *testing.T, in *testenv.Influx) *testenv.Server {
	t.Helper()
	return startExposed(t, "MQFLUX_INFLUX_URL="+in.URL, "MQFLUX_INFLUX_BUCKET="+in.Bucket(), "MQFLUX_INFLUX_DRAIN_TIMEOUT=30s",
		"MQFLUX_ALERTS_SILENT_AFTER=2s", "MQFLUX_ALERTS_CHECK_INTERVAL=200ms")
}

// deleteAs sends DELETE path with basic auth as l (none when l.User is
// empty).
func deleteAs(t *testing.T, srv *testenv.Server, path string, l testenv.Login) answer {
	t.Helper()
	req, _ := http.NewRequest(http.MethodDelete, "http://"+srv.HTTP+path, nil)
	if l.User != "" {
		req.SetBasicAuth(l.User, l.Password)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("DELETE %s as %q: %v", path, l.User, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return answer{code: resp.StatusCode, header: resp.Header, body: string(b)}
}

// deviceListed reads /v1/devices as the admin and returns the device's
// entry, or nil.
func deviceListed(t *testing.T, srv *testenv.Server, name string) map[string]any {
	t.Helper()
	a := getAs(t, http.DefaultClient, srv, "/v1/devices", exposedAdmin)
	var v struct {
		Devices []map[string]any `json:"devices"`
	}
	if a.code != http.StatusOK || json.Unmarshal([]byte(a.body), &v) != nil {
		t.Fatalf("GET /v1/devices: %d %s", a.code, a.body)
	}
	for _, d := range v.Devices {
		if d["device"] == name {
			return d
		}
	}
	return nil
}

// seriesOf counts the points InfluxDB holds tagged with device, in the
// climate measurement.
func seriesOf(t *testing.T, in *testenv.Influx, device string) int {
	t.Helper()
	ss := in.Query(t, `SELECT count("temp") FROM "climate" WHERE "device" = '`+strings.ReplaceAll(strings.ReplaceAll(device, `\`, `\\`), `'`, `\'`)+`'`)
	if len(ss) == 0 || len(ss[0].Values) == 0 {
		return 0
	}
	n, _ := ss[0].Values[0][1].(json.Number).Int64()
	return int(n)
}

func dataDeleted(body string) bool {
	var v struct {
		DataDeleted bool `json:"data_deleted"`
	}
	return json.Unmarshal([]byte(body), &v) == nil && v.DataDeleted
}

func publishAs(t *testing.T, srv *testenv.Server, l testenv.Login, payload string) {
	t.Helper()
	if out, err := testenv.Pub(t, srv.MQTT, l, "devices/"+l.User+"/sensors/climate", payload, "-q", "1"); err != nil {
		t.Fatalf("publish as %s: %v\n%s", l.User, err, out)
	}
}

// Forgetting a device over the API, beyond loopback: only an admin may
// (a reader, the device itself, another device and a wrong password are
// refused, and the device stays); without data=true the device leaves
// the registry, /v1/latest and its alerts (the firing silence resolved
// once, reason forgotten, recorded in InfluxDB with who did it) while
// its series stay; `mqflux devices forget -data` deletes the series too;
// a hostile name deletes nothing of another device; a forgotten device
// that publishes again comes back as new.
func TestForgetDevice(t *testing.T) {
	in := testenv.StartInflux(t)
	srv := startExposedWithInflux(t, in)
	publishAs(t, srv, exposedDevice, `{"temp": 21.5}`)
	publishAs(t, srv, exposedLegit, `{"temp": 19}`)
	waitFor(t, time.Minute, "both readings in InfluxDB", func() bool { return in.Count(t, "climate", "temp") == 2 })
	waitFor(t, 30*time.Second, "pi-exposed silent", func() bool {
		d := deviceListed(t, srv, exposedDevice.User)
		return d != nil && d["state"] == "silent"
	})
	path := "/v1/devices/" + exposedDevice.User

	for _, tc := range []struct {
		who  string
		l    testenv.Login
		want int
	}{
		{"no login", testenv.Login{}, http.StatusUnauthorized},
		{"a wrong password", testenv.Login{User: exposedAdmin.User, Password: "not-it"}, http.StatusUnauthorized},
		{"an unknown user", testenv.Login{User: "nobody", Password: "x"}, http.StatusUnauthorized},
		{"a reader", exposedReader, http.StatusForbidden},
		{"the device itself", exposedDevice, http.StatusForbidden},
		{"another device", exposedLegit, http.StatusForbidden},
	} {
		if a := deleteAs(t, srv, path, tc.l); a.code != tc.want {
			t.Errorf("DELETE %s as %s: %d %s, want %d", path, tc.who, a.code, a.body, tc.want)
		}
	}
	if deviceListed(t, srv, exposedDevice.User) == nil {
		t.Fatalf("a refused forget removed the device")
	}

	// The admin forgets it; its data stays.
	a := deleteAs(t, srv, path, exposedAdmin)
	var got struct {
		Known        bool     `json:"known"`
		Resolved     []string `json:"resolved"`
		LatestSeries int      `json:"latest_series"`
		DataDeleted  bool     `json:"data_deleted"`
	}
	if a.code != http.StatusOK || json.Unmarshal([]byte(a.body), &got) != nil ||
		!got.Known || strings.Join(got.Resolved, ",") != "silent" || got.LatestSeries != 1 || got.DataDeleted {
		t.Fatalf("DELETE %s as the admin: %d %s; want 200, known, silent resolved, one latest series, no data deleted", path, a.code, a.body)
	}
	forgotAt := time.Now()
	if deviceListed(t, srv, exposedDevice.User) != nil {
		t.Errorf("%s still in /v1/devices", exposedDevice.User)
	}
	if l := getAs(t, http.DefaultClient, srv, "/v1/latest?device="+exposedDevice.User, exposedAdmin); strings.Contains(l.body, `"device"`) {
		t.Errorf("/v1/latest still holds %s: %s", exposedDevice.User, l.body)
	}
	if n := seriesOf(t, in, exposedDevice.User); n != 1 {
		t.Errorf("InfluxDB holds %d readings of %s after a forget without data, want 1", n, exposedDevice.User)
	}
	srv.WaitLog(t, "device forgotten", "device="+exposedDevice.User, "user="+exposedAdmin.User)
	waitFor(t, 30*time.Second, "the forgotten resolution in InfluxDB", func() bool {
		ss, err := in.TryQuery(t.Context(), `SELECT "state", "message" FROM "alerts" WHERE "device" = 'pi-exposed' AND "rule" = 'silent'`)
		if err != nil || len(ss) == 0 {
			return false
		}
		for _, row := range ss[0].Values {
			if row[1] == "resolved" && strings.Contains(row[2].(string), "forgotten by "+exposedAdmin.User) {
				return true
			}
		}
		return false
	})
	var alerts struct {
		Active []struct{ Device string }         `json:"active"`
		Recent []struct{ Device, Reason string } `json:"recent"`
	}
	if a := getAs(t, http.DefaultClient, srv, "/v1/alerts", exposedAdmin); json.Unmarshal([]byte(a.body), &alerts) != nil ||
		slices.ContainsFunc(alerts.Active, func(x struct{ Device string }) bool { return x.Device == exposedDevice.User }) ||
		!slices.ContainsFunc(alerts.Recent, func(x struct{ Device, Reason string }) bool {
			return x.Device == exposedDevice.User && x.Reason == "forgotten"
		}) {
		t.Errorf("/v1/alerts after the forget: %s; want no active alert of pi-exposed and a resolution with reason forgotten", a.body)
	}
	if a := deleteAs(t, srv, path, exposedAdmin); a.code != http.StatusNotFound {
		t.Errorf("a second forget: %d %s, want 404", a.code, a.body)
	}

	// The command line, with its data: legit-0's series are gone,
	// pi-exposed's stay.
	pwFile := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(pwFile, []byte(exposedAdmin.Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(srv.Bin, "devices", "forget", exposedLegit.User, "-data", "-user", exposedAdmin.User, "-password-file", pwFile)
	cmd.Env = append(os.Environ(), "MQFLUX_HTTP_ADDRESS="+srv.HTTP)
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "series deleted") {
		t.Fatalf("mqflux devices forget %s -data: %v\n%s", exposedLegit.User, err, out)
	}
	if n := seriesOf(t, in, exposedLegit.User); n != 0 {
		t.Errorf("InfluxDB holds %d readings of %s after forget -data, want 0", n, exposedLegit.User)
	}
	if n := seriesOf(t, in, exposedDevice.User); n != 1 {
		t.Errorf("forgetting %s with its data took %s's: %d readings left", exposedLegit.User, exposedDevice.User, n)
	}
	srv.WaitLog(t, "device forgotten", "device="+exposedLegit.User, "data_deleted=true", "user="+exposedAdmin.User)
	// Without the admin's login the command is refused with the server's words.
	cmd = exec.Command(srv.Bin, "devices", "forget", exposedDevice.User)
	cmd.Env = append(os.Environ(), "MQFLUX_HTTP_ADDRESS="+srv.HTTP)
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "401") {
		t.Errorf("mqflux devices forget without a login: %v\n%s; want a 401 refusal", err, out)
	}

	// A name built to widen the statement deletes nothing of another device.
	in.WriteLines(t, `climate,device=victim temp=1 1000000000`)
	hostile := `x' OR "device"='victim`
	if a := deleteAs(t, srv, "/v1/devices/"+url.PathEscape(hostile)+"?data=true", exposedAdmin); a.code != http.StatusOK || !dataDeleted(a.body) {
		t.Errorf("forget %q with data: %d %s", hostile, a.code, a.body)
	}
	if n := seriesOf(t, in, "victim"); n != 1 {
		t.Errorf("forgetting %q deleted victim's readings: %d left, want 1", hostile, n)
	}
	if a := deleteAs(t, srv, "/v1/devices/a%0Ab", exposedAdmin); a.code != http.StatusBadRequest {
		t.Errorf("a name with a newline: %d %s, want 400", a.code, a.body)
	}

	// pi-exposed publishes again: a new device, first seen now, online.
	publishAs(t, srv, exposedDevice, `{"temp": 22}`)
	waitFor(t, 30*time.Second, "pi-exposed back", func() bool { return deviceListed(t, srv, exposedDevice.User) != nil })
	d := deviceListed(t, srv, exposedDevice.User)
	first, _ := time.Parse(time.RFC3339Nano, d["first_seen"].(string))
	if first.Before(forgotAt.Add(-time.Second)) || len(d["firing"].([]any)) != 0 {
		t.Errorf("pi-exposed back as %v; want first seen after the forget (%s), nothing firing", d, forgotAt)
	}
	// And with data=true through the API its series go too.
	waitFor(t, time.Minute, "the new reading in InfluxDB", func() bool { return seriesOf(t, in, exposedDevice.User) == 2 })
	if a := deleteAs(t, srv, path+"?data=true", exposedAdmin); a.code != http.StatusOK || !dataDeleted(a.body) {
		t.Fatalf("forget with data: %d %s", a.code, a.body)
	}
	if n := seriesOf(t, in, exposedDevice.User); n != 0 {
		t.Errorf("InfluxDB holds %d readings of %s after data=true, want 0", n, exposedDevice.User)
	}
}

// The console's Forget button, in headless Chromium as an admin logged in
// through the form: a first confirmation forgets, the device leaves the
// fleet and its data stays; with "also delete its data" a second
// confirmation is asked, and the series are gone from InfluxDB.
func TestConsoleForgetsDevice(t *testing.T) {
	in := testenv.StartInflux(t)
	srv := startExposedWithInflux(t, in)
	publishAs(t, srv, exposedDevice, `{"temp": 21.5}`)
	publishAs(t, srv, exposedLegit, `{"temp": 19}`)
	waitFor(t, time.Minute, "both readings in InfluxDB", func() bool { return in.Count(t, "climate", "temp") == 2 })

	// The device view draws its chart after the page, above the Forget
	// panel; a click aimed before the chart lands on whatever moved there.
	const chartDrawn = `.chart[data-series="climate.temp"]`
	ctx := testenv.Browser(t)
	var errs consoleErrors
	errs.listen(t, ctx)
	base := "http://" + srv.HTTP + "/"
	run(t, ctx, "log in as the admin",
		chromedp.Navigate(base), chromedp.WaitVisible(chromedp.CSS(`input[name=username]`)),
		chromedp.SetValue(chromedp.CSS(`input[name=username]`), exposedAdmin.User), chromedp.SetValue(chromedp.CSS(`input[name=password]`), exposedAdmin.Password),
		chromedp.Submit(chromedp.CSS(`form`)), chromedp.WaitVisible(chromedp.CSS(`#fleet`)))

	// Forget pi-exposed, keeping its data; Cancel first changes nothing.
	run(t, ctx, "the device view's Forget button",
		chromedp.Navigate(base+"#/device/"+exposedDevice.User), chromedp.WaitVisible(chromedp.CSS(chartDrawn)),
		chromedp.Click(chromedp.CSS(`#forget-start`)), chromedp.WaitVisible(chromedp.CSS(`#forget-confirm`)),
		chromedp.Click(chromedp.CSS(`#forget-cancel`)), chromedp.WaitVisible(chromedp.CSS(`#forget-start`)))
	if deviceListed(t, srv, exposedDevice.User) == nil {
		t.Fatalf("Cancel forgot the device")
	}
	run(t, ctx, "forget it",
		chromedp.Click(chromedp.CSS(`#forget-start`)), chromedp.WaitVisible(chromedp.CSS(`#forget-confirm`)),
		chromedp.Click(chromedp.CSS(`#forget-confirm`)),
		until(`document.querySelector("#notice")?.textContent.startsWith("pi-exposed forgotten")`),
		until(`document.querySelector('tr[data-device="legit-0"]') !== null`))
	if deviceListed(t, srv, exposedDevice.User) != nil {
		t.Errorf("pi-exposed still in /v1/devices after the console's Forget")
	}
	if present := get(t, ctx, "pi-exposed's row", chromedp.Evaluate[bool](`document.querySelector('tr[data-device="pi-exposed"]') !== null`)); present {
		t.Errorf("the fleet view still lists pi-exposed")
	}
	if n := seriesOf(t, in, exposedDevice.User); n != 1 {
		t.Errorf("InfluxDB holds %d readings of pi-exposed after a forget without data, want 1", n)
	}

	// legit-0 with its data: two confirmations.
	run(t, ctx, "forget legit-0 with its data",
		chromedp.Navigate(base+"#/device/"+exposedLegit.User), chromedp.WaitVisible(chromedp.CSS(chartDrawn)),
		chromedp.Click(chromedp.CSS(`#forget-start`)), chromedp.WaitVisible(chromedp.CSS(`#forget-data`)),
		chromedp.Click(chromedp.CSS(`#forget-data`)), chromedp.Click(chromedp.CSS(`#forget-confirm`)),
		chromedp.WaitVisible(chromedp.CSS(`#forget-data-confirm`)))
	if n := seriesOf(t, in, exposedLegit.User); n != 1 || deviceListed(t, srv, exposedLegit.User) == nil {
		t.Fatalf("the first confirmation of a forget with data already acted: %d readings left", n)
	}
	run(t, ctx, "confirm the deletion",
		chromedp.Click(chromedp.CSS(`#forget-data-confirm`)),
		until(`document.querySelector("#notice")?.textContent.startsWith("legit-0 forgotten, its data deleted")`))
	if n := seriesOf(t, in, exposedLegit.User); n != 0 {
		t.Errorf("InfluxDB holds %d readings of legit-0 after the console's forget with data, want 0", n)
	}
	if e := errs.list(); len(e) > 0 {
		t.Errorf("the browser reported errors:\n%s", strings.Join(e, "\n"))
	}
}

// alerts.forget_after forgets a device silent that long: it leaves
// /v1/devices and /v1/latest by itself, its silence resolved with reason
// forgotten, while a device that keeps publishing stays.
func TestForgetAfter(t *testing.T) {
	srv := testenv.StartServer(t, testenv.ServerOptions{Env: []string{
		"MQFLUX_ALERTS_SILENT_AFTER=1s", "MQFLUX_ALERTS_CHECK_INTERVAL=100ms", "MQFLUX_ALERTS_FORGET_AFTER=3s",
	}})
	pub := func(device string) {
		t.Helper()
		if out, err := testenv.Pub(t, srv.MQTT, testenv.DemoGateway, "devices/"+device+"/sensors/climate", `{"temp": 20}`, "-q", "1"); err != nil {
			t.Fatalf("publish: %v\n%s", err, out)
		}
	}
	pub("pi-gone")
	pub("pi-busy")
	listed := func(device string) bool {
		_, body := srv.HTTPGet(t, "/v1/devices?device="+device)
		return strings.Contains(body, `"device": "`+device+`"`) || strings.Contains(body, `"device":"`+device+`"`)
	}
	waitFor(t, 30*time.Second, "both devices listed", func() bool { return listed("pi-gone") && listed("pi-busy") })
	deadline := time.Now().Add(time.Minute)
	for listed("pi-gone") {
		if time.Now().After(deadline) {
			t.Fatalf("pi-gone, silent, still listed a minute later with forget_after 3s")
		}
		pub("pi-busy")
		time.Sleep(300 * time.Millisecond)
	}
	if !listed("pi-busy") {
		t.Errorf("pi-busy, publishing all along, was forgotten")
	}
	if _, body := srv.HTTPGet(t, "/v1/latest?device=pi-gone"); strings.Contains(body, "pi-gone") {
		t.Errorf("/v1/latest still holds pi-gone: %s", body)
	}
	if _, body := srv.HTTPGet(t, "/v1/alerts"); !strings.Contains(body, "forgotten") {
		t.Errorf("/v1/alerts has no resolution with reason forgotten: %s", body)
	}
	srv.WaitLog(t, "device forgotten", "device=pi-gone", "by=alerts.forget_after")
}
