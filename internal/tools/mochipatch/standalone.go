package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
)

// standalone applies each Upstream-ready patch alone to the release in a
// temporary directory (PATCHES.md aside) and runs go vet and, with -race,
// the tests its header names in every package it touches there (full: the
// packages' whole suites too): what a pull request of that one patch to
// upstream would have to pass.
func (t *tree) standalone(stdout, stderr io.Writer, full bool) error {
	up, err := t.upstreamDir()
	if err != nil {
		return err
	}
	var failed []string
	n := 0
	for _, p := range t.series {
		ok, err := upstreamReady(p)
		if err != nil {
			return err
		}
		if !ok {
			continue
		}
		n++
		name := filepath.Base(p)
		fmt.Fprintf(stdout, "== %s alone on %s@%s\n", name, t.module, t.version)
		if err := t.aloneTests(up, p, full, stdout, stderr); err != nil {
			fmt.Fprintf(stdout, "FAIL %s: %v\n", name, err)
			failed = append(failed, name)
			continue
		}
		fmt.Fprintf(stdout, "ok %s\n", name)
	}
	if len(failed) > 0 {
		return fmt.Errorf("not standing alone: %s", strings.Join(failed, ", "))
	}
	what := "the tests they name"
	if full {
		what += " and the whole suites of the packages they touch"
	}
	fmt.Fprintf(stdout, "%d Upstream-ready patches each pass go vet and %s on %s alone\n", n, what, t.version)
	return nil
}

func (t *tree) aloneTests(up, patch string, full bool, stdout, stderr io.Writer) error {
	tmp, err := os.MkdirTemp("", "mochi-alone-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if err := t.pristine(up, tmp); err != nil {
		return err
	}
	if _, err := git(tmp, "apply", "--whitespace=nowarn", "--exclude=PATCHES.md", patch); err != nil {
		return err
	}
	pkgs, err := touchedPackages(patch)
	if err != nil {
		return err
	}
	if len(pkgs) == 0 {
		return fmt.Errorf("touches no Go package")
	}
	names, err := namedTests(patch)
	if err != nil {
		return err
	}
	if _, err := goIn(tmp, stdout, stderr, append([]string{"vet"}, pkgs...)...); err != nil {
		return err
	}
	out, err := goIn(tmp, stdout, stderr, append([]string{"test", "-race", "-count=1", "-v", "-run", "^(" + strings.Join(names, "|") + ")$"}, pkgs...)...)
	if err != nil {
		return err
	}
	for _, n := range names {
		if !strings.Contains(out, "--- PASS: "+n+" ") {
			return fmt.Errorf("%s, named in its header, did not run and pass", n)
		}
	}
	if !full {
		return nil
	}
	// Upstream's own suite has tests that give a goroutine a millisecond
	// (time.Sleep) and fail now and then on a loaded machine, the release
	// alone too: one more run before a failure counts.
	args := append([]string{"test", "-count=1"}, pkgs...)
	if _, err := goIn(tmp, stdout, stderr, args...); err != nil {
		fmt.Fprintln(stdout, "the whole suites failed once; running them again")
		if _, err := goIn(tmp, stdout, stderr, args...); err != nil {
			return err
		}
	}
	return nil
}

// goIn runs go in dir, its output both shown and returned.
func goIn(dir string, stdout, stderr io.Writer, args ...string) (string, error) {
	var buf bytes.Buffer
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOWORK=off")
	cmd.Stdout, cmd.Stderr = io.MultiWriter(stdout, &buf), stderr
	if err := cmd.Run(); err != nil {
		return buf.String(), fmt.Errorf("go %s: %w", strings.Join(args, " "), err)
	}
	return buf.String(), nil
}

// namedTests lists the tests a patch's header names in its "Tests:"
// paragraph.
func namedTests(patch string) ([]string, error) {
	b, err := os.ReadFile(patch)
	if err != nil {
		return nil, err
	}
	head, _, _ := strings.Cut(string(b), "\n---\n")
	_, tests, ok := strings.Cut(head, "\nTests:")
	tests, _, _ = strings.Cut(tests, "\n\n")
	names := regexp.MustCompile("`(Test[A-Za-z0-9_]+)`").FindAllStringSubmatch(tests, -1)
	if !ok || len(names) == 0 {
		return nil, fmt.Errorf("%s: its header names no test (a Tests: paragraph with `TestX`)", filepath.Base(patch))
	}
	var out []string
	for _, m := range names {
		out = append(out, m[1])
	}
	return out, nil
}
