package server

import (
	"fmt"

	"github.com/mqflux/mqflux/bridge/influxwriter"
	"github.com/mqflux/mqflux/internal/configfile"
)

// This file bridges the time until influxwriter offers Config.Name (a
// const label output=<name> on its metrics) and Options.API / Config.API
// (the v1, v2 and v3 write APIs).
// MERGE: delete Output.API (outputs.go); make setWriterIdentity set
// c.Name = name and c.API = api; delete validateAPI and its call if
// influxwriter.Options.Validate checks api itself.

// apis are the write APIs an influxdb output may name.
var apis = []string{"v1", "v2", "v3"}

// validateAPI checks an output's api key.
func validateAPI(v *configfile.Validator, o *Output) {
	v.OneOf("api", o.API, apis...)
}

// setWriterIdentity gives the writer its output's name and write API.
// Until the writer knows either, only the v2 API can be honoured.
func setWriterIdentity(c *influxwriter.Config, name, api string) error {
	if api != "v2" {
		return fmt.Errorf("output %s: api %s: this build's InfluxDB writer speaks only the v2 write API", name, api)
	}
	return nil
}
