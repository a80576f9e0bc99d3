package deploy

import (
	"fmt"
	"regexp"
	"strings"
)

// interpolate expands a docker-compose value the way compose does with the
// variables of .env: $NAME, ${NAME}, ${NAME:-default}, ${NAME-default},
// ${NAME:?error}, ${NAME?error}, ${NAME:+alt}, ${NAME+alt}, defaults that
// nest further ${...}, and "$$" for a literal "$". Unset is "not in env".
func interpolate(s string, env map[string]string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' {
			b.WriteByte(s[i])
			continue
		}
		rest := s[i+1:]
		switch {
		case strings.HasPrefix(rest, "$"):
			b.WriteByte('$')
			i++
		case strings.HasPrefix(rest, "{"):
			end := closingBrace(rest)
			if end < 0 {
				return "", fmt.Errorf("%q: unclosed ${", s)
			}
			v, err := expandBraced(rest[1:end], env)
			if err != nil {
				return "", err
			}
			b.WriteString(v)
			i += 1 + end
		default:
			name := varName.FindString(rest)
			if name == "" {
				b.WriteByte('$')
				continue
			}
			b.WriteString(env[name])
			i += len(name)
		}
	}
	return b.String(), nil
}

var varName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*`)

// closingBrace returns the index in s (which starts with "{") of the brace
// that closes it, nested ${...} skipped; -1 if there is none.
func closingBrace(s string) int {
	depth := 0
	for i := 0; i < len(s); i++ {
		switch s[i] {
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

func expandBraced(body string, env map[string]string) (string, error) {
	name := varName.FindString(body)
	if name == "" {
		return "", fmt.Errorf("${%s}: not a variable name", body)
	}
	value, set := env[name]
	op := body[len(name):]
	switch {
	case op == "":
		return value, nil
	case strings.HasPrefix(op, ":-"):
		if value == "" {
			return interpolate(op[2:], env)
		}
		return value, nil
	case strings.HasPrefix(op, "-"):
		if !set {
			return interpolate(op[1:], env)
		}
		return value, nil
	case strings.HasPrefix(op, ":?"), strings.HasPrefix(op, "?"):
		if !set || (op[0] == ':' && value == "") {
			return "", fmt.Errorf("required variable %s is missing: %s", name, strings.TrimLeft(op, ":?"))
		}
		return value, nil
	case strings.HasPrefix(op, ":+"):
		if value != "" {
			return interpolate(op[2:], env)
		}
		return "", nil
	case strings.HasPrefix(op, "+"):
		if set {
			return interpolate(op[1:], env)
		}
		return "", nil
	}
	return "", fmt.Errorf("${%s}: unknown operator %q", body, op)
}
