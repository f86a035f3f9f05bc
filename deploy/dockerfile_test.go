package deploy

import (
	"bytes"
	"debug/elf"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/mattn/go-shellwords"
)

// repoRoot is the repository root, where the product module (and the files
// these tests check) lives, one level up from this module.
var repoRoot = func() string {
	abs, err := filepath.Abs("..")
	if err != nil {
		panic(err)
	}
	return abs
}()

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	line int    // where it starts
	cmd  string // upper case: FROM, RUN, ...
	args string
}

type stage struct {
	name, image string
	instrs      []instruction
}

// parseDockerfile splits a Dockerfile into stages. It knows what this
// repository's Dockerfile uses (comments, line continuations, parser
// directives as comments), not the whole syntax: the test fails on anything
// else rather than guess.
func parseDockerfile(t *testing.T, path string) []stage {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var (
		stages []stage
		cur    strings.Builder
		start  int
	)
	flush := func() {
		text := strings.TrimSpace(cur.String())
		cur.Reset()
		if text == "" {
			return
		}
		cmd, args, _ := strings.Cut(text, " ")
		in := instruction{line: start, cmd: strings.ToUpper(cmd), args: strings.TrimSpace(args)}
		if in.cmd == "FROM" {
			f := strings.Fields(in.args)
			st := stage{image: f[0]}
			switch {
			case len(f) == 3 && strings.EqualFold(f[1], "AS"):
				st.name = f[2]
			case len(f) != 1:
				t.Fatalf("%s:%d: FROM %q: want IMAGE [AS NAME]", path, in.line, in.args)
			}
			stages = append(stages, st)
			return
		}
		if len(stages) == 0 {
			t.Fatalf("%s:%d: %s before the first FROM", path, in.line, in.cmd)
		}
		stages[len(stages)-1].instrs = append(stages[len(stages)-1].instrs, in)
	}
	for i, line := range strings.Split(string(data), "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") {
			continue // comments may sit between continuation lines too
		}
		if cur.Len() == 0 {
			if trimmed == "" {
				continue
			}
			start = i + 1
		}
		if body, ok := strings.CutSuffix(trimmed, "\\"); ok {
			cur.WriteString(body + " ")
			continue
		}
		cur.WriteString(trimmed)
		flush()
	}
	if cur.Len() > 0 {
		t.Fatalf("%s: ends inside a continued line", path)
	}
	return stages
}

func (s stage) all(cmd string) []instruction {
	var out []instruction
	for _, in := range s.instrs {
		if in.cmd == cmd {
			out = append(out, in)
		}
	}
	return out
}

// execForm decodes a JSON-array (exec form) argument.
func execForm(t *testing.T, in instruction) []string {
	t.Helper()
	var v []string
	if err := json.Unmarshal([]byte(in.args), &v); err != nil {
		t.Fatalf("Dockerfile:%d: %s %s: not exec form (a JSON array): %v", in.line, in.cmd, in.args, err)
	}
	return v
}

// dockerImage is what the tests need to know about the image the
// Dockerfile builds.
type dockerImage struct {
	buildCmd   string   // the build stage's `go build` RUN line, as written
	binary     string   // where the build stage writes the binary
	entrypoint []string // final stage
	cmd        []string // final stage
	uid        int      // final stage USER
	// args are the build stage's ARGs with their defaults; the build
	// command expands them.
	args map[string]string
}

// dockerBuildArgs stand for `docker build --build-arg ...` in the tests
// that build the image's binary.
var dockerBuildArgs = map[string]string{
	"VERSION": "v9.9.9-deploy-test", "REVISION": "0123456789abcdef", "BRANCH": "test", "BUILD_DATE": "2026-01-02T03:04:05Z",
}

// buildWords splits the build command into words as the shell does, with
// the ARGs expanded: build args given override the defaults.
func (img dockerImage) buildWords(buildArgs map[string]string) ([]string, error) {
	p := shellwords.NewParser()
	p.ParseEnv = true
	p.Getenv = func(k string) string {
		if v, ok := buildArgs[k]; ok {
			return v
		}
		return img.args[k]
	}
	return p.Parse(img.buildCmd)
}

func readDockerfile(t *testing.T) dockerImage {
	t.Helper()
	stages := parseDockerfile(t, filepath.Join(repoRoot, "Dockerfile"))
	if len(stages) < 2 {
		t.Fatalf("Dockerfile has %d stages, want a build stage and a runtime stage", len(stages))
	}
	build, final := stages[0], stages[len(stages)-1]
	var img dockerImage

	if !strings.HasPrefix(build.image, "golang:1.26") || build.name == "" {
		t.Errorf("build stage is FROM %s AS %q, want golang:1.26 AS <name>", build.image, build.name)
	}
	for _, in := range build.all("RUN") {
		if strings.Contains(in.args, "go build") {
			if img.buildCmd != "" {
				t.Fatalf("Dockerfile:%d: a second `go build` RUN", in.line)
			}
			img.buildCmd = in.args
		}
	}
	if img.buildCmd == "" {
		t.Fatal("the build stage has no RUN ... go build")
	}
	img.args = map[string]string{}
	for _, in := range build.all("ARG") {
		for _, a := range strings.Fields(in.args) {
			name, def, _ := strings.Cut(a, "=")
			img.args[name] = def
		}
	}
	words, err := img.buildWords(nil)
	if err != nil {
		t.Fatalf("build command %q: %v", img.buildCmd, err)
	}
	for i, w := range words {
		if w == "-o" && i+1 < len(words) {
			img.binary = words[i+1]
		}
	}
	if img.binary == "" {
		t.Fatalf("build command %q names no -o output", img.buildCmd)
	}
	if !strings.Contains(img.buildCmd, "CGO_ENABLED=0") {
		t.Errorf("build command %q: the runtime image has no libc, so the binary must be built with CGO_ENABLED=0", img.buildCmd)
	}

	if !strings.HasPrefix(final.image, "gcr.io/distroless/static") && final.image != "scratch" {
		t.Errorf("runtime stage is FROM %s, want distroless/static or scratch", final.image)
	}
	copied := ""
	for _, in := range final.all("COPY") {
		f := strings.Fields(in.args)
		if len(f) == 3 && f[0] == "--from="+build.name && f[1] == img.binary {
			copied = f[2]
		}
	}
	if copied == "" {
		t.Errorf("the runtime stage does not COPY --from=%s %s", build.name, img.binary)
	}
	users := final.all("USER")
	if len(users) == 0 {
		t.Fatal("the runtime stage sets no USER: it would run as root")
	}
	user, _, _ := strings.Cut(users[len(users)-1].args, ":")
	img.uid, err = strconv.Atoi(user)
	if err != nil || img.uid == 0 {
		t.Errorf("USER %q: want a numeric non-zero uid (Kubernetes' runAsNonRoot cannot check a name)", user)
	}
	ep := final.all("ENTRYPOINT")
	cmd := final.all("CMD")
	if len(ep) != 1 || len(cmd) != 1 {
		t.Fatalf("runtime stage has %d ENTRYPOINT and %d CMD, want one of each", len(ep), len(cmd))
	}
	img.entrypoint, img.cmd = execForm(t, ep[0]), execForm(t, cmd[0])
	if len(img.entrypoint) != 1 || img.entrypoint[0] != copied {
		t.Errorf("ENTRYPOINT %q, want [%q] (the binary alone)", img.entrypoint, copied)
	}
	return img
}

var built struct {
	once sync.Once
	path string
	err  error
}

// buildLikeDockerfile runs the Dockerfile's build command in the repository
// (its WORKDIR holds a copy of it) and returns the binary. Only the -o path
// changes, to a temporary directory, and the ARGs are dockerBuildArgs.
// GOFLAGS=-buildvcs=false stands for the image build, where .dockerignore
// leaves .git out.
func buildLikeDockerfile(t *testing.T) string {
	t.Helper()
	img := readDockerfile(t)
	built.once.Do(func() {
		words, err := img.buildWords(dockerBuildArgs)
		if err != nil {
			built.err = err
			return
		}
		dir, err := os.MkdirTemp("", "flowsieve-deploy-test-")
		if err != nil {
			built.err = err
			return
		}
		built.path = filepath.Join(dir, "flowsieve")
		env := append(os.Environ(), "GOFLAGS=-buildvcs=false")
		// RUN's own options (cache mounts) are for BuildKit, not the shell.
		for len(words) > 0 && strings.HasPrefix(words[0], "--mount=") {
			words = words[1:]
		}
		for len(words) > 0 && strings.Contains(words[0], "=") {
			env = append(env, words[0])
			words = words[1:]
		}
		for i := range words {
			if i > 0 && words[i-1] == "-o" {
				words[i] = built.path
			}
		}
		if len(words) < 2 || words[0] != "go" || words[1] != "build" {
			built.err = fmt.Errorf("build command %q: want [VAR=value...] go build ...", img.buildCmd)
			return
		}
		// A cold build cache has twice failed here with "could not import
		// <package> (open : no such file or directory)" for a standard
		// package, while the same command run again (or by hand) succeeds:
		// a go command fault, not the Dockerfile's. Build once more in that
		// case only.
		for attempt := 1; ; attempt++ {
			c := exec.Command(words[0], words[1:]...)
			c.Dir = repoRoot
			c.Env = env
			out, err := c.CombinedOutput()
			if err == nil {
				return
			}
			if attempt == 1 && bytes.Contains(out, []byte("(open : no such file or directory)")) {
				continue
			}
			built.err = fmt.Errorf("%s: %v\n%s", img.buildCmd, err, out)
			return
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.path
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.path != "" {
		_ = os.RemoveAll(filepath.Dir(built.path))
	}
	os.Exit(code)
}

func TestDockerfile(t *testing.T) {
	img := readDockerfile(t)
	if len(img.cmd) != 3 || img.cmd[0] != "run" || img.cmd[1] != "--config" || !filepath.IsAbs(img.cmd[2]) {
		t.Errorf("CMD %q, want [run --config /absolute/path]", img.cmd)
	}

	bin := buildLikeDockerfile(t)
	// distroless/static has no dynamic loader and no libc: the binary must
	// not ask for either.
	f, err := elf.Open(bin)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = f.Close() }()
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("the binary is dynamically linked (has PT_INTERP); it cannot run on distroless/static")
		}
	}
	if libs, _ := f.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the binary needs shared libraries %v", libs)
	}
	out, err := exec.Command(bin, "help").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "run") {
		t.Errorf("flowsieve help: %v\n%s", err, out)
	}
	// The build args reach `flowsieve version` (and flowsieve_build_info).
	out, err = exec.Command(bin, "version").CombinedOutput()
	a := dockerBuildArgs
	for _, want := range []string{
		"flowsieve, version " + a["VERSION"] + " (branch: " + a["BRANCH"] + ", revision: " + a["REVISION"] + ")",
		"build date:       " + a["BUILD_DATE"],
	} {
		if err != nil || !strings.Contains(string(out), want) {
			t.Errorf("flowsieve version (%v) lacks %q:\n%s", err, want, out)
		}
	}
}

func TestDockerignoreKeepsTheBuildInputs(t *testing.T) {
	data, err := os.ReadFile(filepath.Join(repoRoot, ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	// The build stage copies go.mod, go.sum and the packages the binary
	// imports (asked of go list, as packages move); none may be excluded.
	list := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", "./cmd/flowsieve")
	list.Dir = repoRoot
	out, err := list.Output()
	if err != nil {
		t.Fatalf("go list -deps ./cmd/flowsieve: %v", err)
	}
	needed := []string{"go.mod", "go.sum"}
	for _, pkg := range strings.Fields(string(out)) {
		if rest, ok := strings.CutPrefix(pkg, "github.com/flowsieve/flowsieve/"); ok {
			if top, _, _ := strings.Cut(rest, "/"); !slices.Contains(needed, top) {
				needed = append(needed, top)
			}
		}
	}
	if !slices.Contains(needed, "cmd") {
		t.Fatalf("go list -deps ./cmd/flowsieve named no package of the module:\n%s", out)
	}
	for _, line := range strings.Split(string(data), "\n") {
		pat := strings.TrimSuffix(strings.TrimSpace(line), "/")
		if pat == "" || strings.HasPrefix(pat, "#") || strings.HasPrefix(pat, "!") {
			continue
		}
		for _, n := range needed {
			if ok, _ := filepath.Match(pat, n); ok {
				t.Errorf(".dockerignore %q excludes %s, which the build needs", line, n)
			}
		}
	}
}
