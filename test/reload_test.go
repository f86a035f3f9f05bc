package e2e

import (
	"encoding/json"
	"path/filepath"
	"testing"
	"time"
)

// TestHotReload: the rule file changes while records flow. Consumption
// goes on; each record is judged by exactly one version, and in each input
// partition the old version judges a prefix and the new one the rest.
func TestHotReload(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 4)
	dir := t.TempDir()
	rulesFile := writeRules(t, dir, testRules)
	// v2 also drops the payments namespace.
	v2 := testRules + `
  - name: drop-payments
    action: exclude
    when: {field: source_namespace, equals: payments}
`
	ins := makeInputs("h", 3000, e.parts, map[int32]int{})
	produced := e.produceSlowly(ins, 3*time.Second)
	pl := e.startPipeline("reload", rulesFile)
	v1 := pl.watcher.Current().Version()
	e.waitCommittedSum("reload", int64(len(ins)/4), 30*time.Second)

	writeFileAtomic(t, filepath.Join(dir, "rules.yaml"), v2)
	eventually(t, 10*time.Second, "rules reloaded", func() bool { return pl.watcher.Current().Version() != v1 })
	v2Version := pl.watcher.Current().Version()
	<-produced
	e.waitCommitted("reload", 60*time.Second)

	outs := e.readTopics(keptTopic, threatsTopic, invalidTopic)
	kept := map[string]bool{}
	for _, r := range outs[keptTopic] {
		kept[string(r.Key)] = true
	}
	threatVersion := map[string]string{}
	for _, r := range outs[threatsTopic] {
		var v struct {
			Flowsieve struct {
				RulesVersion string `json:"rules_version"`
			} `json:"flowsieve"`
		}
		if err := json.Unmarshal(r.Value, &v); err != nil {
			t.Fatalf("threat record %s: %v", r.Key, err)
		}
		threatVersion[string(r.Key)] = v.Flowsieve.RulesVersion
	}

	// Which version judged each informative record: a payments flow kept
	// was judged by v1, dropped by v2; a flagged flow says so itself.
	version := func(in input) string {
		if v, ok := threatVersion[in.key]; ok {
			return v
		}
		if in.invalid || !in.kept || namespaces[keyIndex(in.key)%len(namespaces)] != "payments" {
			return ""
		}
		if kept[in.key] {
			return v1
		}
		return v2Version
	}
	counts := map[string]int{}
	seenV2 := map[int32]bool{}
	for _, in := range ins { // in seq order within each partition
		v := version(in)
		if v == "" {
			continue
		}
		counts[v]++
		switch v {
		case v1:
			if seenV2[in.partition] {
				t.Errorf("%s judged by the old rules after a record judged by the new ones in partition %d", in.key, in.partition)
			}
		case v2Version:
			seenV2[in.partition] = true
		default:
			t.Errorf("%s judged by unknown rules version %q", in.key, v)
		}
		// A flagged payments flow must agree with its own version.
		if tv, ok := threatVersion[in.key]; ok && in.kept && namespaces[keyIndex(in.key)%len(namespaces)] == "payments" {
			if kept[in.key] != (tv == v1) {
				t.Errorf("%s: flagged by version %s but kept=%v", in.key, tv, kept[in.key])
			}
		}
	}
	t.Logf("records judged: %d by %s (before), %d by %s (after)", counts[v1], v1, counts[v2Version], v2Version)
	if counts[v1] == 0 || counts[v2Version] == 0 {
		t.Errorf("want records judged by both versions, got %v", counts)
	}
	// Everything else is routed as usual: run the general check on the
	// records the new filter does not touch.
	var untouched []input
	for _, in := range ins {
		if namespaces[keyIndex(in.key)%len(namespaces)] != "payments" || in.invalid {
			untouched = append(untouched, in)
		}
	}
	e.checkOutputsSubset(untouched, outs)
}
