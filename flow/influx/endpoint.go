// Package influx owns talking to InfluxDB: where a store is and which API
// it speaks (Endpoint), the one mapping of a bucket to a database and
// retention policy (DBRP), the credentials each API takes (Authorize),
// InfluxQL queries through /query (Query), line-protocol writes through
// each write API (NewWriter) and what a failed write means (Classify).
//
// The v2 write API goes through influxdb-client-go's blocking write API,
// the library mqflux was specified with; the v1 and v3 write APIs and
// /query, which that library does not speak, go through net/http here.
package influx

import (
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// The write APIs, by the names outputs: entries give them.
const (
	// V1 is InfluxDB 1.x's /write, which VictoriaMetrics also accepts.
	V1 = "v1"
	// V2 is /api/v2/write through influxdb-client-go: InfluxDB 2.x, and
	// InfluxDB 1.8 through its compatibility endpoint. The default.
	V2 = "v2"
	// V3 is InfluxDB 3's /api/v3/write_lp.
	V3 = "v3"
)

// DefaultAPI is the API of an Endpoint that names none.
const DefaultAPI = V2

// APIs lists the accepted API names.
func APIs() []string { return []string{V1, V2, V3} }

// NormalAPI maps "" to DefaultAPI and reports whether api is known.
func NormalAPI(api string) (string, bool) {
	if api == "" {
		return DefaultAPI, true
	}
	return api, slices.Contains(APIs(), api)
}

// Endpoint is one InfluxDB (or a store speaking one of its APIs) and the
// bucket mqflux writes to and reads from there.
type Endpoint struct {
	URL string // e.g. http://127.0.0.1:8086
	// API is the write API, V1, V2 or V3, which tells the InfluxDB version
	// and so how to authenticate; "" is V2.
	API string
	// Token is "user:password" for InfluxDB 1.x, an API token otherwise.
	Token string
	// Bucket is "database/retention-policy" or "database" (InfluxDB 1.x),
	// a bucket name (InfluxDB 2.x; "database/retention-policy" on 1.8), or
	// a database name (InfluxDB 3).
	Bucket string
	// Timeout bounds one write request (zero: only the caller's context
	// does); a query's caller bounds it with its context.
	Timeout time.Duration
	// Client makes the /query requests; http.DefaultClient when nil.
	Client *http.Client
}

// DBRP is the database and retention policy the bucket names: the part
// before the first '/' and the rest ("" when there is no '/'), as /write
// and /query take them in db and rp.
func (e Endpoint) DBRP() (db, rp string) {
	db, rp, _ = strings.Cut(e.Bucket, "/")
	return db, rp
}

// Authorize sets the credentials e's API takes on /write, /query and
// /api/v3/write_lp: a Bearer token on InfluxDB 3; elsewhere "user:password"
// as basic authentication (InfluxDB 1.x takes no Token scheme on /query,
// and basic keeps the password out of URLs and so out of access logs) and
// an API token (without ':') as "Authorization: Token". No token: none.
func (e Endpoint) Authorize(req *http.Request) {
	switch user, password, pair := strings.Cut(e.Token, ":"); {
	case e.Token == "":
	case e.API == V3:
		req.Header.Set("Authorization", "Bearer "+e.Token)
	case pair:
		req.SetBasicAuth(user, password)
	default:
		req.Header.Set("Authorization", "Token "+e.Token)
	}
}

// CheckBucket reports what is wrong with bucket for api, or "".
func CheckBucket(api, bucket string) string {
	if strings.TrimSpace(bucket) == "" {
		return `required: "database/retention-policy" or "database" (v1), a bucket name (v2; "database/retention-policy" on InfluxDB 1.8), or a database name (v3)`
	}
	switch api {
	case V1:
		db, rp, hasRP := strings.Cut(bucket, "/")
		if db == "" || hasRP && (rp == "" || strings.Contains(rp, "/")) {
			return fmt.Sprintf(`%q: want "database" or "database/retention-policy" for api v1`, bucket)
		}
	case V3:
		if strings.Contains(bucket, "/") {
			return fmt.Sprintf(`%q: want a database name without '/' for api v3`, bucket)
		}
	}
	return ""
}

// at is the endpoint's URL with path and query appended.
func (e Endpoint) at(path string, q url.Values) string {
	return strings.TrimRight(e.URL, "/") + path + "?" + q.Encode()
}
