package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/flowsieve/flowsieve/processor"
	"github.com/flowsieve/flowsieve/rules"
)

const shadowTopic = "flows.shadow"

// candidateRules disagrees with testRules both ways: it keeps dev (which
// the live rules drop), drops payments (which they keep), and flags only
// destinations in the feed (the live c2 also flags sources).
const candidateRules = `
feeds:
  - name: bad
    file: bad.txt
threats:
  - name: c2
    severity: critical
    when: {field: dest_ip, in_feed: bad}
  - name: odd-port
    severity: low
    when: {field: source_port, lt: 30050}
filters:
  - name: drop-payments
    action: exclude
    when: {field: source_namespace, equals: payments}
`

// gatherOf is name's series as label set (k=v,...) -> value.
func gatherOf(t *testing.T, g prometheus.Gatherer, name string) map[string]float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			var ls []string
			for _, l := range m.GetLabel() {
				ls = append(ls, l.GetName()+"="+l.GetValue())
			}
			out[strings.Join(ls, ",")] = valueOf(m)
		}
	}
	return out
}

func valueOf(m *dto.Metric) float64 {
	if c := m.GetCounter(); c != nil {
		return c.GetValue()
	}
	return m.GetGauge().GetValue()
}

// newShadowEnv is an env with the shadow topic too, and a directory with
// the live rules (testRules) and a shadow file holding shadow.
func newShadowEnv(t *testing.T, partitions int, shadow string) (e *env, dir, liveFile, shadowFile string) {
	t.Helper()
	e = newEnv(t, partitions)
	if err := e.broker.CreateTopics(int(e.parts), 0, 0, shadowTopic); err != nil {
		t.Fatal(err)
	}
	dir = t.TempDir()
	liveFile = writeRules(t, dir, testRules)
	shadowFile = filepath.Join(dir, "candidate.yaml")
	writeFileAtomic(t, shadowFile, shadow)
	return e, dir, liveFile, shadowFile
}

// startShadowPipeline starts a member with shadow rules from shadowFile
// (an optional watcher, as flowsieve run makes it), writing disagreements
// to the shadow topic at most maxPerSec a second.
func (e *env) startShadowPipeline(group, rulesFile, shadowFile string, maxPerSec int) (*pipeline, *rules.Watcher, *prometheus.Registry) {
	e.t.Helper()
	reg := prometheus.NewRegistry()
	m := processor.NewMetrics(reg)
	sw, err := rules.NewWatcher(shadowFile, rules.WatcherOptions{Debounce: 50 * time.Millisecond, Name: "shadow rules", Optional: true,
		OnReload: m.ShadowRulesLoaded, Logger: zaptest.NewLogger(e.t, zaptest.Level(zap.WarnLevel))})
	if err != nil {
		e.t.Fatal(err)
	}
	pl := e.startPipeline(group, rulesFile, func(c *processor.Config) {
		c.Registry, c.Gatherer, c.Metrics = reg, reg, m
		c.ShadowRules, c.ShadowTopic, c.ShadowMaxPerSec = sw.Current, shadowTopic, maxPerSec
	})
	// The shadow watcher stops with the test.
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		_ = sw.Run(ctx)
	}()
	e.t.Cleanup(func() { cancel(); <-stopped })
	return pl, sw, reg
}

// TestShadowRules: a pipeline with live and shadow rules over mixed
// records. The outputs are exactly those of the live rules alone; the
// decision counters sum to the records judged and match an offline
// `flowsieve filter --shadow` of the same records; the shadow topic holds
// exactly the records the offline run lists as disagreeing; a broken
// shadow reload changes nothing live.
func TestShadowRules(t *testing.T) {
	t.Parallel()
	e, dir, liveFile, shadowFile := newShadowEnv(t, 3, candidateRules)
	pl, sw, reg := e.startShadowPipeline("shadow", liveFile, shadowFile, 100000)
	shadowVersion := sw.Current().Version()

	seqs := map[int32]int{}
	ins := makeInputs("s", 600, e.parts, seqs)
	e.produce(ins)
	e.waitCommitted("shadow", 60*time.Second)
	e.checkOutputs(ins, allAtLeastOnce)

	// The same records offline.
	in := filepath.Join(dir, "in.log")
	var lines [][]byte
	for _, r := range ins {
		lines = append(lines, r.value)
	}
	if err := os.WriteFile(in, append(bytes.Join(lines, []byte("\n")), '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	diffOut := filepath.Join(dir, "diff.jsonl")
	cmd := exec.Command(binary, "filter", "--rules", liveFile, "--shadow", shadowFile, "--diff-out", diffOut, "--invalid-out", filepath.Join(dir, "inv"), in)
	var stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = nil, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("filter --shadow: %v\n%s", err, stderr.String())
	}
	var kk, kd, dk, dd float64
	if _, err := fmt.Sscanf(after(t, stderr.String(), "  live \\ shadow"), "  kept %f %f\n  dropped %f %f", &kk, &kd, &dk, &dd); err != nil {
		t.Fatalf("parsing the summary: %v\n%s", err, stderr.String())
	}
	dec := gatherOf(t, reg, "flowsieve_shadow_decisions_total")
	want := map[string]float64{"live=kept,shadow=kept": kk, "live=kept,shadow=dropped": kd, "live=dropped,shadow=kept": dk, "live=dropped,shadow=dropped": dd}
	if fmt.Sprint(dec) != fmt.Sprint(want) {
		t.Errorf("decisions %v, offline %v", dec, want)
	}
	judged := countWhere(ins, func(in input) bool { return !in.invalid })
	if kk+kd+dk+dd != float64(judged) || kd == 0 || dk == 0 {
		t.Errorf("decisions sum to %v, want the %d records judged, with disagreements both ways", kk+kd+dk+dd, judged)
	}

	var wantDiff []string
	data, _ := os.ReadFile(diffOut)
	for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var r struct{ Record string }
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatal(err)
		}
		wantDiff = append(wantDiff, r.Record)
	}
	var gotDiff []string
	for _, r := range e.readTopics(shadowTopic)[shadowTopic] {
		var d struct {
			Record, Live, Shadow string
			ShadowVersion        string `json:"shadow_version"`
		}
		if err := json.Unmarshal(r.Value, &d); err != nil {
			t.Fatalf("shadow record %s: %v", r.Value, err)
		}
		if d.ShadowVersion != shadowVersion {
			t.Errorf("shadow record of version %q, want %q", d.ShadowVersion, shadowVersion)
		}
		gotDiff = append(gotDiff, d.Record)
	}
	slices.Sort(gotDiff)
	slices.Sort(wantDiff)
	if len(wantDiff) == 0 || !slices.Equal(gotDiff, wantDiff) {
		t.Errorf("shadow topic has %d records, the offline diff %d; they differ", len(gotDiff), len(wantDiff))
	}
	if s := gatherOf(t, reg, "flowsieve_shadow_records_suppressed_total"); s["reason=rate"] != 0 || s["reason=size"] != 0 {
		t.Errorf("suppressed under the cap: %v", s)
	}
	if d := gatherOf(t, reg, "flowsieve_shadow_dropped_total"); d["rule=drop-payments"] != kd+dd {
		t.Errorf("shadow dropped %v, want drop-payments %v", d, kd+dd)
	}

	// A broken candidate: the shadow rules stay, the live ones and their
	// outputs do not notice.
	writeFileAtomic(t, shadowFile, "filters:\n  - {name: x, action: drop}\n")
	eventually(t, 10*time.Second, "the failed shadow reload", func() bool {
		return gatherOf(t, reg, "flowsieve_shadow_rules_reloads_total")["result=failure"] == 1
	})
	if sw.Current().Version() != shadowVersion {
		t.Error("a broken shadow file replaced the shadow rules")
	}
	more := makeInputs("t", 300, e.parts, seqs)
	e.produce(more)
	e.waitCommitted("shadow", 60*time.Second)
	e.checkOutputs(append(ins, more...), allAtLeastOnce)
	if v := gatherOf(t, reg, "flowsieve_shadow_rules_version_info"); v["version="+shadowVersion] != 1 || len(v) != 1 {
		t.Errorf("shadow version %v", v)
	}
	if n := gatherOf(t, reg, "flowsieve_rules_reloads_total"); n["result=failure"] != 0 {
		t.Errorf("live reloads %v", n)
	}
	if err := pl.stop(); err != nil {
		t.Errorf("Run: %v", err)
	}
}

// TestShadowTopicCap: a candidate that disagrees on every record writes
// at most output.shadow_max_per_sec of them a second; the rest are
// counted suppressed.
func TestShadowTopicCap(t *testing.T) {
	t.Parallel()
	e, _, liveFile, shadowFile := newShadowEnv(t, 2, "filters:\n  - {name: drop-all, action: include, when: {field: proto, equals: nothing}}\n")
	const perSec = 20
	start := time.Now()
	_, _, reg := e.startShadowPipeline("cap", liveFile, shadowFile, perSec)
	ins := makeInputs("c", 1000, e.parts, map[int32]int{})
	e.produce(ins)
	e.waitCommitted("cap", 60*time.Second)
	elapsed := time.Since(start).Seconds()
	written := len(e.readTopics(shadowTopic)[shadowTopic])
	// The candidate drops everything and flags nothing: it disagrees on
	// every record the live rules keep or flag.
	disagreed := countWhere(ins, func(in input) bool { return in.kept || in.threat })
	suppressed := gatherOf(t, reg, "flowsieve_shadow_records_suppressed_total")["reason=rate"]
	if max := perSec * (1 + elapsed); written < 1 || float64(written) > max {
		t.Errorf("%d shadow records in %.1fs, want 1 to %.0f", written, elapsed, max)
	}
	if float64(written)+suppressed != float64(disagreed) {
		t.Errorf("%d written + %v suppressed, want the %d disagreements", written, suppressed, disagreed)
	}
}

// after returns s from the line that starts with prefix, without it.
func after(t *testing.T, s, prefix string) string {
	t.Helper()
	i := strings.Index(s, prefix)
	if i < 0 {
		t.Fatalf("no %q in:\n%s", prefix, s)
	}
	rest := s[i:]
	return rest[strings.IndexByte(rest, '\n')+1:]
}
