package influxwriter

import (
	"net/http"

	"github.com/mqflux/mqflux/flow/influx"
)

// newSender builds the influx.Writer for cfg.API; cfg is validated and
// defaulted. The Writer's store logic (bisecting, splitting, retrying)
// sits above it and is the same for every API.
func newSender(cfg Config) influx.Writer {
	o := influx.WriteOptions{Org: cfg.Org}
	if cfg.Gzip {
		// Compressed by our transport, not the library (gzip.go).
		o.Transport = func(rt http.RoundTripper) http.RoundTripper { return newGzipTransport(rt, gzipLevel) }
	}
	return cfg.endpoint().NewWriter(o)
}

// endpoint is where cfg writes.
func (cfg Config) endpoint() influx.Endpoint {
	return influx.Endpoint{URL: cfg.URL, API: cfg.API, Token: cfg.Token, Bucket: cfg.Bucket, Timeout: cfg.Timeout}
}

// classify turns a write's error into a result: nil is stored.
func classify(err error) result {
	if err == nil {
		return result{outcome: stored}
	}
	e := influx.Classify(err)
	res := result{outcome: retry, code: e.Code(), reason: e.Reason, message: e.Message, retryAfter: e.RetryAfter}
	switch e.Class {
	case influx.Malformed:
		res.outcome = malformed
	case influx.TooLarge:
		res.outcome = tooLarge
	}
	return res
}
