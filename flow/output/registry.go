package output

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/mqflux/mqflux/flow/history"
	"github.com/mqflux/mqflux/flow/influx"
	"github.com/mqflux/mqflux/internal/configfile"
	"github.com/mqflux/mqflux/internal/kinds"
)

// A kind of output registers itself from its package's init, in the manner
// of database/sql drivers and Telegraf's outputs.Add: the server links the
// package, and an outputs: entry naming the kind gets its configuration
// decoded into the kind's own Config and its Output built by the kind's New.
// The server knows nothing else of a kind.

// Config is one output's own keys: the keys of an outputs: entry beyond
// name, kind, required and max_lag. DefaultConfig returns a pointer to a
// struct with yaml tags holding the defaults; the server decodes the
// entry's other keys into it, strictly (an unknown key is an error with its
// line), and calls Validate.
//
// A Config may also be a Feeder (how the pipeline batches for it), a
// Describer (what the health views show of it) and a Querier (its store
// answers InfluxQL).
type Config interface {
	// Validate reports every problem to v, keys relative to the entry.
	Validate(v *configfile.Validator)
}

// Kind is what a kind of output registers: its configuration's defaults
// and how to build one.
type Kind struct {
	// DefaultConfig returns a new Config holding the defaults.
	DefaultConfig func() Config
	// New builds the output named name from a Config DefaultConfig
	// returned, decoded and validated. log already names the output.
	New func(name string, c Config, log *slog.Logger) (Output, error)
}

// newFunc builds one output of a kind.
type newFunc = func(name string, c Config, log *slog.Logger) (Output, error)

// registry is the same registry notifiers and inputs use (internal/kinds),
// filled by init functions and only read afterwards.
var registry = kinds.New[newFunc]("output")

// Register makes a kind of output available under name. It is meant for
// init functions and panics when name is taken or k is incomplete, so that
// a mistake shows at the start of every run, tests included.
func Register(name string, k Kind) {
	if name == "" || k.DefaultConfig == nil || k.New == nil {
		panic(fmt.Sprintf("output.Register(%q): a kind needs a name, DefaultConfig and New", name))
	}
	registry.Register(name, func() kinds.Settings { return k.DefaultConfig() }, k.New)
}

// Lookup returns the kind registered as name.
func Lookup(name string) (Kind, bool) {
	k, ok := registry.Lookup(name)
	if !ok {
		return Kind{}, false
	}
	return Kind{DefaultConfig: func() Config { return k.Settings().(Config) }, New: k.New}, true
}

// Kinds lists the registered kinds, sorted, for error messages.
func Kinds() []string { return registry.Names() }

// Feed is how the pipeline feeds one output from the spool; a zero field
// takes the pipeline's default.
type Feed struct {
	BatchSize     int           // records per Write
	FlushInterval time.Duration // Write a partial batch after this long
	Concurrency   int           // Writes in flight
	MaxBackoff    time.Duration // longest wait between attempts at a batch
	// DrainTimeout is how long a stopping server keeps writing to this
	// output what the spool holds.
	DrainTimeout time.Duration
}

// Feeder is a Config with keys of its own for how it is fed.
type Feeder interface {
	Feed() Feed
}

// FeedOf is c's Feed when it is a Feeder, else the defaults (zero).
func FeedOf(c Config) Feed {
	if f, ok := c.(Feeder); ok {
		return f.Feed()
	}
	return Feed{}
}

// Description is what the health views (/healthz, /v1/pipeline, the
// console) show of an output beside its name and kind.
type Description struct {
	// Target is where the output writes: a URL, a path, a DSN without its
	// secret.
	Target string `json:"target"`
	// Details are further short facts worth showing (an API version, a
	// database), by name. Never a secret.
	Details map[string]string `json:"details,omitempty"`
}

// Describer is a Config that says what the views show of it.
type Describer interface {
	Describe() Description
}

// Describe is c's Description when it is a Describer, else empty.
func Describe(c Config) Description {
	if d, ok := c.(Describer); ok {
		return d.Describe()
	}
	return Description{}
}

// Querier is a Config whose store answers InfluxQL: when the first output
// is one, the console's charts (/v1/history) and field-type learning ask
// it; otherwise the charts are unavailable and field types are learnt from
// readings alone.
type Querier interface {
	// QueryEndpoint is where the store answers InfluxQL (GET /query) and
	// how to authenticate there.
	QueryEndpoint() influx.Endpoint
}

// Historian is a Config whose store answers the console's history
// queries (/v1/history) in a language of its own, SQL say; a Querier
// answers them in InfluxQL. The first output's is asked.
type Historian interface {
	HistorySource() history.Source
}
