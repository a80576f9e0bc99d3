package mapping

import (
	"fmt"

	"github.com/mqflux/mqflux/topic"
)

// parseTemplate parses a topic template and refuses literal levels that
// could not be written as line protocol names, so that a layout never
// holds something the mapping would have to escape differently.
func parseTemplate(src string) (topic.Template, error) {
	t, err := topic.Parse(src)
	if err != nil {
		return topic.Template{}, err
	}
	for i, l := range t.Levels() {
		if l.Kind != topic.Literal || l.Text == "" {
			continue
		}
		if prob, at := nameProblem(l.Text); prob != "" {
			return topic.Template{}, fmt.Errorf("level %d %q: %s at byte %d", i+1, l.Text, prob, at)
		}
	}
	return t, nil
}

// capture is what a matching topic gave besides its tags: the measurement
// and the field name. Levels are 1-based for messages.
type capture struct {
	measurement      string
	measurementLevel int
	field            string
	fieldLevel       int
}

// match reports whether name matches t. On a match, captured tags are
// appended to sc.caps and the measurement and field are set in c; on a
// mismatch neither changes.
func match(t *topic.Template, name string, c *capture, sc *scratch) bool {
	vals, ok := t.Match(name, sc.levels[:0])
	sc.levels = vals[:0] // keep what the match grew
	if !ok {
		return false
	}
	levels := t.Levels()
	for i, v := range vals {
		switch l := levels[i]; l.Kind {
		case topic.Measurement:
			c.measurement, c.measurementLevel = v, i+1
		case topic.Field:
			c.field, c.fieldLevel = v, i+1
		case topic.Capture, topic.Multi:
			sc.caps = append(sc.caps, tag{key: l.Text, value: v, src: srcTopic, level: i + 1})
		}
	}
	return true
}
