package mapping

import "github.com/mqflux/mqflux/topic"

// Config is the `mapping:` section of config.yaml.
type Config struct {
	// Topics are tried in order; the first template that matches a topic
	// decides how its payload is read.
	Topics []TopicRule `yaml:"topics"`
	// LogsTemplate, when set (devices/{device}/logs), is where devices
	// publish log lines, stored as measurement logs (tags unit and level
	// beside the template's, fields message and pid): {"message": "...",
	// "pid": 42, "tags": {"unit": "sshd", "level": "info"}, "time": "..."}.
	// A JSON array of such objects is a batch of lines (the device agent
	// publishes them so). Tried after topics and presets; on by default
	// (topic.DefaultLogs), "" takes none.
	LogsTemplate string `yaml:"logs_template"`
	// StatusTemplate matches presence messages (online/offline); "" disables.
	StatusTemplate string `yaml:"status_template"`
	// StatusTemplates are further presence templates, each with its own
	// words, tried after StatusTemplate.
	StatusTemplates []StatusRule `yaml:"status_templates"`
	// Presets name layouts shipped with mqflux (presets.go), expanded into
	// topics and status templates after the configured ones, so that a
	// configured template always wins.
	Presets []string `yaml:"presets"`
	// Timezone is where a payload time without a zone was taken (an IANA
	// name such as Europe/Berlin).
	Timezone string `yaml:"timezone"`
	// TimePrecision is the unit of integer epoch times in payloads:
	// s, ms, us or ns.
	TimePrecision   string `yaml:"time_precision"`
	MaxPayloadBytes int    `yaml:"max_payload_bytes"`
	MaxFields       int    `yaml:"max_fields"`
	MaxTags         int    `yaml:"max_tags"`
	MaxStringBytes  int    `yaml:"max_string_bytes"`
	// MaxDepth bounds the nesting of a JSON payload (the top object is
	// depth 1), checked while reading, so that a deep payload costs no
	// more than its bytes.
	MaxDepth int `yaml:"max_depth"`
	// MaxKeyBytes bounds a field or tag key, a flattened one checked
	// before it is joined from its parents' names.
	MaxKeyBytes int `yaml:"max_key_bytes"`
}

// TopicRule maps the topics matching Template to points.
type TopicRule struct {
	Template string `yaml:"template"`
	// Format is "auto" (a bare number or JSON), "text" (as auto, but a
	// payload that is neither is one string field) or "line" (line
	// protocol).
	Format string `yaml:"format"`
	// Measurement names the measurement when the template has no
	// {measurement} level.
	Measurement string `yaml:"measurement,omitempty"`
	// Tags are added to every point of this rule.
	Tags map[string]string `yaml:"tags"`
	// TimePrecision overrides the global time_precision for this rule.
	TimePrecision string `yaml:"time_precision,omitempty"`
	// Ignore takes the matching topics without storing or dead-lettering
	// them: commands, replies and a gateway's own bookkeeping.
	Ignore bool `yaml:"ignore,omitempty"`
	// Objects says what a nested JSON object becomes: refuse (the
	// default), flatten (fields named parent<separator>child) or points
	// (each object at the top level is a point of its own, tagged
	// object_tag=<its key>; deeper ones are flattened).
	Objects   string `yaml:"objects,omitempty"`
	ObjectTag string `yaml:"object_tag,omitempty"`
	// Separator joins the names of flattened objects and indexed arrays;
	// default "_".
	Separator string `yaml:"separator,omitempty"`
	// Arrays is refuse (the default) or index (elements become fields
	// name<separator>0, name<separator>1, ...).
	Arrays string `yaml:"arrays,omitempty"`
	// Nulls is refuse (the default) or skip (a null field is left out).
	Nulls string `yaml:"nulls,omitempty"`
	// TimeKey is the payload member holding the reading's time; default
	// "time".
	TimeKey string `yaml:"time_key,omitempty"`
	// Root, when set, reads the fields (and the time) from that member of
	// the payload object and skips the other members.
	Root string `yaml:"root,omitempty"`
}

// StatusRule maps presence messages on Template to device_status. The
// payload is one of the words (compared without regard to case), plain or,
// with Key, as that member of a JSON object ({"state": "online"}); a plain
// word is accepted with Key set too.
type StatusRule struct {
	Template string   `yaml:"template"`
	Online   []string `yaml:"online,omitempty"`  // default [online]
	Offline  []string `yaml:"offline,omitempty"` // default [offline]
	Key      string   `yaml:"key,omitempty"`
}

// The values of TopicRule.Objects, Arrays and Nulls.
const (
	Refuse  = "refuse"
	Flatten = "flatten"
	Points  = "points"
	Index   = "index"
	Skip    = "skip"
)

// Formats a topic rule accepts.
const (
	FormatAuto = "auto"
	FormatLine = "line"
	FormatText = "text"
)

// DefaultConfig is the default layout: readings under
// devices/{device}/sensors/{measurement}, presence under devices/{device}/status.
// LogsMeasurement is where LogsTemplate's lines are stored.
const LogsMeasurement = "logs"

func DefaultConfig() Config {
	return Config{
		Topics: []TopicRule{{
			Template: topic.DefaultReadings,
			Format:   FormatAuto,
			Tags:     map[string]string{},
		}},
		StatusTemplate:  topic.DefaultStatus,
		LogsTemplate:    topic.DefaultLogs,
		StatusTemplates: []StatusRule{},
		Presets:         []string{},
		Timezone:        "UTC",
		TimePrecision:   "s",
		MaxPayloadBytes: 65536,
		MaxFields:       64,
		MaxTags:         32,
		MaxStringBytes:  4096,
		MaxDepth:        16,
		MaxKeyBytes:     256,
	}
}
