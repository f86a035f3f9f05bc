package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestOutputClobbersInput: --threats-out or --invalid-out naming an input
// emptied the input before it was read, then reported "records in 0" and
// exited 0. An output that is an input (by inode: the same path, another
// path, a link), the rule file, or the other output is refused before
// anything is opened for writing.
func TestOutputClobbersInput(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.log")
	content := docTextRecord + "\n" + `{"source_namespace":"prod","dest_ip":"198.51.100.7"}` + "\n"
	write := func() {
		if err := os.WriteFile(in, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write()
	link := filepath.Join(dir, "link.log")
	if err := os.Symlink(in, link); err != nil {
		t.Fatal(err)
	}
	hard := filepath.Join(dir, "hard.log")
	if err := os.Link(in, hard); err != nil {
		t.Fatal(err)
	}
	rulesFile := filepath.Join(dir, "rules.yaml")
	data, _ := os.ReadFile(sampleRules(t))
	os.WriteFile(rulesFile, bytes.ReplaceAll(bytes.ReplaceAll(data, []byte("file: feeds/"), []byte("file: "+filepath.Join(filepath.Dir(sampleRules(t)), "feeds")+"/")),
		[]byte("globalthreatfeeds: feeds/"), []byte("globalthreatfeeds: "+filepath.Join(filepath.Dir(sampleRules(t)), "feeds")+"/")), 0o644)
	other := filepath.Join(dir, "out.jsonl")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--threats-out", in, in}, "--threats-out " + in + " is the input " + in},
		{[]string{"--invalid-out", in, in}, "--invalid-out " + in + " is the input " + in},
		{[]string{"--invalid-out", link, in}, "is the input"},
		{[]string{"--threats-out", hard, in}, "is the input"},
		{[]string{"--threats-out", rulesFile, in}, "is the input " + rulesFile},
		{[]string{"--threats-out", other, "--invalid-out", other, in}, "is the same file as --threats-out"},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			args := append([]string{"--rules", rulesFile}, tc.args...)
			code, out, errOut := runFilter(t, "", args...)
			if code != exitUsage || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, errOut, tc.want)
			}
			if out != "" {
				t.Errorf("stdout %q", out)
			}
			if got, _ := os.ReadFile(in); string(got) != content {
				t.Fatalf("the input changed: %q", got)
			}
			if _, err := os.Stat(other); err == nil {
				t.Errorf("%s was created", other)
			}
		})
	}
	// stdin is an input too.
	fh, _ := os.Open(in)
	defer fh.Close()
	old := stdin
	stdin = fh
	defer func() { stdin = old }()
	var out, errb bytes.Buffer
	if code := filterCmd(context.Background(), []string{"--rules", rulesFile, "--threats-out", in}, &out, &errb); code != exitUsage || !strings.Contains(errb.String(), "is the input stdin") {
		t.Errorf("stdin: exit %d, %s", code, errb.String())
	}
	// The importers' -o.
	fl := filepath.Join(dir, "flow.conf")
	os.WriteFile(fl, []byte("<filter flows>\n  @type grep\n</filter>\n"), 0o644)
	for _, cmd := range []string{"import-fluentd", "import-fluent-bit"} {
		var so, se bytes.Buffer
		if code := rulesCmd(context.Background(), []string{cmd, "-o", fl, fl}, &so, &se); code != exitUsage || !strings.Contains(se.String(), "is the input") {
			t.Errorf("%s -o input: exit %d, %s", cmd, code, se.String())
		}
	}
	if got, _ := os.ReadFile(in); string(got) != content {
		t.Fatalf("the input changed: %q", got)
	}
}

// TestSecretFeedNotEchoed: `rules check` and `filter` printed a feed
// file's lines in their errors, so a rule file naming a secret as a feed
// leaked it. No output of either holds it now.
func TestSecretFeedNotEchoed(t *testing.T) {
	const secret = "Sup3rS3cret"
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "pw"), []byte(secret+"\n"), 0o600)
	r := filepath.Join(dir, "r.yaml")
	os.WriteFile(r, []byte("feeds:\n  - {name: f, file: pw}\nthreats:\n  - name: t\n    severity: low\n    when: {field: dest_ip, in_feed: f}\n"), 0o644)
	code, out, errOut := runRules(t, "", "check", r)
	if code != exitFailure || !strings.Contains(out, "pw:1:") {
		t.Errorf("rules check: exit %d\n%s%s", code, out, errOut)
	}
	if strings.Contains(out+errOut, secret) {
		t.Errorf("rules check echoes the secret:\n%s%s", out, errOut)
	}
	code, out, errOut = runFilter(t, docTextRecord+"\n", "--rules", r)
	if code != exitFailure || !strings.Contains(errOut, "pw:1:") {
		t.Errorf("filter: exit %d\n%s%s", code, out, errOut)
	}
	if strings.Contains(out+errOut, secret) {
		t.Errorf("filter echoes the secret:\n%s%s", out, errOut)
	}
}

// TestFilterLongLine: filter had no cap on a line's length (/dev/zero grew
// to all memory). A line over --max-record-bytes is counted invalid with
// its length and skipped without being held; the lines around it, also
// those that span the reader's chunks, are judged as usual.
func TestFilterLongLine(t *testing.T) {
	dir := t.TempDir()
	invalid := filepath.Join(dir, "invalid.jsonl")
	big := `{"source_namespace":"prod","pad":"` + strings.Repeat("x", 150_000) + `"}`
	long := strings.Repeat("\x00", 300_001)
	in := strings.Join([]string{docTextRecord, big, long, big, "garbage", long + long}, "\n")
	code, out, errOut := runFilter(t, in, "--rules", sampleRules(t), "--invalid-out", invalid, "--max-record-bytes", "200000")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if out != big+"\n"+big+"\n" {
		t.Errorf("stdout: %.100q (%d bytes)", out, len(out))
	}
	if !strings.Contains(errOut, "records in  6") || !strings.Contains(errOut, "invalid     3") {
		t.Errorf("summary:\n%s", errOut)
	}
	data, _ := os.ReadFile(invalid)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 3 {
		t.Fatalf("%d invalid lines:\n%.500s", len(lines), data)
	}
	for i, want := range []struct {
		line   int
		reason string
	}{{3, "record too long: 300001 bytes, over the limit of 200000"}, {5, "text record"}, {6, "record too long: 600002 bytes"}} {
		var rec struct {
			Line   int
			Error  string
			Record *string
		}
		if err := json.Unmarshal([]byte(lines[i]), &rec); err != nil {
			t.Fatal(err)
		}
		if rec.Line != want.line || !strings.Contains(rec.Error, want.reason) || (want.line != 5) != (rec.Record == nil) {
			t.Errorf("invalid line %d: %+v", i, rec)
		}
	}
}

// TestInvalidOutControlBytes: --invalid-out formatted control bytes one
// at a time through fmt (a 20 MB NUL line: 4.7 s, 525 MB). It is linear
// now: a 1 MiB NUL record (the longest kept) costs its 6 MiB of output,
// grown in a few steps.
func TestInvalidOutControlBytes(t *testing.T) {
	rec := make([]byte, 1<<20)
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	out := appendInvalidJSON(nil, "in", 1, "reason", rec)
	runtime.ReadMemStats(&m1)
	if len(out) < 6<<20 || !json.Valid(out) {
		t.Fatalf("%d bytes of output", len(out))
	}
	// One allocation per control byte before; now only the buffer's
	// growth.
	if n := m1.Mallocs - m0.Mallocs; n > 200 {
		t.Errorf("%d allocations for a 1 MiB record", n)
	}
}

// TestFilterInterrupted: SIGINT waited for the next 4,096 lines, so Ctrl-C
// did nothing while filter waited on stdin, and it then exited 0. Now the
// signal (main's context) is obeyed at once: the summary so far, exit 130
// for SIGINT, 143 for SIGTERM.
func TestFilterInterrupted(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		pr, pw := io.Pipe()
		old := stdin
		stdin = pr
		ctx, cancel := context.WithCancelCause(context.Background())
		done := make(chan int, 1)
		var out, errb bytes.Buffer
		go func() { done <- filterCmd(ctx, []string{"--rules", sampleRules(t)}, &out, &errb) }()
		pw.Write([]byte(docTextRecord + "\n" + docTextRecord)) // the second line never ends
		time.Sleep(50 * time.Millisecond)
		start := time.Now()
		cancel(signalCause{sig})
		select {
		case code := <-done:
			if code != 128+int(sig) {
				t.Errorf("%v: exit %d", sig, code)
			}
			if d := time.Since(start); d > 100*time.Millisecond {
				t.Errorf("%v: took %v", sig, d)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%v: filter did not stop", sig)
		}
		if !strings.Contains(errb.String(), "records in  1") || !strings.Contains(errb.String(), "stopped early") {
			t.Errorf("%v: stderr:\n%s", sig, errb.String())
		}
		pw.Close() // ends the reader goroutine
		stdin = old
	}
}

// TestProfileClobbersInput: run's and bench's profile files are outputs
// too: one that is the rule file or the config file is refused before
// anything is written.
func TestProfileClobbersInput(t *testing.T) {
	dir := t.TempDir()
	rulesFile := filepath.Join(dir, "rules.yaml")
	body := "filters: []\n"
	os.WriteFile(rulesFile, []byte(body), 0o644)
	cfgFile := filepath.Join(dir, "flowsieve.yaml")
	cfgBody := "rules:\n  file: " + rulesFile + "\n"
	os.WriteFile(cfgFile, []byte(cfgBody), 0o644)
	for _, args := range [][]string{
		{"run", "--config", cfgFile, "--cpuprofile", rulesFile},
		{"run", "--config", cfgFile, "--mutexprofile", cfgFile},
		{"bench", "--rules", rulesFile, "--cpuprofile", rulesFile},
	} {
		var so, se bytes.Buffer
		if code := dispatch(context.Background(), args, &so, &se); code != exitUsage || !strings.Contains(se.String(), "is the input") {
			t.Errorf("%v: exit %d, %s", args, code, se.String())
		}
	}
	if b, _ := os.ReadFile(rulesFile); string(b) != body {
		t.Errorf("the rule file changed: %q", b)
	}
	if b, _ := os.ReadFile(cfgFile); string(b) != cfgBody {
		t.Errorf("the config file changed: %q", b)
	}
}
