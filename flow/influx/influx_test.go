package influx

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	http2 "github.com/influxdata/influxdb-client-go/v2/api/http"
)

func TestDBRP(t *testing.T) {
	tests := []struct{ bucket, db, rp string }{
		{"telemetry/autogen", "telemetry", "autogen"},
		{"telemetry", "telemetry", ""},
		{"sensors/one/two", "sensors", "one/two"},
		{"", "", ""},
	}
	for _, tc := range tests {
		if db, rp := (Endpoint{Bucket: tc.bucket}).DBRP(); db != tc.db || rp != tc.rp {
			t.Errorf("DBRP(%q) = %q, %q; want %q, %q", tc.bucket, db, rp, tc.db, tc.rp)
		}
	}
}

func TestCheckBucket(t *testing.T) {
	tests := []struct {
		api, bucket string
		ok          bool
	}{
		{V1, "db", true}, {V1, "db/rp", true}, {V1, "/rp", false}, {V1, "db/", false}, {V1, "db/rp/x", false},
		{V2, "any/thing", true}, {V3, "db", true}, {V3, "db/rp", false}, {V2, " ", false},
	}
	for _, tc := range tests {
		if got := CheckBucket(tc.api, tc.bucket); (got == "") != tc.ok {
			t.Errorf("CheckBucket(%s, %q) = %q, want ok=%v", tc.api, tc.bucket, got, tc.ok)
		}
	}
}

func TestAuthorize(t *testing.T) {
	tests := []struct {
		name, api, token string
		want             string // the Authorization header
	}{
		{"1.x pair as basic", V1, "admin:secret", "Basic YWRtaW46c2VjcmV0"},
		{"2.x pair as basic", V2, "admin:secret", "Basic YWRtaW46c2VjcmV0"},
		{"v1 api token", V1, "tok", "Token tok"},
		{"2.x token", V2, "tok", "Token tok"},
		{"default api token", "", "tok", "Token tok"},
		{"3 bearer", V3, "apiv3_tok", "Bearer apiv3_tok"},
		{"3 bearer keeps a colon", V3, "a:b", "Bearer a:b"},
		{"no token", V2, "", ""},
		{"no token on 3", V3, "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest(http.MethodGet, "/query", nil)
			Endpoint{API: tc.api, Token: tc.token}.Authorize(req)
			if got := req.Header.Get("Authorization"); got != tc.want {
				t.Fatalf("Authorization = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestClassifyStatus(t *testing.T) {
	tests := []struct {
		status       int
		class        Class
		reason, code string
		unauthorized bool
	}{
		{400, Malformed, "", "400", false},
		{422, Malformed, "", "422", false},
		{413, TooLarge, "", "413", false},
		{429, Retry, "throttled", "429", false},
		{401, Retry, "unauthorized", "401", true},
		{403, Retry, "unauthorized", "403", true},
		{404, Retry, "not_found", "404", false},
		{500, Retry, "server_error", "500", false},
		{503, Retry, "server_error", "503", false},
		{418, Retry, "unexpected_status", "418", false},
	}
	for _, tc := range tests {
		// The same status means the same through the library and net/http.
		lib := http2.NewError(nil)
		lib.StatusCode, lib.RetryAfter, lib.Message = tc.status, 3, "msg"
		for name, err := range map[string]error{"library": lib, "net/http": statusError(tc.status, 3*time.Second, "msg")} {
			e := Classify(err)
			if e.Class != tc.class || e.Reason != tc.reason || e.Code() != tc.code || e.Unauthorized() != tc.unauthorized ||
				e.RetryAfter != 3*time.Second || e.Message != "msg" {
				t.Errorf("%s %d: %+v, want class %d reason %q code %s", name, tc.status, e, tc.class, tc.reason, tc.code)
			}
		}
	}
}

func TestClassifyNoAnswer(t *testing.T) {
	tests := []struct {
		err    error
		reason string
	}{
		{errors.New("connection refused"), "network"},
		{http2.NewError(errors.New("connection refused")), "network"},
		{context.DeadlineExceeded, "timeout"},
		{http2.NewError(context.DeadlineExceeded), "timeout"},
	}
	for _, tc := range tests {
		if e := Classify(tc.err); e.Class != Retry || e.Reason != tc.reason || e.Code() != tc.reason || e.Status != 0 {
			t.Errorf("Classify(%v) = %+v, want a %s retry", tc.err, e, tc.reason)
		}
	}
}

// TestWriteClasses: the net/http writers classify InfluxDB's answers, with
// Retry-After and the server's own words, and authorize as Authorize does.
func TestWriteClasses(t *testing.T) {
	tests := []struct {
		api, path, wantAuth string
		status              int
		body, retryAfter    string
		class               Class
		message             string
	}{
		{V1, "/write", "Basic dTpw", 400, `{"error":"unable to parse 'x'"}`, "", Malformed, "unable to parse 'x'"},
		{V1, "/write", "Basic dTpw", 413, "too large", "", TooLarge, "too large"},
		{V1, "/write", "Basic dTpw", 503, `{"error":"busy"}`, "4", Retry, "busy"},
		{V3, "/api/v3/write_lp", "Bearer u:p", 400, `{"error":"parsing failed","data":{"original_line":"m v=x","line_number":1,"error_message":"bad"}}`, "", Malformed, "parsing failed; line 1: bad (m v=x)"},
		{V3, "/api/v3/write_lp", "Bearer u:p", 401, "unauthorized", "", Retry, "unauthorized"},
	}
	for _, tc := range tests {
		t.Run(tc.api+" "+tc.message, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path != tc.path || r.Header.Get("Authorization") != tc.wantAuth {
					t.Errorf("request %s with %q, want %s with %q", r.URL.Path, r.Header.Get("Authorization"), tc.path, tc.wantAuth)
				}
				if tc.retryAfter != "" {
					w.Header().Set("Retry-After", tc.retryAfter)
				}
				w.WriteHeader(tc.status)
				_, _ = w.Write([]byte(tc.body))
			}))
			defer srv.Close()
			w := Endpoint{URL: srv.URL, API: tc.api, Token: "u:p", Bucket: "db"}.NewWriter(WriteOptions{})
			defer w.Close()
			e := Classify(w.Write(t.Context(), "m v=1 1\n"))
			if e.Class != tc.class || e.Message != tc.message || e.Status != tc.status || e.RetryAfter != RetryAfter(tc.retryAfter) {
				t.Fatalf("Write = %+v, want class %d message %q", e, tc.class, tc.message)
			}
		})
	}
}

// TestQuery: /query gets db, rp, the statement and epoch=ms; a refusal in
// the answer is a QueryError, a missing database is ErrDatabaseNotFound.
func TestQuery(t *testing.T) {
	answers := map[string]string{
		"ok":      `{"results":[{"series":[{"name":"m","columns":["time","mean"],"values":[[1000,2.5]]}]}]}`,
		"refused": `{"results":[{"error":"error parsing query"}]}`,
		"missing": `{"results":[{"error":"database not found: nothing"}]}`,
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		if r.URL.Path != "/query" || q.Get("db") != "db" || q.Get("rp") != "rp" || q.Get("epoch") != "ms" {
			http.Error(w, "bad request "+r.URL.String(), http.StatusBadRequest)
			return
		}
		_, _ = w.Write([]byte(answers[q.Get("q")]))
	}))
	defer srv.Close()
	e := Endpoint{URL: srv.URL + "/", Bucket: "db/rp"}
	series, err := e.Query(t.Context(), "ok")
	if err != nil || len(series) != 1 || series[0].Name != "m" || len(series[0].Values) != 1 {
		t.Fatalf("Query = %+v, %v", series, err)
	}
	var qe *QueryError
	if _, err := e.Query(t.Context(), "refused"); !errors.As(err, &qe) || errors.Is(err, ErrDatabaseNotFound) {
		t.Fatalf("refused: err = %v, want a QueryError", err)
	}
	if _, err := e.Query(t.Context(), "missing"); !errors.Is(err, ErrDatabaseNotFound) {
		t.Fatalf("missing: err = %v, want ErrDatabaseNotFound", err)
	}
	if _, err := (Endpoint{URL: srv.URL, Bucket: "other"}).Query(t.Context(), "ok"); err == nil {
		t.Fatal("a 400 answer is no error")
	}
}
