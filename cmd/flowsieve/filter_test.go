package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
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

// candidateRules differs from config/rules.yaml both ways: it keeps the
// dev namespace the sample drops, drops DNS flows the sample keeps, flags
// plain HTTP and no longer has c2-traffic or denied-egress-public.
func candidateRules(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "candidate.yaml")
	os.WriteFile(p, []byte(`threats:
  - {name: mining-pool-port, severity: high, when: {field: dest_port, in: [3333, 4444, 5555, 7777, 14444, 45700]}}
  - {name: plain-http, severity: low, when: {field: dest_port, equals: 80}}
filters:
  - {name: drop-dns, action: exclude, when: {field: dest_port, equals: 53}}
`), 0o644)
	return p
}

// judgeOne judges one record with one rule file alone: whether it is kept
// and the names of the threat rules that flag it.
func judgeOne(t *testing.T, rulesPath, rec string) (kept bool, threats []string) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "threats.jsonl")
	code, stdout, errOut := runFilter(t, rec+"\n", "--rules", rulesPath, "--threats-out", out)
	if code != exitOK {
		t.Fatalf("filter %s: exit %d: %s", rulesPath, code, errOut)
	}
	data, _ := os.ReadFile(out)
	if len(data) > 0 {
		var tr struct {
			Flowsieve struct{ Threats []struct{ Rule string } }
		}
		if err := json.Unmarshal(data, &tr); err != nil {
			t.Fatal(err)
		}
		for _, h := range tr.Flowsieve.Threats {
			threats = append(threats, h.Rule)
		}
	}
	return stdout != "", threats
}

// TestFilterShadowDiff: --diff-out lists exactly the records that the two
// rule files, each run alone, judge differently (kept vs dropped, or other
// threat rules), with both decisions and rules; stdout is the live rules'
// output alone; the summary's table sums to the records judged.
func TestFilterShadowDiff(t *testing.T) {
	live, cand := sampleRules(t), candidateRules(t)
	recs := []string{
		`{"source_namespace":"prod","dest_ip":"198.51.100.7","dest_port":443}`, // c2 by live only
		`{"source_namespace":"dev","dest_ip":"10.0.0.9","dest_port":3333}`,     // live drops, both flag mining
		docTextRecord, // live drops dev
		"1528842551 1528842851 wep prod web-1* - wep prod db-2* - 10.1.1.1 10.2.2.2 6 - 5432 7 3 4 src 154 61 70111 49404 allow",
	}
	for _, l := range calicoreal.Lines(t, calicoreal.FelixExample) {
		recs = append(recs, string(l))
	}
	in := strings.Join(append(recs, "not a record"), "\n")
	diff := filepath.Join(t.TempDir(), "diff.jsonl")
	code, out, errOut := runFilter(t, in, "--rules", live, "--shadow", cand, "--diff-out", diff, "--invalid-out", filepath.Join(t.TempDir(), "inv"))
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if _, liveOut, _ := runFilter(t, in, "--rules", live); out != liveOut {
		t.Error("stdout with --shadow differs from the live rules' alone")
	}

	type row struct {
		Record        string   `json:"record"`
		Live          string   `json:"live"`
		Shadow        string   `json:"shadow"`
		LiveRule      *string  `json:"live_rule"`
		ShadowRule    *string  `json:"shadow_rule"`
		LiveThreats   []string `json:"live_threats"`
		ShadowThreats []string `json:"shadow_threats"`
		LiveVersion   string   `json:"live_version"`
		ShadowVersion string   `json:"shadow_version"`
	}
	var got []row
	data, _ := os.ReadFile(diff)
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var r row
		dec := json.NewDecoder(strings.NewReader(l))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&r); err != nil {
			t.Fatalf("diff line %q: %v", l, err)
		}
		got = append(got, r)
	}

	decision := map[bool]string{true: "kept", false: "dropped"}
	var want []row
	table := map[[2]string]int{}
	for _, rec := range recs {
		lk, lt := judgeOne(t, live, rec)
		sk, st := judgeOne(t, cand, rec)
		table[[2]string{decision[lk], decision[sk]}]++
		if lk != sk || !sameNames(lt, st) {
			want = append(want, row{Record: rec, Live: decision[lk], Shadow: decision[sk], LiveThreats: lt, ShadowThreats: st})
		}
	}
	if len(want) == 0 || len(want) == len(recs) {
		t.Fatalf("the test needs records judged alike and differently: %d of %d differ", len(want), len(recs))
	}
	if len(got) != len(want) {
		t.Fatalf("--diff-out has %d records, want %d:\n%s", len(got), len(want), data)
	}
	for i, w := range want {
		g := got[i]
		if g.Record != w.Record || g.Live != w.Live || g.Shadow != w.Shadow ||
			!sameNames(g.LiveThreats, w.LiveThreats) || !sameNames(g.ShadowThreats, w.ShadowThreats) {
			t.Errorf("diff %d:\n got %+v\nwant %+v", i, g, w)
		}
		if (g.LiveRule == nil) != (g.Live == "kept") || (g.ShadowRule == nil) != (g.Shadow == "kept") {
			t.Errorf("diff %d: deciding rules %v %v for %s/%s", i, g.LiveRule, g.ShadowRule, g.Live, g.Shadow)
		}
		if g.LiveVersion == "" || g.ShadowVersion == "" || g.LiveVersion == g.ShadowVersion {
			t.Errorf("diff %d: versions %q %q", i, g.LiveVersion, g.ShadowVersion)
		}
	}
	for _, want := range []string{
		fmt.Sprintf("  kept           %12d %12d\n", table[[2]string{"kept", "kept"}], table[[2]string{"kept", "dropped"}]),
		fmt.Sprintf("  dropped        %12d %12d\n", table[[2]string{"dropped", "kept"}], table[[2]string{"dropped", "dropped"}]),
		fmt.Sprintf("  disagreements  %d ", len(want)),
		fmt.Sprintf("judged the same %d records\n", len(recs)),
		"    drop-dns ", "    plain-http (low) ",
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("summary lacks %q:\n%s", want, errOut)
		}
	}
}

func sameNames(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

func TestFilterShadowErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("filters:\n  - {name: x, action: drop}\n"), 0o644)
	if code, _, errOut := runFilter(t, "", "--rules", sampleRules(t), "--shadow", bad); code != exitFailure || !strings.Contains(errOut, bad+" does not load") {
		t.Errorf("a broken candidate: exit %d: %s", code, errOut)
	}
	if code, _, _ := runFilter(t, "", "--rules", sampleRules(t), "--diff-out", filepath.Join(dir, "d")); code != exitUsage {
		t.Errorf("--diff-out without --shadow: exit %d", code)
	}
	cand := candidateRules(t)
	if code, _, errOut := runFilter(t, "", "--rules", sampleRules(t), "--shadow", cand, "--diff-out", cand); code != exitUsage {
		t.Errorf("--diff-out over the candidate: exit %d: %s", code, errOut)
	}
}
