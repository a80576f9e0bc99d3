package deploy

import (
	"compress/gzip"
	"debug/elf"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/mqflux/mqflux/internal/testenv"
)

// maxCompressedBytes keeps the image under 30 MB as a registry stores and
// a host pulls it (gzip-compressed layers): distroless/static adds ~2 MB.
// The binary itself is larger unpacked: every output, input and blob
// store kind is linked in, as Telegraf's default build links its plugins.
const maxCompressedBytes = 28 << 20

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	line    int
	keyword string // upper case: FROM, RUN, ...
	args    string
}

func parseDockerfile(t *testing.T) []instruction {
	t.Helper()
	var out []instruction
	var cur *instruction
	for i, line := range strings.Split(string(readFile(t, deployPath(t, "Dockerfile"))), "\n") {
		trimmed := strings.TrimSpace(line)
		if cur == nil && (trimmed == "" || strings.HasPrefix(trimmed, "#")) {
			continue
		}
		if cur == nil {
			kw, args, _ := strings.Cut(trimmed, " ")
			cur = &instruction{line: i + 1, keyword: strings.ToUpper(kw), args: strings.TrimSpace(args)}
		} else if !strings.HasPrefix(trimmed, "#") {
			cur.args += " " + trimmed
		}
		if strings.HasSuffix(cur.args, `\`) {
			cur.args = strings.TrimSpace(strings.TrimSuffix(cur.args, `\`))
			continue
		}
		out = append(out, *cur)
		cur = nil
	}
	return out
}

// finalStage returns the instructions after the last FROM.
func finalStage(ins []instruction) []instruction {
	for i := len(ins) - 1; i >= 0; i-- {
		if ins[i].keyword == "FROM" {
			return ins[i:]
		}
	}
	return nil
}

func TestDockerfileImage(t *testing.T) {
	ins := parseDockerfile(t)
	final := finalStage(ins)
	if len(final) == 0 {
		t.Fatal("Dockerfile: no FROM")
	}
	base := final[0].args
	if base != "gcr.io/distroless/static-debian12:nonroot" && base != "scratch" {
		t.Errorf("final stage FROM %q: want distroless/static nonroot (or scratch)", base)
	}
	got := map[string][]string{}
	for _, in := range final {
		got[in.keyword] = append(got[in.keyword], in.args)
	}
	want := map[string]string{
		"USER":        "65532:65532",
		"VOLUME":      `["/var/lib/mqflux"]`,
		"EXPOSE":      "1883 8080",
		"ENTRYPOINT":  `["/usr/local/bin/mqflux"]`,
		"CMD":         `["serve", "-config", "/etc/mqflux/config.yaml"]`,
		"HEALTHCHECK": `CMD ["/usr/local/bin/mqflux", "healthcheck", "-url", "http://127.0.0.1:8080/healthz"]`,
	}
	for kw, w := range want {
		if len(got[kw]) != 1 || !strings.HasSuffix(got[kw][0], w) {
			t.Errorf("final stage %s %v, want one ending %s", kw, got[kw], w)
		}
	}
	copies := strings.Join(got["COPY"], "\n")
	for _, w := range []string{"/out/mqflux /usr/local/bin/mqflux", "deploy/config.docker.yaml /etc/mqflux/config.yaml", "--chown=65532:65532"} {
		if !strings.Contains(copies, w) {
			t.Errorf("final stage copies %q, want one with %q", copies, w)
		}
	}

	// The build stage uses the Go of go.mod.
	goMod := string(readFile(t, filepath.Join(testenv.ModuleRoot(t), "go.mod")))
	goVer := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindStringSubmatch(goMod)
	if goVer == nil || !strings.Contains(ins[0].args, "golang:"+goVer[1]) {
		t.Errorf("build stage %q: want golang:%v (go.mod)", ins[0].args, goVer)
	}
}

// TestDockerfileBuildCommand runs the Dockerfile's own `go build` line here,
// as the build stage would (output directory moved to a temporary one), and
// checks the binary: it prints the version it was given, it is static, and
// it is small enough for the image.
func TestDockerfileBuildCommand(t *testing.T) {
	t.Parallel()
	var cmdline string
	for _, in := range parseDockerfile(t) {
		if in.keyword == "RUN" && strings.Contains(in.args, "go build") {
			if cmdline != "" {
				t.Fatal("Dockerfile: more than one RUN ... go build")
			}
			cmdline = in.args
		}
	}
	for _, w := range []string{"CGO_ENABLED=0", "-trimpath", `-ldflags "-s -w -X main.version=${VERSION}"`, "-o /out/mqflux ./cmd/mqflux"} {
		if !strings.Contains(cmdline, w) {
			t.Fatalf("Dockerfile build line %q lacks %q", cmdline, w)
		}
	}
	out := t.TempDir()
	cmdline = strings.ReplaceAll(cmdline, "/out/", out+"/")
	const version = "v9.8.7-deploytest"
	cmd := exec.Command("sh", "-c", cmdline)
	cmd.Dir = testenv.ModuleRoot(t)
	cmd.Env = append(os.Environ(), "VERSION="+version, "TARGETOS="+runtime.GOOS, "TARGETARCH="+runtime.GOARCH)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", cmdline, err, b)
	}
	bin := filepath.Join(out, "mqflux")

	b, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(b), "mqflux "+version+" ") {
		t.Errorf("mqflux version: %q %v; want it to start %q", b, err, "mqflux "+version+" ")
	}

	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Errorf("%s has a PT_INTERP header: dynamically linked, it would not run on distroless/static", bin)
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("%s needs shared libraries %v", bin, libs)
	}
	if f.Section(".symtab") != nil {
		t.Errorf("%s keeps its symbol table: -s did not apply", bin)
	}
	st, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}
	var gz countingWriter
	zw, _ := gzip.NewWriterLevel(&gz, gzip.DefaultCompression)
	src, err := os.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if _, err := io.Copy(zw, src); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	t.Logf("static binary %d bytes (%.1f MiB), %d bytes (%.1f MiB) as an image layer (gzip); distroless/static adds ~2 MB",
		st.Size(), float64(st.Size())/(1<<20), gz.n, float64(gz.n)/(1<<20))
	if gz.n > maxCompressedBytes {
		t.Errorf("binary is %d bytes gzip-compressed; at most %d keeps the pulled image under 30 MB", gz.n, maxCompressedBytes)
	}
}

// countingWriter counts what is written to it.
type countingWriter struct{ n int64 }

func (c *countingWriter) Write(p []byte) (int, error) { c.n += int64(len(p)); return len(p), nil }

// TestDockerignoreKeepsBuildInputs: the files the build needs (go.mod,
// go.sum, every Go file of ./cmd/mqflux and its module dependencies,
// config.docker.yaml) are not excluded from the build context, and what
// must stay out (.git, .env, bin) is.
func TestDockerignoreKeepsBuildInputs(t *testing.T) {
	root := testenv.ModuleRoot(t)
	var patterns []string
	for _, line := range strings.Split(string(readFile(t, filepath.Join(root, ".dockerignore"))), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "!") {
			t.Fatalf(".dockerignore: exceptions (%q) are not understood by this test; keep the file a plain list", line)
		}
		patterns = append(patterns, strings.TrimSuffix(line, "/"))
	}
	excluded := func(rel string) string {
		for _, p := range patterns {
			for dir := rel; dir != "."; dir = path.Dir(dir) {
				if dockerMatch(p, dir) {
					return p
				}
			}
		}
		return ""
	}

	cmd := exec.Command("go", "list", "-deps", "-f", `{{if .Module}}{{if .Module.Main}}{{.Dir}}{{"\t"}}{{join .GoFiles " "}} {{join .EmbedFiles " "}}{{end}}{{end}}`, "./cmd/mqflux")
	cmd.Dir = root
	b, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	needed := []string{"go.mod", "go.sum", "deploy/config.docker.yaml"}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		dir, files, _ := strings.Cut(line, "\t")
		rel, err := filepath.Rel(root, dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range strings.Fields(files) {
			needed = append(needed, filepath.ToSlash(filepath.Join(rel, f)))
		}
	}
	if len(needed) < 20 {
		t.Fatalf("go list found only %v", needed)
	}
	for _, f := range needed {
		if p := excluded(f); p != "" {
			t.Errorf("the build needs %s, but .dockerignore excludes it (%s)", f, p)
		}
	}
	for _, f := range []string{".git/config", ".env", "deploy/.env", "bin/influxd", "var/spool/x"} {
		if excluded(f) == "" {
			t.Errorf(".dockerignore lets %s into the build context", f)
		}
	}
}

// dockerMatch is .dockerignore's matching for the patterns used here:
// filepath.Match per path, with a leading "**/" matching any directories.
func dockerMatch(pattern, rel string) bool {
	if rest, ok := strings.CutPrefix(pattern, "**/"); ok {
		parts := strings.Split(rel, "/")
		for i := range parts {
			if ok, _ := path.Match(rest, strings.Join(parts[i:], "/")); ok {
				return true
			}
		}
		return false
	}
	ok, _ := path.Match(pattern, rel)
	return ok
}
