package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
)

// tree is a vendored module and the series that makes it from upstream.
type tree struct {
	dir     string   // the vendored tree
	patches string   // dir/patches: the series and what it applies to
	module  string   // upstream module path
	version string   // upstream version
	sums    []string // the module's go.sum lines (zip and go.mod)
	exclude []string // upstream paths that are not vendored
	series  []string // patch files, in order
}

var patchName = regexp.MustCompile(`^(\d{4})-[a-z0-9][a-z0-9-]*\.patch$`)

func openTree(dir string) (*tree, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	t := &tree{dir: abs, patches: filepath.Join(abs, "patches")}
	if err := t.readUpstream(); err != nil {
		return nil, err
	}
	if t.exclude, err = readList(filepath.Join(t.patches, "upstream.exclude")); err != nil {
		return nil, err
	}
	entries, err := os.ReadDir(t.patches)
	if err != nil {
		return nil, fmt.Errorf("read the series: %w", err)
	}
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".patch") {
			continue
		}
		m := patchName.FindStringSubmatch(e.Name())
		if m == nil {
			return nil, fmt.Errorf("patches/%s: a patch is named NNNN-short-name.patch (lower case, digits, dashes)", e.Name())
		}
		if want := fmt.Sprintf("%04d", len(t.series)+1); m[1] != want {
			return nil, fmt.Errorf("patches/%s: expected number %s next (the series is numbered 0001, 0002, … without gaps)", e.Name(), want)
		}
		t.series = append(t.series, filepath.Join(t.patches, e.Name()))
	}
	return t, nil
}

// readUpstream reads the module and version from patches/upstream.mod and
// their go.sum lines from patches/upstream.sum.
func (t *tree) readUpstream() error {
	mod := filepath.Join(t.patches, "upstream.mod")
	lines, err := readList(mod)
	if err != nil {
		return err
	}
	for _, l := range lines {
		if f := strings.Fields(l); len(f) == 3 && f[0] == "require" {
			t.module, t.version = f[1], f[2]
		}
	}
	if t.module == "" {
		return fmt.Errorf("%s: no line require <module> <version>", mod)
	}
	sum := filepath.Join(t.patches, "upstream.sum")
	lines, err = readList(sum)
	if err != nil {
		return err
	}
	for _, want := range []string{t.module + " " + t.version + " h1:", t.module + " " + t.version + "/go.mod h1:"} {
		found := false
		for _, l := range lines {
			if strings.HasPrefix(l, want) {
				t.sums, found = append(t.sums, l), true
			}
		}
		if !found {
			return fmt.Errorf("%s: no line %q…: the download would not be checked against a hash kept here", sum, want)
		}
	}
	return nil
}

// readList returns the lines of a file that are neither blank nor
// comments (# or //), trimmed.
func readList(file string) ([]string, error) {
	b, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", file, err)
	}
	var out []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") || strings.HasPrefix(l, "//") {
			continue
		}
		out = append(out, l)
	}
	return out, nil
}

// upstreamDir downloads the release through the module proxy (or finds it
// in the module cache) and returns its directory. go verifies the download
// against patches/upstream.sum; its answer is compared with it again so
// that a line go would have added itself cannot pass.
func (t *tree) upstreamDir() (string, error) {
	cmd := exec.Command("go", "mod", "download", "-modfile="+filepath.Join(t.patches, "upstream.mod"), "-json", t.module+"@"+t.version)
	cmd.Dir = t.patches
	cmd.Env = append(os.Environ(), "GOWORK=off")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	var info struct{ Dir, Sum, Error string }
	if jerr := json.Unmarshal(out, &info); jerr != nil || err != nil || info.Error != "" {
		return "", fmt.Errorf("download %s@%s: %v %s %s", t.module, t.version, err, info.Error, strings.TrimSpace(stderr.String()))
	}
	if want := strings.Fields(t.sums[0])[2]; info.Sum != want {
		return "", fmt.Errorf("download %s@%s: hash %s, patches/upstream.sum has %s", t.module, t.version, info.Sum, want)
	}
	return info.Dir, nil
}

// excluded reports whether rel (slash-separated, relative to the module)
// is an upstream path that is not vendored.
func (t *tree) excluded(rel string) bool {
	for _, x := range t.exclude {
		if rel == x || strings.HasPrefix(rel, x+"/") {
			return true
		}
	}
	return false
}

// section is one "## " section of PATCHES.md.
type section struct {
	heading    string
	paragraphs []string
}

// sections reads the "## " sections of the vendored PATCHES.md: one per
// patch, in the series' order.
func (t *tree) sections() ([]section, error) {
	b, err := os.ReadFile(filepath.Join(t.dir, "PATCHES.md"))
	if err != nil {
		return nil, fmt.Errorf("read PATCHES.md: %w", err)
	}
	var out []section
	var para []string
	flush := func() {
		if len(out) > 0 && len(para) > 0 {
			s := &out[len(out)-1]
			s.paragraphs = append(s.paragraphs, strings.Join(para, "\n"))
		}
		para = nil
	}
	for _, l := range strings.Split(string(b), "\n") {
		switch {
		case strings.HasPrefix(l, "## "):
			flush()
			out = append(out, section{heading: strings.TrimSpace(l[3:])})
		case strings.TrimSpace(l) == "":
			flush()
		default:
			para = append(para, l)
		}
	}
	flush()
	return out, nil
}

// header is what a patch file says before its diff: the section's heading
// as the subject, its tests, why upstream should take it and whether it
// stands alone on the release (its "Upstream-ready:" paragraph, which
// check and standalone look for).
func (s section) header(n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Subject: [PATCH %04d] %s\n", n, s.heading)
	var picked []string
	for _, p := range s.paragraphs {
		if strings.HasPrefix(p, "Why upstream should take it:") || strings.HasPrefix(p, "Tests:") || strings.HasPrefix(p, "Upstream-ready:") {
			picked = append(picked, p)
		}
	}
	if len(picked) == 0 && len(s.paragraphs) > 0 {
		picked = s.paragraphs[:1]
	}
	for _, p := range picked {
		b.WriteString("\n" + p + "\n")
	}
	b.WriteString("\nDescribed in full in PATCHES.md, under the same heading.\n")
	return b.String()
}

// upstreamReady reports whether a patch's header marks it as one that
// applies to the release on its own (a line "Upstream-ready: …").
func upstreamReady(patch string) (bool, error) {
	b, err := os.ReadFile(patch)
	if err != nil {
		return false, err
	}
	head, _, _ := strings.Cut(string(b), "\n---\n")
	for _, l := range strings.Split(head, "\n") {
		if strings.HasPrefix(l, "Upstream-ready:") {
			return true, nil
		}
	}
	return false, nil
}

// slug makes a short file name from a heading: its first words, lower case.
func slug(heading string) string {
	words := strings.FieldsFunc(strings.ToLower(heading), func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9')
	})
	var out []string
	n := 0
	for _, w := range words {
		if n+len(w) > 40 {
			break
		}
		out = append(out, w)
		n += len(w) + 1
	}
	if len(out) == 0 {
		return "change"
	}
	return strings.Join(out, "-")
}

// files lists the regular files under dir, slash-separated and relative,
// sorted, leaving out what skip says.
func files(dir string, skip func(rel string) bool) ([]string, error) {
	var out []string
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		rel = filepath.ToSlash(rel)
		if rel == "." {
			return nil
		}
		if skip(rel) {
			if d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if d.IsDir() {
			return nil
		}
		if !d.Type().IsRegular() {
			return fmt.Errorf("%s: not a regular file", p)
		}
		out = append(out, rel)
		return nil
	})
	sort.Strings(out)
	return out, err
}

// copyTree copies the regular files of src to dst, leaving out what skip
// says; files are writable (the module cache's are not).
func copyTree(src, dst string, skip func(rel string) bool) error {
	list, err := files(src, skip)
	if err != nil {
		return fmt.Errorf("list %s: %w", src, err)
	}
	for _, rel := range list {
		from, to := filepath.Join(src, rel), filepath.Join(dst, rel)
		b, err := os.ReadFile(from)
		if err != nil {
			return err
		}
		st, err := os.Stat(from)
		if err != nil {
			return err
		}
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(to, b, 0o644|st.Mode().Perm()&0o111); err != nil {
			return fmt.Errorf("copy %s: %w", rel, err)
		}
	}
	return nil
}

// git runs git in dir, isolated from the repository it may sit in and
// from the user's configuration that changes diffs.
func git(dir string, args ...string) (string, error) {
	base := []string{
		"-c", "core.autocrlf=false", "-c", "core.hooksPath=/dev/null",
		"-c", "diff.noprefix=false", "-c", "diff.mnemonicPrefix=false", "-c", "diff.relative=false",
		"-c", "user.name=mochipatch", "-c", "user.email=mochipatch@invalid", "-c", "commit.gpgSign=false",
	}
	cmd := exec.Command("git", append(base, args...)...)
	cmd.Dir = dir
	for _, e := range os.Environ() {
		if !strings.HasPrefix(e, "GIT_") {
			cmd.Env = append(cmd.Env, e)
		}
	}
	cmd.Env = append(cmd.Env, "GIT_CONFIG_NOSYSTEM=1", "GIT_CEILING_DIRECTORIES="+filepath.Dir(dir))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && ee.ExitCode() == 1 && len(args) > 0 && args[0] == "diff" {
			return string(out), nil // differences found
		}
		return string(out), fmt.Errorf("git %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return string(out), nil
}
