package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowsieve/flowsieve/internal/calicoreal"
)

// From `kubectl get cm fluent-bit-filters -o yaml` to a rule file that
// rules check accepts and rules explain traces back to the ConfigMap line.
func TestRulesImportFluentBit(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "rules.yaml")
	manifest := filepath.Join("..", "..", "rules", "fluentbit", "testdata", "fluent-bit-filters.yaml")
	var stdout, stderr bytes.Buffer
	if code := rulesImportFluentBit([]string{manifest, "-o", out}, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "imported 2 grep filter(s) as 3 rule(s) from fluent-bit-filters.yaml (fluent-bit-filters ConfigMap, key flow, tag flows): 0 warning(s)") {
		t.Errorf("stderr: %s", stderr.String())
	}
	stdout.Reset()
	if code := rulesCheck(context.Background(), []string{out}, &stdout, &stderr); code != exitOK || !strings.Contains(stdout.String(), "SUCCESS: 3 filters") {
		t.Fatalf("rules check: exit %d\n%s", code, stdout.String())
	}
	for _, tc := range []struct{ record, want string }{
		{`{"source_namespace":"dev","dest_namespace":"shop","source_name_aggr":"a-*","dest_name_aggr":"b-*"}`,
			"decision: DROP by fluent-bit-1-exclude-source_namespace (exclude; it matched; fluent-bit-filters.yaml:10)"},
		{`{"source_namespace":"default","dest_namespace":"web","source_name_aggr":"pub","dest_name_aggr":"nginx-internet-1-*"}`,
			"decision: DROP by fluent-bit-2-exclude-and (exclude; it matched; fluent-bit-filters.yaml:15,16)"},
		{`{"source_namespace":"default","dest_namespace":"web","source_name_aggr":"pub","dest_name_aggr":"frontend-*"}`,
			"decision: KEEP"},
	} {
		stdout.Reset()
		if code := rulesExplain([]string{"--rules", out, tc.record}, &stdout, &stderr); code != exitOK {
			t.Fatalf("explain: exit %d %s", code, stderr.String())
		}
		if !strings.Contains(stdout.String(), tc.want) {
			t.Errorf("explain %s:\n%s\nwant %q", tc.record, stdout.String(), tc.want)
		}
	}
}

// Classic sections on stdin, with the lint a user sees.
func TestRulesImportFluentBitStdin(t *testing.T) {
	old := stdin
	defer func() { stdin = old }()
	stdin = strings.NewReader("[FILTER]\n    Name grep\n    Match flows\n    Regex dest_port ^53$\n    Exclude dest_namespace kube\n")
	var stdout, stderr bytes.Buffer
	if code := rulesImportFluentBit([]string{"-"}, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	for _, w := range []string{
		"warning: stdin:4: regex dest_port ^53$ never matches: dest_port is a number in Calico flow logs",
		"warning: stdin:5: exclude dest_namespace kube is never evaluated",
	} {
		if !strings.Contains(stderr.String(), w) {
			t.Errorf("stderr lacks %q:\n%s", w, stderr.String())
		}
	}
	if !strings.Contains(stdout.String(), `source: "stdin:4"`) {
		t.Errorf("rule file:\n%s", stdout.String())
	}
}

func TestRulesImportFluentBitErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "filters.yaml")
	if err := os.WriteFile(bad, []byte("- name: modify\n  add: a b\n- name: grep\n  exclude: proto udp\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	if code := rulesImportFluentBit([]string{bad}, &stdout, &stderr); code != exitFailure ||
		!strings.Contains(stderr.String(), `filters.yaml:1: filter 1 of key flow: filter "modify" is not supported`) {
		t.Errorf("exit %d, stderr:\n%s", code, stderr.String())
	}
	stderr.Reset()
	if code := rulesImportFluentBit([]string{"--skip-unsupported", bad}, &stdout, &stderr); code != exitOK ||
		!strings.Contains(stderr.String(), `skipped: filters.yaml:1: filter 1 of key flow: filter "modify" skipped`) {
		t.Errorf("--skip-unsupported: exit %d, stderr:\n%s", code, stderr.String())
	}
	if code := rulesImportFluentBit(nil, &stdout, &stderr); code != exitUsage {
		t.Errorf("no argument: exit %d", code)
	}
}

// docs/migrating.md's migration path on the real felix records: import the
// example ConfigMap, then flowsieve filter keeps what Fluent Bit kept
// (every TCP flow; the DNS flows go, dropped by the proto rule).
func TestMigrationPathOnRealRecords(t *testing.T) {
	real := calicoreal.Path(t, calicoreal.FelixExample)
	data, err := os.ReadFile(real)
	if err != nil {
		t.Fatalf("real Calico records: %v", err)
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "rules.yaml")
	var stdout, stderr bytes.Buffer
	manifest := filepath.Join("..", "..", "rules", "fluentbit", "testdata", "migration-example.yaml")
	if code := rulesImportFluentBit([]string{"-o", out, manifest}, &stdout, &stderr); code != exitOK {
		t.Fatalf("import: %s", stderr.String())
	}
	stderr.Reset()
	if code := filterCmd(t.Context(), []string{"--rules", out, "--progress", "never", real}, &stdout, &stderr); code != exitOK {
		t.Fatalf("filter: exit %d: %s", code, stderr.String())
	}
	var tcp, total int
	for _, l := range strings.Split(string(data), "\n") {
		if strings.TrimSpace(l) == "" {
			continue
		}
		total++
		if strings.Contains(l, `"proto":"tcp"`) {
			tcp++
		}
	}
	kept := strings.Count(stdout.String(), "\n")
	if kept != tcp || tcp == total {
		t.Errorf("kept %d of %d records, want the %d TCP ones", kept, total, tcp)
	}
	if !strings.Contains(stderr.String(), "fluent-bit-2-regex-proto") {
		t.Errorf("summary does not name the dropping rule:\n%s", stderr.String())
	}
}

// A fluent-bit-filters ConfigMap with only a dns key: the cluster filters
// no flow, and the import writes rules that keep every flow, warning on
// stderr which keys the ConfigMap has; exit 0.
func TestRulesImportFluentBitNoFlowKey(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "cm.yaml")
	os.WriteFile(in, []byte("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: fluent-bit-filters\n  namespace: tigera-operator\ndata:\n  dns: |\n    - name: grep\n      exclude: qname ^example\n"), 0o644)
	out := filepath.Join(dir, "rules.yaml")
	var stdout, stderr bytes.Buffer
	if code := rulesImportFluentBit([]string{in, "-o", out}, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), `has no key "flow" (it has: dns)`) {
		t.Errorf("stderr: %s", stderr.String())
	}
	code, kept, errOut := runFilter(t, `{"source_namespace":"dev"}`+"\n", "--rules", out)
	if code != exitOK || kept != `{"source_namespace":"dev"}`+"\n" {
		t.Errorf("the imported rules do not keep the flow: exit %d, %q, %s", code, kept, errOut)
	}
}
