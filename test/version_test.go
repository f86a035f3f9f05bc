package e2e

import (
	"encoding/json"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestVersion: a binary built by `make build` tells its version (git
// describe), VCS revision, build date and Go version in `flowsieve
// version`, `flowsieve --version`, the flowsieve_build_info gauge and the
// first log line of `run`, and they agree.
func TestVersion(t *testing.T) {
	t.Parallel()
	git := func(args ...string) string {
		t.Helper()
		out, err := exec.Command("git", args...).Output()
		if err != nil {
			t.Fatalf("git %s: %v", strings.Join(args, " "), err)
		}
		return strings.TrimSpace(string(out))
	}
	bin := filepath.Join(t.TempDir(), "flowsieve")
	start := time.Now().UTC().Truncate(time.Second)
	build := exec.Command("make", "-C", "..", "build", "BIN="+bin)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("make build: %v\n%s", err, out)
	}
	// Read after the build: make's own git describe saw the same tree.
	wantVersion := git("describe", "--tags", "--always", "--dirty")
	wantRevision := git("rev-parse", "HEAD")
	goVersion, err := exec.Command("go", "env", "GOVERSION").Output()
	if err != nil {
		t.Fatal(err)
	}
	wantGo := strings.TrimSpace(string(goVersion))

	out, err := exec.Command(bin, "version").CombinedOutput()
	if err != nil {
		t.Fatalf("flowsieve version: %v\n%s", err, out)
	}
	t.Logf("flowsieve version:\n%s", out)
	dashed, err := exec.Command(bin, "--version").CombinedOutput()
	if err != nil || string(dashed) != string(out) {
		t.Errorf("flowsieve --version (%v) differs from flowsieve version:\n%s", err, dashed)
	}
	m := regexp.MustCompile(`(?m)^flowsieve, version (\S+) \(branch: (\S+), revision: (\S+)\)\n(?:.*\n)*  build date:\s+(\S+)\n  go version:\s+(\S+)\n  platform:\s+` +
		regexp.QuoteMeta(runtime.GOOS+"/"+runtime.GOARCH)).FindStringSubmatch(string(out))
	if m == nil {
		t.Fatalf("flowsieve version: unexpected output:\n%s", out)
	}
	if m[1] != wantVersion || m[3] != wantRevision || m[5] != wantGo {
		t.Errorf("version %s, revision %s, go %s; want %s, %s, %s", m[1], m[3], m[5], wantVersion, wantRevision, wantGo)
	}
	built, err := time.Parse(time.RFC3339, m[4])
	if err != nil || built.Before(start) || built.After(time.Now().Add(time.Second)) {
		t.Errorf("build date %q (%v), want the time of the make build above (%s)", m[4], err, start.Format(time.RFC3339))
	}
	branch := m[2]

	// The same in the gauge and in the first log line of run.
	e := newEnv(t, 1)
	dir := t.TempDir()
	cfg := writeConfig(t, dir, e.addr, "version", writeRules(t, dir, testRules))
	listen := freePort(t)
	c := startBinary(t, bin, "run", "--config", cfg, "--metrics.listen="+listen)
	client := &http.Client{Timeout: 5 * time.Second}
	url := "http://" + listen + "/metrics"
	deadline := time.Now().Add(30 * time.Second)
	for {
		if resp, err := client.Get(url); err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("/metrics not served within 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	info := scrape(t, client, url)["flowsieve_build_info"].GetMetric()
	if len(info) != 1 || info[0].GetGauge().GetValue() != 1 {
		t.Fatalf("flowsieve_build_info: %v", info)
	}
	labels := map[string]string{}
	for _, l := range info[0].GetLabel() {
		labels[l.GetName()] = l.GetValue()
	}
	want := map[string]string{"version": wantVersion, "revision": wantRevision, "branch": branch, "goversion": wantGo,
		"goos": runtime.GOOS, "goarch": runtime.GOARCH, "tags": "unknown"}
	for k, v := range want {
		if labels[k] != v {
			t.Errorf("flowsieve_build_info{%s=%q}, want %q (labels %v)", k, labels[k], v, labels)
		}
	}

	first, _, _ := strings.Cut(c.out.String(), "\n")
	var line map[string]any
	if err := json.Unmarshal([]byte(first), &line); err != nil {
		t.Fatalf("first log line %q: %v", first, err)
	}
	for k, v := range map[string]string{"msg": "flowsieve starting", "version": wantVersion, "revision": wantRevision,
		"branch": branch, "build_date": m[4], "go_version": wantGo} {
		if line[k] != v {
			t.Errorf("first log line: %s = %v, want %q (%s)", k, line[k], v, first)
		}
	}
}
