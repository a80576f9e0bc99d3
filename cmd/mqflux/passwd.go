package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"golang.org/x/term"

	"github.com/mqflux/mqflux/passwd"
)

// runPasswd prints a bcrypt hash for config.yaml. From a terminal it asks
// twice without echo; otherwise it reads the first line of stdin, so that
// scripts can pipe a generated password in.
func runPasswd(p program, _ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("passwd", stderr)
	cost := fs.Int("cost", passwd.DefaultCost, "bcrypt cost (each step doubles the time of a check)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	secret, err := p.readSecret(stderr)
	if err != nil {
		return err
	}
	h, err := passwd.Hash(secret, *cost)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, h)
	return nil
}

func (p program) readSecret(stderr io.Writer) ([]byte, error) {
	if f, ok := p.stdin.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		fmt.Fprint(stderr, "Password: ")
		a, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return nil, fmt.Errorf("read password: %w", err)
		}
		fmt.Fprint(stderr, "Again: ")
		b, err := term.ReadPassword(int(f.Fd()))
		fmt.Fprintln(stderr)
		if err != nil {
			return nil, fmt.Errorf("read password: %w", err)
		}
		if string(a) != string(b) {
			return nil, errors.New("the passwords differ")
		}
		return a, nil
	}
	line, err := bufio.NewReader(p.stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read password from stdin: %w", err)
	}
	line = trimNewline(line)
	if line == "" {
		return nil, errors.New("no password on stdin")
	}
	return []byte(line), nil
}
