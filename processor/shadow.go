package processor

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowsieve/flowsieve/rules"
)

// shadowMetrics are the shadow rules' series (see Shadow rules in the
// package doc). Their per-rule series follow the shadow Set serving, as
// the live rules' follow theirs: one ruleSeries over the shadow vectors.
type shadowMetrics struct {
	decisions *prometheus.CounterVec // live, shadow
	// byDecision[live][shadow], 0 kept, 1 dropped: resolved once.
	byDecision [2][2]prometheus.Counter
	dropped    *prometheus.CounterVec // rule
	flagged    *prometheus.CounterVec // rule, severity
	rules      *ruleSeries
	version    *prometheus.GaugeVec // version
	reloads    *prometheus.CounterVec
	suppressed [numSuppressed]prometheus.Counter
	lastVer    atomic.Pointer[string]

	// For the summary line: records judged by both, and those they
	// judged differently.
	judged, disagreed atomic.Int64
}

// Why a disagreement was not written to the shadow topic.
const (
	suppressedRate = iota // over output.shadow_max_per_sec
	suppressedSize        // too large for the shadow topic
	numSuppressed
)

func newShadowMetrics(reg prometheus.Registerer) *shadowMetrics {
	s := &shadowMetrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flowsieve_shadow_decisions_total",
			Help: "Flows judged by both the live and the shadow rules, by each one's decision (kept, dropped).",
		}, []string{"live", "shadow"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flowsieve_shadow_dropped_total",
			Help: "Flows the shadow rules would drop, per shadow filter (they decide nothing).",
		}, []string{"rule"}),
		flagged: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flowsieve_shadow_flagged_total",
			Help: "Flows the shadow rules would flag, per shadow threat rule and severity.",
		}, []string{"rule", "severity"}),
		version: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "flowsieve_shadow_rules_version_info",
			Help: "1 for the version of the shadow rules serving now; no series while none has loaded.",
		}, []string{"version"}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flowsieve_shadow_rules_reloads_total",
			Help: "Shadow rule file loads, by result (success, failure); a failure keeps the previous shadow rules and never touches the live ones.",
		}, []string{"result"}),
	}
	suppressed := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "flowsieve_shadow_records_suppressed_total",
		Help: "Disagreements not written to output.shadow_topic, by reason: rate (over output.shadow_max_per_sec) or size (too large for the topic).",
	}, []string{"reason"})
	s.suppressed[suppressedRate] = suppressed.WithLabelValues("rate")
	s.suppressed[suppressedSize] = suppressed.WithLabelValues("size")
	names := [2]string{"kept", "dropped"}
	for l := range 2 {
		for sh := range 2 {
			s.byDecision[l][sh] = s.decisions.WithLabelValues(names[l], names[sh])
		}
	}
	s.rules = newRuleSeries(ruleVec{s.dropped, filterLabels}, ruleVec{s.flagged, threatLabels})
	reg.MustRegister(s.decisions, s.dropped, s.flagged, s.version, s.reloads, suppressed)
	return s
}

// ShadowRulesLoaded records a load of the shadow rule file: set is the Set
// now serving (nil with err: the previous one, or none, keeps serving).
// The per-rule series of shadow rules set no longer has are deleted.
func (m *Metrics) ShadowRulesLoaded(set *rules.Set, err error) {
	s := m.shadow
	if err != nil {
		s.reloads.WithLabelValues("failure").Inc()
		return
	}
	s.rules.serve(set)
	version := set.Version()
	if prev := s.lastVer.Swap(&version); prev != nil && *prev != version {
		s.version.DeleteLabelValues(*prev)
	}
	s.version.WithLabelValues(version).Set(1)
	s.reloads.WithLabelValues("success").Inc()
}

// count counts a decision whose flow the shadow rules judged. The
// decisions are the verdicts' (as flowsieve filter --shadow counts them),
// whatever the live outputs became.
func (s *shadowMetrics) count(d *decision, current func() *rules.Set) {
	sv := d.shadowVerdict
	s.byDecision[keptIndex(d.liveKept)][keptIndex(sv.Keep)].Inc()
	c := s.rules.counters(d.shadow, current)
	if !sv.Keep {
		c.by[seriesDropped][sv.DropRule].Inc()
	}
	for _, h := range sv.Threats {
		c.by[seriesFlagged][h.Rule].Inc()
	}
	if d.shadowOversize {
		s.suppressed[suppressedSize].Inc()
	}
	s.judged.Add(1)
	if d.cmp.Disagree() {
		s.disagreed.Add(1)
	}
}

func keptIndex(kept bool) int {
	if kept {
		return 0
	}
	return 1
}
