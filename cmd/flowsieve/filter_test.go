package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowsieve/flowsieve/internal/calicoreal"
)

func runFilter(t *testing.T, in string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	old := stdin
	stdin = strings.NewReader(in)
	defer func() { stdin = old }()
	code = filterCmd(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestFilterOffline(t *testing.T) {
	dir := t.TempDir()
	threats := filepath.Join(dir, "threats.jsonl")
	invalid := filepath.Join(dir, "invalid.jsonl")
	kept1 := `{"source_namespace":"prod","dest_ip":"10.0.0.1","dest_port":443,"action":"allow"}`
	kept2 := "1528842551 1528842851 wep prod web-1* - wep prod db-2* - 10.1.1.1 10.2.2.2 6 - 5432 7 3 4 src 154 61 70111 49404 allow"
	flaggedKept := `{"source_namespace":"prod","dest_ip":"198.51.100.7","dest_port":443}`
	flaggedDropped := `{"source_namespace":"dev","dest_ip":"10.0.0.9","dest_port":3333}`
	long := `{"source_namespace":"prod","pad":"` + strings.Repeat("x", 200_000) + `"}`
	in := strings.Join([]string{kept1, docTextRecord, kept2, "", flaggedKept, "garbage line", flaggedDropped, long, `{"truncated":`}, "\n")
	code, out, errOut := runFilter(t, in, "--rules", sampleRules(t), "--threats-out", threats, "--invalid-out", invalid)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if want := kept1 + "\n" + kept2 + "\n" + flaggedKept + "\n" + long + "\n"; out != want {
		t.Errorf("stdout:\n%.300s\nwant:\n%.300s", out, want)
	}
	// Threats: both flagged records, the dropped one says so.
	data, _ := os.ReadFile(threats)
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) != 2 {
		t.Fatalf("threats file has %d lines:\n%s", len(lines), data)
	}
	var rec struct {
		SourceNamespace string `json:"source_namespace"`
		Flowsieve       struct {
			Version string `json:"rules_version"`
			Threats []struct{ Rule, Severity, Feed, Field, Addr, Reason string }
			Dropped *string `json:"dropped_by"`
		}
	}
	if err := json.Unmarshal([]byte(lines[0]), &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Flowsieve.Dropped != nil || len(rec.Flowsieve.Threats) != 1 || rec.Flowsieve.Threats[0].Rule != "c2-traffic" ||
		rec.Flowsieve.Threats[0].Addr != "198.51.100.7" || rec.Flowsieve.Version == "" {
		t.Errorf("first threat record: %s", lines[0])
	}
	rec.Flowsieve.Dropped = nil
	if err := json.Unmarshal([]byte(lines[1]), &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Flowsieve.Dropped == nil || *rec.Flowsieve.Dropped != "drop-dev-namespace" || rec.Flowsieve.Threats[0].Rule != "mining-pool-port" {
		t.Errorf("second threat record: %s", lines[1])
	}
	// Invalid: two lines with their line numbers and reasons.
	data, _ = os.ReadFile(invalid)
	sc := bufio.NewScanner(bytes.NewReader(data))
	var inv []map[string]any
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("invalid-out line %q: %v", sc.Text(), err)
		}
		inv = append(inv, m)
	}
	if len(inv) != 2 || inv[0]["line"] != 6.0 || inv[0]["record"] != "garbage line" || inv[1]["line"] != 9.0 ||
		inv[0]["input"] != "stdin" || inv[0]["error"] == "" {
		t.Errorf("invalid-out: %s", data)
	}
	for _, want := range []string{
		"records in  8\n", "kept        4\n", "dropped     2\n",
		"    drop-dev-namespace                       2\n",
		"flagged     2\n", "    c2-traffic (critical)                    1\n", "    mining-pool-port (high)                  1\n",
		"invalid     2\n", "(1 blank lines skipped)",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("summary lacks %q:\n%s", want, errOut)
		}
	}
}

func TestFilterFilesAndErrors(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.log")
	b := filepath.Join(dir, "b.jsonl")
	os.WriteFile(a, []byte(docTextRecord+"\n"), 0o644)
	os.WriteFile(b, []byte(`{"source_namespace":"prod"}`), 0o644) // no final newline
	code, out, errOut := runFilter(t, "", a, "--rules", sampleRules(t), b)
	if code != exitOK || out != `{"source_namespace":"prod"}`+"\n" {
		t.Errorf("exit %d, stdout %q, stderr %s", code, out, errOut)
	}
	// Without --invalid-out the reasons go to stderr.
	os.WriteFile(a, []byte("bad\n"), 0o644)
	if _, _, errOut := runFilter(t, "", "--rules", sampleRules(t), a); !strings.Contains(errOut, a+":1: invalid record: ") {
		t.Errorf("stderr: %s", errOut)
	}
	if code, _, _ := runFilter(t, "", "--rules", filepath.Join(dir, "missing.yaml")); code != exitFailure {
		t.Errorf("missing rules: exit %d", code)
	}
	if code, _, _ := runFilter(t, "", a); code != exitUsage {
		t.Errorf("no --rules: exit %d", code)
	}
	if code, _, _ := runFilter(t, "", "--rules", sampleRules(t), filepath.Join(dir, "nope")); code != exitFailure {
		t.Errorf("missing input: exit %d", code)
	}
}

// The real felix records through the product page's filters imported from
// fluentd: what fluentd would have kept is kept, record for record.
func TestFilterFelixRecordsWithImportedFilters(t *testing.T) {
	real := calicoreal.Dir(t)
	conf := filepath.Join(real, calicoreal.FlowFiltersDocs)
	flows := filepath.Join(real, calicoreal.FelixExample)
	dir := t.TempDir()
	rulesPath := filepath.Join(dir, "rules.yaml")
	if code, _, errOut := runRules(t, "", "import-fluentd", "-o", rulesPath, conf); code != exitOK {
		t.Fatal(errOut)
	}
	code, out, errOut := runFilter(t, "", "--rules", rulesPath, flows)
	if code != exitOK {
		t.Fatal(errOut)
	}
	data, _ := os.ReadFile(flows)
	if out != string(data) {
		t.Errorf("the real records (all in namespace default, none to nginx-internet) should all be kept unchanged")
	}
	if !strings.Contains(errOut, "records in  259\n") || !strings.Contains(errOut, "kept        259\n") {
		t.Errorf("summary: %s", errOut)
	}
}
