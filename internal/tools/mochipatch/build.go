package main

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// ours reports whether rel is a file of the vendored tree that no patch
// makes: the series itself.
func ours(rel string) bool { return rel == "patches" || strings.HasPrefix(rel, "patches/") }

// pristine copies the upstream release, less what is not vendored, into
// dst and makes dst a git repository of its own, so that git apply takes
// the patches' paths relative to it wherever dst is.
func (t *tree) pristine(upstream, dst string) error {
	if err := copyTree(upstream, dst, t.excluded); err != nil {
		return fmt.Errorf("copy %s@%s: %w", t.module, t.version, err)
	}
	_, err := git(dst, "init", "-q")
	return err
}

// build makes upstream + the first n patches in dst.
func (t *tree) build(upstream, dst string, n int) error {
	if err := t.pristine(upstream, dst); err != nil {
		return err
	}
	for _, p := range t.series[:n] {
		if _, err := git(dst, "apply", "--whitespace=nowarn", p); err != nil {
			return fmt.Errorf("apply patches/%s: %w", filepath.Base(p), err)
		}
	}
	return nil
}

// check rebuilds the tree from upstream and the series in a temporary
// directory and fails, with a diff on w, on any difference from the
// vendored tree. It also checks that PATCHES.md has one section per patch
// and that each Upstream-ready patch applies to the release alone.
func (t *tree) check(w io.Writer) error {
	up, err := t.upstreamDir()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "mochi-check-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	built := filepath.Join(tmp, "upstream+patches")
	if err := t.build(up, built, len(t.series)); err != nil {
		return err
	}
	var problems []string
	diffs, err := t.compare(built, filepath.Join(tmp, "vendored"))
	if err != nil {
		return err
	}
	if len(diffs) > 0 {
		problems = append(problems, diffs...)
	}
	secs, err := t.sections()
	if err != nil {
		return err
	}
	if len(secs) != len(t.series) {
		problems = append(problems, fmt.Sprintf("PATCHES.md has %d sections and patches/ %d patches: one patch per section (make mochi-patch writes the next)", len(secs), len(t.series)))
	}
	alone, err := t.applyAlone(up, filepath.Join(tmp, "alone"))
	if err != nil {
		return err
	}
	problems = append(problems, alone...)
	if len(problems) > 0 {
		return fmt.Errorf("%s is not %s@%s + patches/:\n  %s\n"+
			"A change to the vendored tree is kept as a patch: add its section at the end of PATCHES.md, then make mochi-patch (patches/README.md).",
			t.dir, t.module, t.version, strings.Join(problems, "\n  "))
	}
	fmt.Fprintf(w, "%s is %s@%s + %d patches, byte for byte\n", t.dir, t.module, t.version, len(t.series))
	return nil
}

// compare lists the files that differ between built and the vendored
// tree, the last item a diff of them (made in diffDir, a scratch
// directory for git diff --no-index).
func (t *tree) compare(built, diffDir string) ([]string, error) {
	a, err := files(built, func(rel string) bool { return rel == ".git" })
	if err != nil {
		return nil, err
	}
	b, err := files(t.dir, ours)
	if err != nil {
		return nil, err
	}
	inA := map[string]bool{}
	for _, rel := range a {
		inA[rel] = true
	}
	var out []string
	for _, rel := range b {
		if !inA[rel] {
			out = append(out, rel+": in the vendored tree, made by no patch")
			continue
		}
		delete(inA, rel)
		x, err := os.ReadFile(filepath.Join(built, rel))
		if err != nil {
			return nil, err
		}
		y, err := os.ReadFile(filepath.Join(t.dir, rel))
		if err != nil {
			return nil, err
		}
		if !bytes.Equal(x, y) {
			out = append(out, rel+": differs from upstream + patches")
		}
	}
	for rel := range inA {
		out = append(out, rel+": in upstream + patches, missing from the vendored tree")
	}
	sort.Strings(out)
	if len(out) > 0 {
		d, err := t.diff(built, diffDir, out)
		if err != nil {
			return nil, err
		}
		out = append(out, "the difference, upstream+patches → vendored:\n"+d)
	}
	return out, nil
}

// diff shows the files named in problems (each "path: why") as a diff
// from built to the vendored tree, with paths relative to the module.
func (t *tree) diff(built, scratch string, problems []string) (string, error) {
	for _, side := range []struct{ from, to string }{{built, "upstream+patches"}, {t.dir, "vendored"}} {
		for _, p := range problems {
			rel, _, _ := strings.Cut(p, ": ")
			b, err := os.ReadFile(filepath.Join(side.from, rel))
			if os.IsNotExist(err) {
				continue
			}
			if err != nil {
				return "", err
			}
			dst := filepath.Join(scratch, side.to, rel)
			if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
				return "", err
			}
			if err := os.WriteFile(dst, b, 0o644); err != nil {
				return "", err
			}
		}
		if err := os.MkdirAll(filepath.Join(scratch, side.to), 0o755); err != nil {
			return "", err
		}
	}
	return git(scratch, "diff", "--no-index", "--no-color", "--no-ext-diff", "upstream+patches", "vendored")
}

// applyAlone checks that each Upstream-ready patch applies to the release
// on its own (PATCHES.md aside, which only the series builds up).
func (t *tree) applyAlone(upstream, dst string) ([]string, error) {
	var problems []string
	ready := false
	for _, p := range t.series {
		ok, err := upstreamReady(p)
		if err != nil {
			return nil, err
		}
		if !ok {
			continue
		}
		if !ready {
			if err := t.pristine(upstream, dst); err != nil {
				return nil, err
			}
			ready = true
		}
		if _, err := git(dst, "apply", "--check", "--exclude=PATCHES.md", p); err != nil {
			problems = append(problems, fmt.Sprintf("patches/%s is marked Upstream-ready but does not apply to %s alone: %v", filepath.Base(p), t.version, err))
		}
	}
	return problems, nil
}

// add writes the difference between upstream + the series and the
// vendored tree as the next patch, its header taken from the one
// PATCHES.md section that has no patch yet, and checks the result.
func (t *tree) add(name string) (string, error) {
	secs, err := t.sections()
	if err != nil {
		return "", err
	}
	if len(secs) != len(t.series)+1 {
		return "", fmt.Errorf("PATCHES.md has %d sections for %d patches: add exactly one section at its end, describing the change (what, tests, why upstream should take it)", len(secs), len(t.series))
	}
	sec := secs[len(secs)-1]
	up, err := t.upstreamDir()
	if err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp("", "mochi-patch-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	work := filepath.Join(tmp, "work")
	if err := t.build(up, work, len(t.series)); err != nil {
		return "", err
	}
	if err := t.stage(work, "upstream + patches"); err != nil {
		return "", err
	}
	// The vendored tree replaces the built one, so that deleted files
	// show as deleted.
	entries, err := os.ReadDir(work)
	if err != nil {
		return "", err
	}
	for _, e := range entries {
		if e.Name() != ".git" {
			if err := os.RemoveAll(filepath.Join(work, e.Name())); err != nil {
				return "", err
			}
		}
	}
	if err := copyTree(t.dir, work, ours); err != nil {
		return "", err
	}
	if _, err := git(work, "add", "-A"); err != nil {
		return "", err
	}
	opts := []string{"diff", "--cached", "--no-color", "--no-ext-diff", "--no-renames", "--src-prefix=a/", "--dst-prefix=b/"}
	stat, err := git(work, append(opts, "--stat=80")...)
	if err != nil {
		return "", err
	}
	patch, err := git(work, opts...)
	if err != nil {
		return "", err
	}
	if patch == "" {
		return "", fmt.Errorf("the vendored tree is upstream + patches already: nothing to add")
	}
	if name == "" {
		name = slug(sec.heading)
	}
	file := filepath.Join(t.patches, fmt.Sprintf("%04d-%s.patch", len(t.series)+1, name))
	if !patchName.MatchString(filepath.Base(file)) {
		return "", fmt.Errorf("%s: a patch is named NNNN-short-name.patch (lower case, digits, dashes)", filepath.Base(file))
	}
	body := sec.header(len(t.series)+1) + "---\n" + stat + "\n" + patch
	if err := os.WriteFile(file, []byte(body), 0o644); err != nil {
		return "", err
	}
	t.series = append(t.series, file)
	if err := t.check(io.Discard); err != nil {
		os.Remove(file)
		return "", fmt.Errorf("the new patch does not rebuild the tree, removed it: %w", err)
	}
	return file, nil
}

// stage commits everything in work.
func (t *tree) stage(work, msg string) error {
	if _, err := git(work, "add", "-A"); err != nil {
		return err
	}
	_, err := git(work, "commit", "-q", "--no-verify", "-m", msg)
	return err
}

// touchedPackages lists the directories of the Go files a patch changes,
// as ./pkg patterns.
func touchedPackages(patch string) ([]string, error) {
	b, err := os.ReadFile(patch)
	if err != nil {
		return nil, err
	}
	seen := map[string]bool{}
	for _, m := range regexp.MustCompile(`(?m)^diff --git a/(\S+\.go) b/`).FindAllStringSubmatch(string(b), -1) {
		seen["./"+filepath.ToSlash(filepath.Dir(m[1]))] = true
	}
	var out []string
	for p := range seen {
		out = append(out, p)
	}
	sort.Strings(out)
	return out, nil
}
