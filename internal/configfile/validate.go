package configfile

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"
)

// Validator collects the problems of a configuration, each naming its key
// path, what is wrong and what is allowed, so that a user fixes them all in
// one pass. A package checks its own section through the Validator for that
// section and need not know where the section sits in the file. The zero
// value is ready to use.
type Validator struct {
	prefix string
	list   *Problems
}

// Section returns the Validator for the keys under name ("broker", or
// "legacy" below "http"); its problems join the same list.
func (v *Validator) Section(name string) *Validator {
	v.init()
	return &Validator{prefix: v.Key(name), list: v.list}
}

func (v *Validator) init() {
	if v.list == nil {
		v.list = new(Problems)
	}
}

// Key is the full path of key in this section, for messages that name a
// neighbouring key; "" is the section itself.
func (v *Validator) Key(key string) string {
	switch {
	case key == "":
		return v.prefix
	case v.prefix == "" || strings.HasPrefix(key, "["):
		return v.prefix + key
	}
	return v.prefix + "." + key
}

// Add records a problem of key ("" for the section as a whole).
func (v *Validator) Add(key, format string, args ...any) {
	v.Report(fmt.Errorf("%s: %s", v.Key(key), fmt.Sprintf(format, args...)))
}

// Report records an error that already names its key, such as one returned
// by a constructor that checks its own arguments.
func (v *Validator) Report(err error) {
	v.init()
	*v.list = append(*v.list, err)
}

// Err is every problem found, as Problems, or nil.
func (v *Validator) Err() error {
	if v.list == nil || len(*v.list) == 0 {
		return nil
	}
	return *v.list
}

// NonEmpty wants s to hold more than spaces.
func (v *Validator) NonEmpty(key, s string) {
	if strings.TrimSpace(s) == "" {
		v.Add(key, "must not be empty")
	}
}

// OneOf wants s to be one of allowed.
func (v *Validator) OneOf(key, s string, allowed ...string) {
	for _, a := range allowed {
		if s == a {
			return
		}
	}
	v.Add(key, "%q is not allowed; use one of %s", s, strings.Join(allowed, ", "))
}

// Between wants lo <= n <= hi.
func (v *Validator) Between(key string, n, lo, hi int) {
	if n < lo || n > hi {
		v.Add(key, "%d is out of range; allowed %d to %d", n, lo, hi)
	}
}

// AtLeast wants a size of at least lo.
func (v *Validator) AtLeast(key string, n, lo Size) {
	if n < lo {
		v.Add(key, "%s is too small; at least %s", n, withUnit(lo))
	}
}

// withUnit writes a size with its unit even below 1KiB ("256B"), which
// reads better as a limit than a bare number.
func withUnit(z Size) string {
	s := z.String()
	if strings.HasSuffix(s, "B") {
		return s
	}
	return s + "B"
}

// DurationBetween wants lo <= d <= hi.
func (v *Validator) DurationBetween(key string, d, lo, hi time.Duration) {
	if d < lo || d > hi {
		v.Add(key, "%s is out of range; allowed %s to %s", d, lo, hi)
	}
}

// Address wants host:port with a port from 0 to 65535; "" (a disabled
// listener) only when emptyOK.
func (v *Validator) Address(key, addr string, emptyOK bool) {
	if addr == "" {
		if !emptyOK {
			v.Add(key, "required, e.g. 127.0.0.1:1883")
		}
		return
	}
	// Any host is accepted: IsLoopback judges it where that matters.
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		v.Add(key, "%q is not host:port (e.g. 127.0.0.1:1883, :1883, [::1]:1883)", addr)
		return
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		v.Add(key, "port %q is not a number from 0 to 65535", port)
	}
}

// IsLoopback reports whether a listener address accepts connections only
// from this machine. An empty host listens everywhere; an empty address
// is a disabled listener.
func IsLoopback(addr string) bool {
	if addr == "" {
		return true
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// IsName reports whether s is 1 to 64 ASCII letters, digits, '-', '_' or
// '.': such names of users, devices and clients are usable as MQTT topic
// levels and InfluxDB tag values without escaping surprises.
func IsName(s string) bool {
	if len(s) < 1 || len(s) > 64 {
		return false
	}
	for _, c := range []byte(s) {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
		if !ok {
			return false
		}
	}
	return true
}
