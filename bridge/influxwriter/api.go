package influxwriter

import (
	"fmt"
	"strings"
)

// The write APIs a Writer speaks, by their Config.API names.
const (
	// APIv1 is InfluxDB 1.x's /write, which VictoriaMetrics also accepts.
	APIv1 = "v1"
	// APIv2 is /api/v2/write through influxdb-client-go: InfluxDB 2.x, and
	// InfluxDB 1.8 through its compatibility endpoint. The default.
	APIv2 = "v2"
	// APIv3 is InfluxDB 3's /api/v3/write_lp.
	APIv3 = "v3"
)

// DefaultAPI is the API of a Config or Options that names none.
const DefaultAPI = APIv2

// DefaultName labels the metrics of a Writer whose Config names no output.
const DefaultName = "influx"

// APIs lists the accepted values of Config.API.
func APIs() []string { return []string{APIv1, APIv2, APIv3} }

// checkBucket reports what is wrong with bucket for api, or "".
func checkBucket(api, bucket string) string {
	if strings.TrimSpace(bucket) == "" {
		return `required: "database/retention-policy" or "database" (v1), a bucket name (v2; "database/retention-policy" on InfluxDB 1.8), or a database name (v3)`
	}
	switch api {
	case APIv1:
		db, rp, hasRP := strings.Cut(bucket, "/")
		if db == "" || hasRP && (rp == "" || strings.Contains(rp, "/")) {
			return fmt.Sprintf(`%q: want "database" or "database/retention-policy" for api v1`, bucket)
		}
	case APIv3:
		if strings.Contains(bucket, "/") {
			return fmt.Sprintf(`%q: want a database name without '/' for api v3`, bucket)
		}
	}
	return ""
}

// normalAPI maps "" to DefaultAPI and reports whether api is known.
func normalAPI(api string) (string, bool) {
	if api == "" {
		return DefaultAPI, true
	}
	for _, a := range APIs() {
		if a == api {
			return api, true
		}
	}
	return api, false
}
