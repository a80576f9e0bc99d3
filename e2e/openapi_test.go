package e2e

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"

	"github.com/mqflux/mqflux/internal/testenv"
	"github.com/mqflux/mqflux/server"
)

// TestOpenAPIDescribesRealAnswers sends real requests to a running server
// and checks each request and answer against /v1/openapi.json: the route,
// its parameters, the status and the body's schema.
func TestOpenAPIDescribesRealAnswers(t *testing.T) {
	in := testenv.StartInflux(t)
	srv := testenv.StartServer(t, testenv.ServerOptions{Influx: in})

	code, served := srv.HTTPGet(t, "/v1/openapi.json")
	if code != http.StatusOK || served != string(server.OpenAPI()) {
		t.Fatalf("GET /v1/openapi.json: %d, not the embedded document", code)
	}
	// /ingest's body is lines of JSON: the document describes it as text.
	openapi3filter.RegisterBodyDecoder("application/x-ndjson", func(r io.Reader, _ http.Header, _ *openapi3.SchemaRef, _ openapi3filter.EncodingFn) (any, error) {
		b, err := io.ReadAll(r)
		return string(b), err
	})
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(server.OpenAPI())
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if err := doc.Validate(loader.Context, openapi3.EnableExamplesValidation()); err != nil {
		t.Fatalf("the document is not valid OpenAPI: %v", err)
	}
	doc.Servers = openapi3.Servers{{URL: "http://" + srv.HTTP}}
	router, err := gorillamux.NewRouter(doc)
	if err != nil {
		t.Fatal(err)
	}

	// Readings for the answers to hold something.
	if out, err := testenv.Pub(t, srv.MQTT, testenv.DemoGateway, "devices/pi-kitchen/sensors/climate", `{"temp": 21.5}`, "-q", "1"); err != nil {
		t.Fatalf("publish: %v\n%s", err, out)
	}
	waitFor(t, time.Minute, "the reading in InfluxDB", func() bool { return in.Count(t, "climate", "temp") == 1 })
	// A rejected reading, for a dead letter in /v1/pipeline.
	if out, err := testenv.Pub(t, srv.MQTT, testenv.DemoGateway, "devices/pi-kitchen/sensors/climate", `not json`, "-q", "1"); err != nil {
		t.Fatalf("publish: %v\n%s", err, out)
	}

	legacy := http.Header{"Content-Type": {"application/json"}, "X-Authorization": {demoKey}, "X-Node-Id": {"truck-7"}}
	for _, tc := range []struct {
		method, path string
		header       http.Header
		body         string
		want         int
	}{
		{"GET", "/healthz", nil, "", 200},
		{"GET", "/healthcheck", nil, "", 200},
		{"GET", "/v1/healthcheck", nil, "", 200},
		{"GET", "/metrics", nil, "", 200},
		{"GET", "/v1/latest?device=pi-kitchen", nil, "", 200},
		{"GET", "/v1/devices", nil, "", 200},
		{"GET", "/v1/devices?state=online", nil, "", 200},
		{"GET", "/v1/alerts", nil, "", 200},
		{"DELETE", "/v1/devices/pi-never-seen", nil, "", 404},
		{"GET", "/v1/history?device=pi-kitchen&measurement=climate&field=temp&range=1h", nil, "", 200},
		{"GET", "/v1/history?device=pi-kitchen&measurement=climate&field=temp&range=1y", nil, "", 400},
		{"GET", "/v1/pipeline", nil, "", 200},
		{"GET", "/v1/pipeline/history", nil, "", 200},
		{"GET", "/v1/logs?limit=5", nil, "", 200},
		{"GET", "/v1/logs?limit=0", nil, "", 400},
		{"GET", "/v1/openapi.json", nil, "", 200},
		{"POST", "/v1/log-temperature", legacy, `{"temperature": 21.5, "status": "ok"}`, 200},
		{"POST", "/v1/log-temperature", legacy, `{"temperature": `, 400},
		{"POST", "/v1/log-temperature", http.Header{"Content-Type": {"application/json"}}, `{"temperature": 1}`, 401},
		{"POST", "/ingest", http.Header{"Content-Type": {"application/x-ndjson"}, "Authorization": {basic("truck-7", demoKey)}},
			`{"sensor": "speed", "value": 1.5, "timestamp": "2026-01-01T00:00:00Z"}` + "\n", 200},
		{"POST", "/ingest", http.Header{"Content-Type": {"application/x-ndjson"}}, "{}\n", 401},
		{"GET", "/v1/deadletter?n=1", nil, "", 200},
		{"GET", "/v1/deadletter?before=nonsense", nil, "", 400},
		{"GET", "/v1/deadletter?before=1-1", nil, "", 410},
		{"GET", "/v1/latest", http.Header{"Host": {"evil.example"}}, "", 421},
		{"POST", "/v1/deadletter/replay?dry_run=true", http.Header{"Origin": {"http://evil.example"}}, "", 403},
		{"POST", "/v1/log-temperature", http.Header{"Origin": {"http://evil.example"}, "Content-Type": {"application/json"}}, `{"temperature": 1}`, 403},
		{"DELETE", "/v1/devices/pi-kitchen", http.Header{"Origin": {"http://evil.example"}}, "", 403},
		{"DELETE", "/v1/devices/pi-kitchen?data=maybe", nil, "", 400},
		{"DELETE", "/v1/devices/pi-kitchen", nil, "", 200},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, "http://"+srv.HTTP+tc.path, strings.NewReader(tc.body))
			for k, v := range tc.header {
				req.Header[k] = v
			}
			if h := tc.header.Get("Host"); h != "" {
				req.Host = h
			}
			checkAgainst(t, router, req, tc.body, tc.want)
		})
	}
	if _, body := srv.HTTPGet(t, "/v1/pipeline"); !strings.Contains(body, `"reason": "bad_number"`) || !strings.Contains(body, `"payload": "not json"`) {
		t.Errorf("/v1/pipeline lacks the dead letter: %s", body)
	}
	if _, body := srv.HTTPGet(t, "/v1/history?device=pi-kitchen&measurement=climate&field=temp"); !strings.Contains(body, ",\n      21.5\n") {
		t.Errorf("/v1/history lacks the stored point: %s", body)
	}
	// The stream's first bytes: its status and content type.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", "http://"+srv.HTTP+"/v1/stream", nil)
	route, params, err := router.FindRoute(req)
	if err != nil {
		t.Fatalf("/v1/stream: %v", err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	in2 := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route,
		Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}}
	if err := openapi3filter.ValidateResponse(ctx, &openapi3filter.ResponseValidationInput{RequestValidationInput: in2,
		Status: resp.StatusCode, Header: resp.Header, Body: io.NopCloser(strings.NewReader("")),
		Options: &openapi3filter.Options{ExcludeResponseBody: true}}); err != nil {
		t.Fatalf("/v1/stream answer: %v", err)
	}
}

func checkAgainst(t *testing.T, router routers.Router, req *http.Request, body string, want int) {
	t.Helper()
	route, params, err := router.FindRoute(req)
	if err != nil {
		t.Fatalf("no route in the document: %v", err)
	}
	opts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc, IncludeResponseStatus: true}
	vin := &openapi3filter.RequestValidationInput{Request: req, PathParams: params, Route: route, Options: opts}
	if want < 400 {
		if err := openapi3filter.ValidateRequest(context.Background(), vin); err != nil {
			t.Fatalf("request does not fit the document: %v", err)
		}
		req.Body = io.NopCloser(strings.NewReader(body))
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != want {
		t.Fatalf("status %d, want %d: %s", resp.StatusCode, want, b)
	}
	if err := openapi3filter.ValidateResponse(context.Background(), &openapi3filter.ResponseValidationInput{
		RequestValidationInput: vin, Status: resp.StatusCode, Header: resp.Header,
		Body: io.NopCloser(bytes.NewReader(b)), Options: opts,
	}); err != nil {
		t.Fatalf("answer does not fit the document: %v\n%s", err, b)
	}
}

func basic(user, password string) string {
	r := &http.Request{Header: http.Header{}}
	r.SetBasicAuth(user, password)
	return r.Header.Get("Authorization")
}
