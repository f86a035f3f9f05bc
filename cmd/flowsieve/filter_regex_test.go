package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestFilterSummaryCountsRegexTimeouts: a fluentd look-ahead pattern that
// runs out of its time budget keeps the record (fluentd's rescue), and the
// summary used to say nothing of it.
func TestFilterSummaryCountsRegexTimeouts(t *testing.T) {
	rulesFile := filepath.Join(t.TempDir(), "rules.yaml")
	yaml := "filters:\n  - {name: slow, action: exclude, compat: fluentd, when: {key: pad, regex: \"(?=(a+)+b)\"}}\n"
	if err := os.WriteFile(rulesFile, []byte(yaml), 0o644); err != nil {
		t.Fatal(err)
	}
	rec := `{"source_namespace":"prod","pad":"` + strings.Repeat("a", 64) + `"}`
	quick := `{"source_namespace":"prod","pad":"b"}`
	code, out, errOut := runFilter(t, rec+"\n"+quick+"\n"+rec+"\n", "--rules", rulesFile)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if want := rec + "\n" + quick + "\n" + rec + "\n"; out != want {
		t.Errorf("kept:\n%s\nwant every record (a timeout or no match keeps it)", out)
	}
	if !strings.Contains(errOut, "regex timeouts 2 ") {
		t.Errorf("summary does not count the two timeouts:\n%s", errOut)
	}
	// A run without timeouts says nothing of them.
	if _, _, errOut := runFilter(t, quick+"\n", "--rules", rulesFile); strings.Contains(errOut, "timeouts") {
		t.Errorf("summary of a run without timeouts:\n%s", errOut)
	}
}
