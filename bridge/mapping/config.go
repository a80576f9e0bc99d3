package mapping

import "github.com/mqflux/mqflux/topic"

// Config is the `mapping:` section of config.yaml.
type Config struct {
	// Topics are tried in order; the first template that matches a topic
	// decides how its payload is read.
	Topics []TopicRule `yaml:"topics"`
	// StatusTemplate matches presence messages (online/offline); "" disables.
	StatusTemplate string `yaml:"status_template"`
	// TimePrecision is the unit of integer epoch times in payloads:
	// s, ms, us or ns.
	TimePrecision   string `yaml:"time_precision"`
	MaxPayloadBytes int    `yaml:"max_payload_bytes"`
	MaxFields       int    `yaml:"max_fields"`
	MaxTags         int    `yaml:"max_tags"`
	MaxStringBytes  int    `yaml:"max_string_bytes"`
}

// TopicRule maps the topics matching Template to points.
type TopicRule struct {
	Template string `yaml:"template"`
	// Format is "auto" (a bare number or JSON) or "line" (line protocol).
	Format string `yaml:"format"`
	// Measurement names the measurement when the template has no
	// {measurement} level.
	Measurement string `yaml:"measurement,omitempty"`
	// Tags are added to every point of this rule.
	Tags map[string]string `yaml:"tags"`
	// TimePrecision overrides the global time_precision for this rule.
	TimePrecision string `yaml:"time_precision,omitempty"`
}

// Formats a topic rule accepts.
const (
	FormatAuto = "auto"
	FormatLine = "line"
)

// DefaultConfig is the default layout: readings under
// devices/{device}/sensors/{measurement}, presence under devices/{device}/status.
func DefaultConfig() Config {
	return Config{
		Topics: []TopicRule{{
			Template: topic.DefaultReadings,
			Format:   FormatAuto,
			Tags:     map[string]string{},
		}},
		StatusTemplate:  topic.DefaultStatus,
		TimePrecision:   "s",
		MaxPayloadBytes: 65536,
		MaxFields:       64,
		MaxTags:         32,
		MaxStringBytes:  4096,
	}
}
