package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// The fluentd-filters manifest as kubectl prints it imports, and the rules'
// sources name manifest lines.
func TestRulesImportFluentdManifest(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "rules.yaml")
	manifest := filepath.Join("..", "..", "rules", "fluentbit", "testdata", "fluentd-filters.yaml")
	var stdout, stderr bytes.Buffer
	if code := rulesImportFluentd([]string{manifest, "-o", out}, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if code := rulesCheck(context.Background(), []string{out}, &stdout, &stderr); code != exitOK {
		t.Fatalf("rules check: %s", stdout.String())
	}
	for _, tc := range []struct{ record, source string }{
		// line 12 of the manifest opens the first <filter flows>, line 23 the second
		{`{"source_namespace":"dev","dest_namespace":"shop"}`, "fluentd-filters.yaml:12"},
		{`{"source_namespace":"x","dest_namespace":"y","source_name_aggr":"pub","dest_name_aggr":"nginx-internet-*"}`, "fluentd-filters.yaml:23"},
	} {
		stdout.Reset()
		if code := rulesExplain([]string{"--rules", out, tc.record}, &stdout, &stderr); code != exitOK {
			t.Fatalf("explain: %s", stderr.String())
		}
		if !strings.Contains(stdout.String(), "decision: DROP") || !strings.Contains(stdout.String(), tc.source+")") {
			t.Errorf("explain %s:\n%s\nwant a drop naming %s", tc.record, stdout.String(), tc.source)
		}
	}

	old := stdin
	defer func() { stdin = old }()
	stdin = strings.NewReader("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: fluentd-filters}\ndata:\n  dns: \"x\"\n")
	stderr.Reset()
	if code := rulesImportFluentd([]string{"-"}, &stdout, &stderr); code != exitFailure || !strings.Contains(stderr.String(), `has no key "flow" (it has: dns)`) {
		t.Errorf("exit %d: %s", code, stderr.String())
	}
	stderr.Reset()
	fb := filepath.Join("..", "..", "rules", "fluentbit", "testdata", "fluent-bit-filters.yaml")
	if code := rulesImportFluentd([]string{fb}, &stdout, &stderr); code != exitFailure || !strings.Contains(stderr.String(), "use flowsieve rules import-fluent-bit") {
		t.Errorf("fluent-bit-filters given to import-fluentd: exit %d: %s", code, stderr.String())
	}
}
