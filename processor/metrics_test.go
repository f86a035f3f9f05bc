package processor

import (
	"errors"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
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
	steps := []struct {
		version string
		err     error
		want    map[string]float64
		absent  []string
	}{
		{"v1", nil, map[string]float64{
			"flowsieve_rules_last_reload_successful":        1,
			"flowsieve_rules_reloads_total{result=success}": 1,
			"flowsieve_rules_version_info{version=v1}":      1,
		}, nil},
		{"", errors.New("bad rule"), map[string]float64{
			"flowsieve_rules_last_reload_successful":        0,
			"flowsieve_rules_reloads_total{result=success}": 1,
			"flowsieve_rules_reloads_total{result=failure}": 1,
			"flowsieve_rules_version_info{version=v1}":      1, // the old rules still serve
		}, nil},
		{"v2", nil, map[string]float64{
			"flowsieve_rules_last_reload_successful":        1,
			"flowsieve_rules_reloads_total{result=success}": 2,
			"flowsieve_rules_version_info{version=v2}":      1,
		}, []string{"flowsieve_rules_version_info{version=v1}"}},
	}
	for i, s := range steps {
		m.RulesLoaded(s.version, s.err)
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
