package influxwriter

import "github.com/mqflux/mqflux/flow/influx"

// The write APIs a Writer speaks, by their Config.API names (package
// influx says what each is).
const (
	APIv1 = influx.V1
	APIv2 = influx.V2
	APIv3 = influx.V3
)

// DefaultAPI is the API of a Config or Options that names none.
const DefaultAPI = influx.DefaultAPI

// DefaultName labels the metrics of a Writer whose Config names no output.
const DefaultName = "influx"

// APIs lists the accepted values of Config.API.
func APIs() []string { return influx.APIs() }

// checkBucket reports what is wrong with bucket for api, or "".
func checkBucket(api, bucket string) string { return influx.CheckBucket(api, bucket) }

// normalAPI maps "" to DefaultAPI and reports whether api is known.
func normalAPI(api string) (string, bool) { return influx.NormalAPI(api) }
