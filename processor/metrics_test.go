package processor

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowsieve/flowsieve/rules"
)

// gathered maps "name{label=value,...}" to the series' value.
func gathered(t *testing.T, g prometheus.Gatherer) map[string]float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			key := mf.GetName()
			for _, l := range m.GetLabel() {
				key += "{" + l.GetName() + "=" + l.GetValue() + "}"
			}
			switch {
			case m.GetCounter() != nil:
				out[key] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				out[key] = m.GetGauge().GetValue()
			}
		}
	}
	return out
}

func TestRulesLoaded(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	v1, v2 := ruleSet(t, []string{"a"}, nil), ruleSet(t, []string{"b"}, nil)
	steps := []struct {
		set    *rules.Set
		err    error
		want   map[string]float64
		absent []string
	}{
		{v1, nil, map[string]float64{
			"flowsieve_rules_last_reload_successful":                     1,
			"flowsieve_rules_reloads_total{result=success}":              1,
			"flowsieve_rules_version_info{version=" + v1.Version() + "}": 1,
		}, nil},
		{nil, errors.New("bad rule"), map[string]float64{
			"flowsieve_rules_last_reload_successful":                     0,
			"flowsieve_rules_reloads_total{result=success}":              1,
			"flowsieve_rules_reloads_total{result=failure}":              1,
			"flowsieve_rules_version_info{version=" + v1.Version() + "}": 1, // the old rules still serve
		}, nil},
		{v2, nil, map[string]float64{
			"flowsieve_rules_last_reload_successful":                     1,
			"flowsieve_rules_reloads_total{result=success}":              2,
			"flowsieve_rules_version_info{version=" + v2.Version() + "}": 1,
		}, []string{"flowsieve_rules_version_info{version=" + v1.Version() + "}"}},
	}
	for i, s := range steps {
		m.RulesLoaded(s.set, s.err)
		got := gathered(t, reg)
		for k, v := range s.want {
			if g, ok := got[k]; !ok || g != v {
				t.Errorf("step %d: %s = %v (present %v), want %v", i, k, g, ok, v)
			}
		}
		for _, k := range s.absent {
			if _, ok := got[k]; ok {
				t.Errorf("step %d: %s still exported", i, k)
			}
		}
		if got["flowsieve_rules_last_reload_timestamp_seconds"] == 0 {
			t.Errorf("step %d: last reload timestamp not set", i)
		}
	}
}

// ruleSet compiles a rule file with the given filters (each dropping one
// namespace) and threat rules ("name:severity").
func ruleSet(t *testing.T, filters, threats []string) *rules.Set {
	t.Helper()
	var b strings.Builder
	b.WriteString("threats:\n")
	for i, th := range threats {
		name, sev, _ := strings.Cut(th, ":")
		fmt.Fprintf(&b, "  - name: %s\n    severity: %s\n    when: {field: dest_port, equals: %d}\n", name, sev, 1000+i)
	}
	b.WriteString("filters:\n")
	for _, f := range filters {
		fmt.Fprintf(&b, "  - name: %s\n    action: exclude\n    when: {field: source_namespace, equals: ns-%s}\n", f, f)
	}
	s, err := rules.Load([]byte(b.String()), "rules.yaml")
	if err != nil {
		t.Fatalf("%v\n%s", err, b.String())
	}
	return s
}

// ruleSeriesOf returns the exported dropped and flagged series with their
// values.
func ruleSeriesOf(t *testing.T, g prometheus.Gatherer) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for k, v := range gathered(t, g) {
		if strings.HasPrefix(k, "flowsieve_records_dropped_total") || strings.HasPrefix(k, "flowsieve_flows_flagged_total") {
			out[k] = v
		}
	}
	return out
}

// TestRuleSeriesFollowReloads: a reload deletes the series of the rules
// the new set lacks (a rule whose severity changed counts as a new rule)
// and keeps counting those of the rules still there; a record judged by
// the replaced set does not bring deleted series back.
func TestRuleSeriesFollowReloads(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	a := ruleSet(t, []string{"f1", "f2"}, []string{"t1:high", "t2:low"})
	b := ruleSet(t, []string{"f2", "f3"}, []string{"t1:low", "t2:low"})
	serving := a
	current := func() *rules.Set { return serving }

	m.RulesLoaded(a, nil)
	ca := m.rules.counters(a, current)
	ca.by[seriesDropped][0].Inc()  // f1
	ca.by[seriesDropped][1].Add(2) // f2
	ca.by[seriesFlagged][0].Inc()  // t1 high
	ca.by[seriesFlagged][1].Add(3) // t2 low

	serving = b
	m.RulesLoaded(b, nil)
	want := map[string]float64{
		"flowsieve_records_dropped_total{rule=f2}":             2,
		"flowsieve_records_dropped_total{rule=f3}":             0,
		"flowsieve_flows_flagged_total{rule=t1}{severity=low}": 0,
		"flowsieve_flows_flagged_total{rule=t2}{severity=low}": 3,
	}
	check := func(step string) {
		t.Helper()
		got := ruleSeriesOf(t, reg)
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Errorf("%s: series %v, want %v", step, got, want)
		}
	}
	check("after the reload")

	// A worker still holding a (judged before the swap): its rules that b
	// kept count, the others are discarded.
	stale := m.rules.counters(a, current)
	stale.by[seriesDropped][0].Inc() // f1: gone
	stale.by[seriesDropped][1].Inc() // f2: still there
	stale.by[seriesFlagged][0].Inc() // t1 high: gone
	want["flowsieve_records_dropped_total{rule=f2}"] = 3
	check("after counting with the replaced set")

	// Without a reload report, the first record judged by a new set
	// retires the old one's series.
	c := ruleSet(t, []string{"f3"}, nil)
	serving = c
	m.rules.counters(c, current).by[seriesDropped][0].Inc()
	want = map[string]float64{"flowsieve_records_dropped_total{rule=f3}": 1}
	check("after a set seen first by a record")
}

// TestSampleSeries: the per-filter sample series count seen, kept, true
// and estimated bytes and evictions, and a reload deletes the series of a
// sample filter the new rules no longer have, as it does the drop series.
func TestSampleSeries(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	load := func(y string) *rules.Set {
		s, err := rules.Load([]byte(y), "rules.yaml")
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	v1 := load(`
filters:
  - {name: drop-dev, action: exclude, when: {field: source_namespace, equals: dev}}
  - {name: quarter, action: sample, rate: 0.25, when: {field: action, equals: allow}}
  - {name: cap-ns, action: cap, per: source_namespace, max_per_sec: 10, when: {field: action, equals: allow}}
`)
	v2 := load(`
filters:
  - {name: cap-ns, action: cap, per: source_namespace, max_per_sec: 10, when: {field: action, equals: allow}}
`)
	m.RulesLoaded(v1, nil)
	c := m.rules.counters(v1, func() *rules.Set { return v1 })
	c.countSamples(v1, []rules.Sample{{Rule: 1, Rate: 0.25, Kept: true}, {Rule: 2, Rate: 1, Kept: true, Evicted: true}}, 100)
	c.countSamples(v1, []rules.Sample{{Rule: 1, Rate: 0.25}}, 50)
	got := gathered(t, reg)
	for k, want := range map[string]float64{
		"flowsieve_sample_seen_total{rule=quarter}":            2,
		"flowsieve_sample_kept_total{rule=quarter}":            1,
		"flowsieve_sample_bytes_total{rule=quarter}":           150,
		"flowsieve_sample_bytes_estimated_total{rule=quarter}": 400,
		"flowsieve_sample_seen_total{rule=cap-ns}":             1,
		"flowsieve_sample_bytes_estimated_total{rule=cap-ns}":  100,
		"flowsieve_cap_evictions_total{rule=cap-ns}":           1,
	} {
		if got[k] != want {
			t.Errorf("%s = %v, want %v", k, got[k], want)
		}
	}
	if _, ok := got["flowsieve_sample_seen_total{rule=drop-dev}"]; ok {
		t.Error("an exclude filter has sample series")
	}
	m.RulesLoaded(v2, nil)
	got = gathered(t, reg)
	if _, ok := got["flowsieve_sample_seen_total{rule=quarter}"]; ok {
		t.Error("the removed sample filter's series is still exported")
	}
	if got["flowsieve_sample_seen_total{rule=cap-ns}"] != 1 {
		t.Error("the kept cap filter's series lost its count")
	}
}
