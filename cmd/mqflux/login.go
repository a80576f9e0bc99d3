package main

import (
	"flag"
	"fmt"
	"os"
	"strings"
)

// loginFlags are -user and -password-file, of a command that asks the
// server's HTTP API, which wants a login beyond loopback.
type loginFlags struct {
	user, passFile *string
}

// addLoginFlags defines them on fs; who says which users may (admin, or
// reader or admin).
func addLoginFlags(fs *flag.FlagSet, who string) loginFlags {
	return loginFlags{
		user:     fs.String("user", "", who+" user, when the server's HTTP API is beyond loopback"),
		passFile: fs.String("password-file", "", "file holding that user's password"),
	}
}

// login is the user and the password from its file, white space around it
// trimmed (a file ends with a newline); without a file, no password.
func (l loginFlags) login() ([2]string, error) {
	login := [2]string{*l.user}
	if *l.passFile != "" {
		pw, err := os.ReadFile(*l.passFile)
		if err != nil {
			return login, fmt.Errorf("password-file: %w", err)
		}
		login[1] = strings.TrimSpace(string(pw))
	}
	return login, nil
}
