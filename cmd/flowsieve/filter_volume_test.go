package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/flowsieve/flowsieve/codec"
	"github.com/flowsieve/flowsieve/codec/flowgen"
	"github.com/flowsieve/flowsieve/internal/calicoreal"
)

const volumeRules = `
threats:
  - name: c2
    severity: critical
    when: {field: dest_ip, cidr: [198.51.100.0/24, 203.0.113.0/24]}
filters:
  - name: cap-per-namespace
    action: cap
    per: source_namespace
    max_per_sec: 1000000
    when: {field: action, equals: deny}
  - name: sample-allowed
    action: sample
    rate: 0.25
    when: {field: action, equals: allow}
`

// TestFilterVolume: flowsieve filter projects kept records (--fields),
// samples with scaled counters, and its summary shows the bytes in and
// out and, per sample and cap filter, the flows seen and kept with the
// estimate of their bytes beside the truth.
func TestFilterVolume(t *testing.T) {
	dir := t.TempDir()
	rulesPath := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(rulesPath, []byte(volumeRules), 0o600); err != nil {
		t.Fatal(err)
	}
	g := flowgen.New(3, flowgen.Options{})
	var in strings.Builder
	for i := range 4000 {
		format := codec.FormatText
		if i%2 == 0 {
			format = codec.FormatJSON
		}
		in.Write(g.Append(nil, format))
		in.WriteByte('\n')
	}
	code, out, errOut := runFilter(t, in.String(), "--rules", rulesPath, "--fields", "source_namespace,action,bytes_in,bytes_out,num_flows,flowsieve_sample_rate")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	sampled := 0
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("%s: %v", l, err)
		}
		for k := range m {
			switch k {
			case "source_namespace", "action", "bytes_in", "bytes_out", "num_flows", "flowsieve_sample_rate":
			default:
				t.Fatalf("member %q not listed: %s", k, l)
			}
		}
		if m["flowsieve_sample_rate"] != nil {
			sampled++
			if m["action"] != "allow" || m["flowsieve_sample_rate"].(float64) != 0.25 {
				t.Errorf("sampled record: %s", l)
			}
		}
	}
	if sampled == 0 || sampled == len(lines) {
		t.Errorf("%d of %d kept records sampled", sampled, len(lines))
	}
	for _, want := range []string{
		`bytes in    \d+ \(records judged\), out \d+ \(kept records as written\)`,
		`sampled \(flows seen and kept`,
		`sample-allowed +seen \d+ kept \d+; bytes \d+, estimated \d+ \([-+]\d+\.\d %\)`,
		`cap-per-namespace +seen \d+ kept \d+; bytes \d+, estimated \d+ \(\+0\.0 %\)`,
	} {
		if !regexp.MustCompile(want).MatchString(errOut) {
			t.Errorf("summary lacks %q:\n%s", want, errOut)
		}
	}
	m := regexp.MustCompile(`bytes in +(\d+) .*out (\d+)`).FindStringSubmatch(errOut)
	bin, _ := strconv.Atoi(m[1])
	bout, _ := strconv.Atoi(m[2])
	if bout*4 > bin {
		t.Errorf("bytes out %d of %d in: projection and sampling should cut more", bout, bin)
	}
}

// TestFilterFieldsFelix: --fields on the real felix records; --fields
// errors are usage errors.
func TestFilterFieldsFelix(t *testing.T) {
	felix := string(calicoreal.Read(t, calicoreal.FelixExample))
	dir := t.TempDir()
	rulesPath := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(rulesPath, []byte("filters: []\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runFilter(t, felix, "--rules", rulesPath, "--fields", "-source_labels,-dest_labels,-policies")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if strings.Contains(out, "labels") || strings.Contains(out, "policies") || !strings.Contains(out, `"bytes_in"`) {
		t.Errorf("projected output:\n%.500s", out)
	}
	code, _, errOut = runFilter(t, felix, "--rules", rulesPath, "--fields", "source_namespce")
	if code != exitUsage || !strings.Contains(errOut, `unknown field "source_namespce"`) {
		t.Errorf("exit %d: %s", code, errOut)
	}
}

// TestRulesExplainSample: rules check accepts sample and cap filters and
// explain says what they decided.
func TestRulesExplainSample(t *testing.T) {
	dir := t.TempDir()
	rulesPath := filepath.Join(dir, "rules.yaml")
	const rulesText = `
filters:
  - {name: sample-all, action: sample, rate: 0.5, when: {field: proto, equals: tcp}}
  - {name: cap-ns, action: cap, per: [source_namespace], max_per_sec: 100, when: {field: proto, equals: tcp}}
`
	if err := os.WriteFile(rulesPath, []byte(rulesText), 0o600); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runRules(t, "", "check", rulesPath)
	if code != exitOK || !strings.Contains(out, "SUCCESS: 2 filters") {
		t.Fatalf("check: exit %d\n%s\n%s", code, out, errOut)
	}
	// Two records of one flow differing in the port: one is kept, one not
	// (the hash decides; these two were found to fall on either side).
	var keptSeen, droppedSeen bool
	for port := 1000; port < 1040 && !(keptSeen && droppedSeen); port++ {
		rec := strings.Replace(docTextRecord, " 3000 ", " "+strconv.Itoa(port)+" ", 1)
		code, out, errOut = runRules(t, "", "explain", "--rules", rulesPath, rec)
		if code != exitOK {
			t.Fatalf("explain: exit %d\n%s\n%s", code, out, errOut)
		}
		switch {
		case strings.Contains(out, "decision: KEEP, sampled at rate 0.5: counters scaled by 2"):
			keptSeen = true
			if !strings.Contains(out, "sample 0.5") || !strings.Contains(out, "cap 100/s per source_namespace") || !strings.Contains(out, "kept at rate 0.5") {
				t.Errorf("explain:\n%s", out)
			}
		case strings.Contains(out, "decision: DROP by sample-all (sample; it matched and the flow's hash fell outside the sample"):
			droppedSeen = true
		default:
			t.Fatalf("explain:\n%s", out)
		}
	}
	if !keptSeen || !droppedSeen {
		t.Errorf("kept seen %v, dropped seen %v", keptSeen, droppedSeen)
	}
}
