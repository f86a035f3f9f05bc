package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/flowsieve/flowsieve/codec"
	"github.com/flowsieve/flowsieve/internal/calicoreal"
)

func runRules(t *testing.T, in string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	old := stdin
	stdin = strings.NewReader(in)
	defer func() { stdin = old }()
	code = rulesCmd(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func sampleRules(t *testing.T) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", "config", "rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

const docTextRecord = "1528842551 1528842851 wep dev rails-81531* - wep dev memcached-38456* - - - 6 - 3000 7 3 4 out 154 61 70111 49404 allow"

func TestRulesCheck(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("filters:\n  - name: dns-deny\n    action: exclude\n    when: {field: protcol, equals: udp}\n  - {name: x, action: drop, when: {field: proto, equals: tcp}}\n"), 0o644)
	code, out, _ := runRules(t, "", "check", sampleRules(t), bad)
	if code != exitFailure {
		t.Errorf("exit %d, want 1", code)
	}
	for _, want := range []string{
		"Checking " + sampleRules(t) + "\nSUCCESS: 2 filters, 3 threat rules, 2 feeds (6 entries), version ",
		"Checking " + bad + "\nFAILED:\n" +
			bad + `:4:19: rule "dns-deny": unknown field "protcol" (for a key that is not a Calico field, write key: protcol)` + "\n" +
			bad + `:5:23: rule "x": unknown action "drop" (want exclude, include, sample or cap)` + "\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks\n%s\n--- got:\n%s", want, out)
		}
	}
	if code, _, _ := runRules(t, "", "check", sampleRules(t)); code != exitOK {
		t.Errorf("good file: exit %d", code)
	}
	if code, _, _ := runRules(t, "", "check"); code != exitUsage {
		t.Errorf("no file: exit %d", code)
	}
}

func TestRulesExplain(t *testing.T) {
	code, out, errOut := runRules(t, "", "explain", "--rules", sampleRules(t), docTextRecord)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{
		"record (text): 1528842551",
		"drop-dev-namespace               exclude                  match     rules.yaml:",
		"<- drops the flow",
		"drop-internet-to-nginx-internet  exclude                  no match  rules.yaml:",
		"(not reached)",
		"decision: DROP by drop-dev-namespace (exclude; it matched; rules.yaml:",
		"flagged: no",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// Several records from stdin, one of them flagged, one invalid.
	in := `{"source_namespace":"prod","dest_ip":"198.51.100.7","dest_port":4444}` + "\n\nnot a record\n"
	code, out, _ = runRules(t, in, "explain", "--rules", sampleRules(t), "-")
	if code != exitFailure {
		t.Errorf("exit %d, want 1 (an invalid record)", code)
	}
	for _, want := range []string{
		"c2-traffic                       critical  match     rules.yaml:15  why: dest_ip in feed c2-sample (198.51.100.7)",
		"mining-pool-port                 high      match",
		"decision: KEEP",
		"flagged: c2-traffic, mining-pool-port",
		"record: INVALID: ",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

func TestRulesImportFluentd(t *testing.T) {
	conf := "<filter flows>\n  @type grep\n  <exclude>\n    key source_namespace\n    pattern dev\n  </exclude>\n</filter>\n"
	code, out, errOut := runRules(t, conf, "import-fluentd", "-")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "compat: fluentd") || !strings.Contains(out, `source: "stdin:1"`) {
		t.Errorf("output:\n%s", out)
	}
	// -o after the file, then the result checks and explains.
	dir := t.TempDir()
	src := filepath.Join(dir, "flow")
	os.WriteFile(src, []byte(conf), 0o644)
	dst := filepath.Join(dir, "rules.yaml")
	if code, _, errOut := runRules(t, "", "import-fluentd", src, "-o", dst); code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if code, out, _ := runRules(t, "", "check", dst); code != exitOK || !strings.Contains(out, "SUCCESS: 1 filters") {
		t.Errorf("imported file does not check: %s", out)
	}
	code, out, _ = runRules(t, "", "explain", "--rules", dst, strings.Replace(docTextRecord, "wep dev rails", "wep devops rails", 1))
	if code != exitOK || !strings.Contains(out, "decision: DROP by fluentd-grep-1") || !strings.Contains(out, "flow:1") {
		t.Errorf("fluentd's unanchored 'dev' should drop devops:\n%s", out)
	}
	// Errors name the line.
	code, _, errOut = runRules(t, "<filter flows>\n  @type grep\n  regexp1 message\n</filter>\n", "import-fluentd", "-")
	if code != exitFailure || !strings.Contains(errOut, "stdin:3: regexp1 does not contain 2 parameters") {
		t.Errorf("exit %d, stderr %s", code, errOut)
	}
}

func TestRulesImportFluentdTag(t *testing.T) {
	conf := "<filter dns>\n  @type grep\n  <exclude>\n    key qname\n    pattern /\\.cluster\\.local$/\n  </exclude>\n</filter>\n"
	code, out, errOut := runRules(t, conf, "import-fluentd", "-")
	if code != exitOK || strings.Contains(out, "- name:") || !strings.Contains(errOut, `does not apply to tag "flows"`) {
		t.Errorf("default tag: exit %d\n%s\n%s", code, out, errOut)
	}
	code, out, errOut = runRules(t, conf, "import-fluentd", "--tag", "dns", "-")
	if code != exitOK || !strings.Contains(out, `{key: "qname", regex: "\\.cluster\\.local$"}`) {
		t.Errorf("--tag dns: exit %d\n%s\n%s", code, out, errOut)
	}
}

// TestRulesDiff: exit 0 for the same decisions (another layout too), 1
// with the changes listed, 2 when a file does not load or the arguments
// are wrong, as diff.
func TestRulesDiff(t *testing.T) {
	dir := t.TempDir()
	same := filepath.Join(dir, "same.yaml")
	data, err := os.ReadFile(sampleRules(t))
	if err != nil {
		t.Fatal(err)
	}
	// The sample without its comments and with its feeds by absolute path.
	var kept []string
	for _, l := range strings.Split(string(data), "\n") {
		if strings.HasPrefix(strings.TrimSpace(l), "#") {
			continue
		}
		l = strings.Replace(l, "file: feeds/", "file: "+filepath.Join(filepath.Dir(sampleRules(t)), "feeds")+"/", 1)
		l = strings.Replace(l, "globalthreatfeeds: feeds/", "globalthreatfeeds: "+filepath.Join(filepath.Dir(sampleRules(t)), "feeds")+"/", 1)
		kept = append(kept, l)
	}
	os.WriteFile(same, []byte(strings.Join(kept, "\n")), 0o644)
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("filters: [{name: x}]\n"), 0o644)
	for _, tc := range []struct {
		name     string
		args     []string
		code     int
		out, err []string
	}{
		{"same", []string{sampleRules(t), same}, exitOK, []string{"\nno change\n"}, nil},
		{"different", []string{sampleRules(t), candidateRules(t)}, exitFailure, []string{
			"filters:\n  + drop-dns\n  - drop-dev-namespace\n",
			"threat rules:\n  ~ mining-pool-port\n      description: flow to a port well-known mining pools listen on\n                   -> (none)\n  + plain-http\n",
			"feeds:\n  - c2-sample (0 entries added, 6 removed)\n  - c2-pulled (0 entries added, 0 removed)\n",
			"filters +1 -2 ~0, threat rules +1 -2 ~1, feeds +0 -2 ~0\n",
		}, nil},
		{"broken file", []string{sampleRules(t), bad}, exitUsage, nil, []string{bad + " does not load"}},
		{"one file", []string{sampleRules(t)}, exitUsage, nil, []string{"usage: flowsieve rules diff OLD NEW"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, errOut := runRules(t, "", append([]string{"diff"}, tc.args...)...)
			if code != tc.code {
				t.Errorf("exit %d, want %d\n%s%s", code, tc.code, out, errOut)
			}
			for _, w := range tc.out {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
			for _, w := range tc.err {
				if !strings.Contains(errOut, w) {
					t.Errorf("stderr lacks %q:\n%s", w, errOut)
				}
			}
		})
	}
}

// TestRulesCheckBlindSpots: check warns about each threat rule that needs
// a field Calico empties on aggregated flows, naming the levels; filter
// counts the real felix records (all aggregated) each could not judge.
func TestRulesCheckBlindSpots(t *testing.T) {
	code, out, _ := runRules(t, "", "check", sampleRules(t))
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, out)
	}
	for _, want := range []string{
		`WARNING: threat rule "c2-traffic" needs source_ip, which Calico leaves empty on flows aggregated at level 2 and 3 `,
		`WARNING: threat rule "c2-traffic" needs dest_ip, `,
		`WARNING: threat rule "denied-egress-public" needs dest_ip, `,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("check lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, `"mining-pool-port" needs`) {
		t.Errorf("a rule on dest_port warned:\n%s", out)
	}
	_, _, errOut := runFilter(t, "", "--rules", sampleRules(t), calicoreal.Path(t, calicoreal.FelixExample))
	want := "  unevaluable (threat rules blind: a field they need was empty, as on aggregated flows)\n" +
		"    c2-traffic (source_ip)                   259\n" +
		"    c2-traffic (dest_ip)                     259\n"
	if !strings.Contains(errOut, want) || strings.Contains(errOut, "denied-egress-public (") {
		t.Errorf("filter summary lacks %q (and denied-egress-public, which never reaches dest_ip on allowed flows, must not be blind):\n%s", want, errOut)
	}
}

// TestExplainLongLines: `rules explain -` explains each line as it reads
// it; a line over the record limit is reported and passed over as it
// streams by, never held, however long (it read all of stdin into memory
// first).
func TestExplainLongLines(t *testing.T) {
	long := strings.Repeat("x", 3<<20)
	code, out, _ := runRules(t, docTextRecord+"\n"+long+"\n"+docTextRecord+"\n", "explain", "--rules", sampleRules(t), "-")
	if code != exitFailure {
		t.Errorf("exit %d, want %d (a record was invalid)", code, exitFailure)
	}
	if n := strings.Count(out, "record (text): "); n != 2 {
		t.Errorf("%d records explained, want 2:\n%.2000s", n, out)
	}
	if want := fmt.Sprintf("record: INVALID: a line of %d bytes, over the %d-byte record limit", len(long), codec.DefaultLimits.RecordBytes); !strings.Contains(out, want) {
		t.Errorf("no %q in:\n%.2000s", want, out)
	}

	// 256 MiB of one line: what is allocated stays a small part of it.
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	var o, e bytes.Buffer
	old := stdin
	stdin = io.LimitReader(zeros{}, 256<<20)
	defer func() { stdin = old }()
	code = rulesCmd(context.Background(), []string{"explain", "--rules", sampleRules(t), "-"}, &o, &e)
	runtime.ReadMemStats(&after)
	if code != exitFailure || !strings.Contains(o.String(), "a line of 268435456 bytes") {
		t.Errorf("exit %d: %s %s", code, o.String(), e.String())
	}
	if got := after.TotalAlloc - before.TotalAlloc; got > 16<<20 {
		t.Errorf("allocated %d MiB explaining a 256 MiB line", got>>20)
	}
}

type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
