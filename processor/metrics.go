package processor

import (
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowsieve/flowsieve/internal/ruby"
	"github.com/flowsieve/flowsieve/rules"
)

// Metrics are the pipeline's Prometheus series, all named flowsieve_*.
// They live in a struct registered on the registry the caller passes, never
// in package globals, so tests and the bench run several pipelines side by
// side.
type Metrics struct {
	consumed      *prometheus.CounterVec // topic, partition
	produced      *prometheus.CounterVec // topic
	dropped       *prometheus.CounterVec // rule
	flagged       *prometheus.CounterVec // rule, severity
	rules         *ruleSeries            // dropped and flagged, by rules version
	parseErrors   *prometheus.CounterVec // reason
	produceErrors *prometheus.CounterVec // topic
	recreations   *prometheus.CounterVec // topic
	stalled       *prometheus.GaugeVec   // topic, partition
	lag           *prometheus.GaugeVec   // topic, partition
	latency       prometheus.Histogram   // consume -> every output acknowledged
	reloads       *prometheus.CounterVec // result
	rulesVersion  *prometheus.GaugeVec   // version
	reloadTime    prometheus.Gauge
	reloadOK      prometheus.Gauge
	assigned      prometheus.Gauge
	bytesIn       *prometheus.CounterVec // topic
	bytesOut      *prometheus.CounterVec // topic
	// Per sample or cap filter (rule): flows seen and kept, their true
	// bytes and the estimate from the kept ones, keys evicted.
	sampleSeen, sampleKept, sampleBytes, sampleEstimate, capEvictions *prometheus.CounterVec

	shadow      *shadowMetrics         // the shadow rules' series (shadow.go)
	unevaluable *prometheus.CounterVec // rule, field (blind.go)

	// Totals for the summary log line, kept beside the labelled series so
	// the summary does not have to gather the registry.
	in, out, kept, drops, flags, invalid atomic.Int64
	lastVersion                          atomic.Pointer[string]
}

// NewMetrics creates the series and registers them on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		consumed: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flowsieve_records_consumed_total",
			Help: "Input records consumed, per topic and partition.",
		}, []string{"topic", "partition"}),
		produced: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flowsieve_records_produced_total",
			Help: "Output records acknowledged by the brokers, per output topic.",
		}, []string{"topic"}),
		dropped: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flowsieve_records_dropped_total",
			Help: "Flows dropped by a filter rule, per rule.",
		}, []string{"rule"}),
		flagged: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flowsieve_flows_flagged_total",
			Help: "Flows flagged by a threat rule, per rule and severity (a flow flagged by two rules counts for both).",
		}, []string{"rule", "severity"}),
		parseErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flowsieve_parse_errors_total",
			Help: "Records that did not parse and went to the invalid topic, per reason class (empty, json, text_<column>, limit_record_bytes, limit_members, limit_depth, oversize).",
		}, []string{"reason"}),
		produceErrors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flowsieve_produce_errors_total",
			Help: "Output records the producer failed to deliver after its retries, per output topic; each stalls its input partition until a retry succeeds.",
		}, []string{"topic"}),
		recreations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flowsieve_output_topic_recreations_total",
			Help: "Output topics found deleted and created again under the running pipeline, per topic; each time the producer forgets the old topic and the stalled records go to the new one.",
		}, []string{"topic"}),
		stalled: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "flowsieve_partition_stalled",
			Help: "1 while an input partition cannot progress because an output record failed to produce.",
		}, []string{"topic", "partition"}),
		lag: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "flowsieve_consumer_lag",
			Help: "Input records not yet finished (at-least-once: every output acknowledged; exactly-once: transaction committed), per assigned input partition: its end offset minus its first unfinished offset. Grows while the partition is paused or stalled.",
		}, []string{"topic", "partition"}),
		latency: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "flowsieve_processing_latency_seconds",
			Help:    "Time from a record's poll to the acknowledgement of its last output.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}),
		reloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flowsieve_rules_reloads_total",
			Help: "Rule file reloads, by result (success, failure).",
		}, []string{"result"}),
		rulesVersion: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "flowsieve_rules_version_info",
			Help: "1 for the version of the rules serving now.",
		}, []string{"version"}),
		reloadTime: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "flowsieve_rules_last_reload_timestamp_seconds",
			Help: "Unix time of the last reload attempt.",
		}),
		reloadOK: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "flowsieve_rules_last_reload_successful",
			Help: "1 if the last reload attempt succeeded, 0 if it failed (the previous rules keep serving).",
		}),
		assigned: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "flowsieve_assigned_partitions",
			Help: "Input partitions this member is processing.",
		}),
		bytesIn: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flowsieve_bytes_consumed_total",
			Help: "Bytes of input record values consumed, per input topic.",
		}, []string{"topic"}),
		bytesOut: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flowsieve_bytes_produced_total",
			Help: "Bytes of output record values acknowledged by the brokers, per output topic: with flowsieve_bytes_consumed_total, what projection and sampling save.",
		}, []string{"topic"}),
		sampleSeen: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flowsieve_sample_seen_total",
			Help: "Flows that reached a sample or cap filter and matched it, per filter.",
		}, []string{"rule"}),
		sampleKept: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flowsieve_sample_kept_total",
			Help: "Flows a sample or cap filter kept, per filter.",
		}, []string{"rule"}),
		sampleBytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flowsieve_sample_bytes_total",
			Help: "True bytes (bytes_in + bytes_out) of the flows a sample or cap filter saw, per filter.",
		}, []string{"rule"}),
		sampleEstimate: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flowsieve_sample_bytes_estimated_total",
			Help: "Bytes of the flows a sample or cap filter kept, each scaled by 1/rate: the estimate of flowsieve_sample_bytes_total from what was kept, per filter.",
		}, []string{"rule"}),
		unevaluable: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flowsieve_threat_unevaluable_total",
			Help: "Flows a threat rule did not match because a test it reached found a field it needs absent, null or \"-\", as Calico's aggregation leaves source_port (level 1 and above), source_ip, dest_ip, source_name and dest_name (level 2 and above); per rule and field.",
		}, []string{"rule", "field"}),
		capEvictions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flowsieve_cap_evictions_total",
			Help: "Keys a cap filter forgot, least recently seen first, to stay within max_keys, per filter.",
		}, []string{"rule"}),
	}
	m.rules = newRuleSeries(ruleVec{m.dropped, filterLabels}, ruleVec{m.flagged, threatLabels},
		ruleVec{m.sampleSeen, samplingLabels},
		ruleVec{m.sampleKept, samplingLabels},
		ruleVec{m.sampleBytes, samplingLabels},
		ruleVec{m.sampleEstimate, samplingLabels},
		ruleVec{m.capEvictions, samplingLabels},
		ruleVec{m.unevaluable, blindLabels},
	)
	m.shadow = newShadowMetrics(reg)
	// Counted where the matches run (package ruby), per process: a
	// pipeline has one rule set, and the hot path stays free of it.
	regexTimeouts := prometheus.NewCounterFunc(prometheus.CounterOpts{
		Name: "flowsieve_regex_timeouts_total",
		Help: "Regex matches on the backtracking engine that ran out of their time budget (a compat rule keeps such a record).",
	}, func() float64 { return float64(ruby.Timeouts()) })
	reg.MustRegister(m.consumed, m.produced, m.dropped, m.flagged, m.parseErrors, m.produceErrors, m.recreations,
		m.stalled, m.lag, m.latency, m.reloads, m.rulesVersion, m.reloadTime, m.reloadOK, m.assigned, regexTimeouts,
		m.bytesIn, m.bytesOut, m.sampleSeen, m.sampleKept, m.sampleBytes, m.sampleEstimate, m.capEvictions,
		m.unevaluable)
	return m
}

// Totals are record counts since the pipeline started, as the summary log
// line reports them. Outside copy mode each input counts as exactly one of
// Kept, Dropped and Invalid, and as Flagged besides (see Routing in the
// package doc); Out counts acknowledged output records.
type Totals struct {
	In, Out, Kept, Dropped, Flagged, Invalid int64
	// With shadow rules: the flows both rule sets judged, and those they
	// judged differently (kept vs dropped, or other threat rules).
	ShadowJudged, ShadowDisagreed int64
}

// Totals returns the counts so far.
func (m *Metrics) Totals() Totals {
	return Totals{In: m.in.Load(), Out: m.out.Load(), Kept: m.kept.Load(), Dropped: m.drops.Load(), Flagged: m.flags.Load(), Invalid: m.invalid.Load(),
		ShadowJudged: m.shadow.judged.Load(), ShadowDisagreed: m.shadow.disagreed.Load()}
}

// RulesLoaded records a load or reload of the rule file: set is the Set
// now serving (nil when err is not nil: the previous one keeps serving).
// The per-rule series of rules set no longer has are deleted.
func (m *Metrics) RulesLoaded(set *rules.Set, err error) {
	m.reloadTime.Set(float64(time.Now().UnixNano()) / 1e9)
	if err != nil {
		m.reloads.WithLabelValues("failure").Inc()
		m.reloadOK.Set(0)
		return
	}
	// The per-rule series first: a scrape that sees the reload counted
	// sees the series of the new set only.
	m.rules.serve(set)
	version := set.Version()
	if prev := m.lastVersion.Swap(&version); prev != nil && *prev != version {
		m.rulesVersion.DeleteLabelValues(*prev)
	}
	m.rulesVersion.WithLabelValues(version).Set(1)
	m.reloadOK.Set(1)
	m.reloads.WithLabelValues("success").Inc()
}

// Indexes of the live rules' vectors in ruleCounters.by.
const (
	seriesDropped = iota // flowsieve_records_dropped_total{rule}, by filter index
	seriesFlagged        // flowsieve_flows_flagged_total{rule,severity}, by threat rule index
	// By position among the sample and cap filters (Set.SamplingFilters):
	seriesSampleSeen     // flowsieve_sample_seen_total{rule}
	seriesSampleKept     // flowsieve_sample_kept_total{rule}
	seriesSampleBytes    // flowsieve_sample_bytes_total{rule}
	seriesSampleEstimate // flowsieve_sample_bytes_estimated_total{rule}
	seriesCapEvictions   // flowsieve_cap_evictions_total{rule}
	seriesUnevaluable    // flowsieve_threat_unevaluable_total{rule,field}, by Set.BlindSpotIndex
)

// countSamples counts one flow on the series of the sample and cap
// filters it reached (set is the Set c counts for); flowBytes is its
// bytes_in + bytes_out.
func (c *ruleCounters) countSamples(set *rules.Set, samples []rules.Sample, flowBytes int64) {
	sampling := set.SamplingFilters()
	flowBytes = max(flowBytes, 0) // a counter cannot go down: negative byte counts count as none
	for _, smp := range samples {
		i := slices.Index(sampling, smp.Rule)
		if i < 0 {
			continue
		}
		c.by[seriesSampleSeen][i].Inc()
		c.by[seriesSampleBytes][i].Add(float64(flowBytes))
		if smp.Kept {
			c.by[seriesSampleKept][i].Inc()
			c.by[seriesSampleEstimate][i].Add(float64(flowBytes) / smp.Rate)
		}
		if smp.Evicted {
			c.by[seriesCapEvictions][i].Inc()
		}
	}
}

// ruleSeries are the series labelled by the rules of one rule file, kept
// to the rules of the Set serving now. Series of a rule the serving Set no
// longer has are deleted when a new Set is seen (a reload reported to
// RulesLoaded, or the first record judged by it, whichever comes first),
// so a rule file renamed over months does not leave a ghost series per
// name ever loaded; as in Prometheus' rule manager, a renamed rule's
// counter starts again from zero. The live rules have one ruleSeries; the
// shadow rules of issue 14 get their own over their own vectors (with
// filterLabels and threatLabels, say), served on the shadow file's reloads
// and resolved against the shadow Set in force, the same way.
//
// A record judged by a Set that has just been replaced counts on the
// series of its rules that the new Set still has; the counts of rules
// that are gone are discarded rather than bring their series back.
type ruleSeries struct {
	vecs []ruleVec
	live atomic.Pointer[ruleCounters] // the serving Set's counters
	mu   sync.Mutex                   // serialises changes of live
}

// ruleVec is one vector labelled by rule.
type ruleVec struct {
	vec *prometheus.CounterVec
	// labels returns the label values of each of a Set's series, in the
	// order the hot path indexes them.
	labels func(*rules.Set) [][]string
}

// ruleCounters are one Set's per-rule counters, resolved once per Set
// rather than per record.
type ruleCounters struct {
	set *rules.Set
	by  [][]prometheus.Counter // per vector, in labels order
	// keys are the label values of each vector's series (joined), for
	// the diff against the next serving Set.
	keys []map[string][]string
}

func newRuleSeries(vecs ...ruleVec) *ruleSeries {
	return &ruleSeries{vecs: vecs}
}

// counters returns the counters of set, which the caller has just taken
// from current, the authority on which Set serves (the pipeline's Rules).
// current is read again under the lock, after set was, so it is never
// older than set: when they differ, set has been replaced.
func (s *ruleSeries) counters(set *rules.Set, current func() *rules.Set) *ruleCounters {
	if c := s.live.Load(); c != nil && c.set == set {
		return c
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	live := s.serveLocked(current())
	if live.set == set {
		return live
	}
	return s.replaced(set, live)
}

// serve makes set the serving Set. It must be the Set the pipeline's
// Rules returns now (a reload reports it while no newer one can be
// swapped in).
func (s *ruleSeries) serve(set *rules.Set) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.serveLocked(set)
}

func (s *ruleSeries) serveLocked(set *rules.Set) *ruleCounters {
	old := s.live.Load()
	if old != nil && old.set == set {
		return old
	}
	c := &ruleCounters{set: set}
	labels := make([][][]string, len(s.vecs))
	for i, v := range s.vecs {
		labels[i] = v.labels(set)
		keys := make(map[string][]string, len(labels[i]))
		for _, lv := range labels[i] {
			keys[labelKey(lv)] = lv
		}
		c.keys = append(c.keys, keys)
	}
	// The old rules' series go before the new ones come, so a scrape in
	// between never shows more series than a rule file has rules.
	if old != nil {
		for i, v := range s.vecs {
			for k, lv := range old.keys[i] {
				if _, ok := c.keys[i][k]; !ok {
					v.vec.DeleteLabelValues(lv...)
				}
			}
		}
	}
	for i, v := range s.vecs {
		byRule := make([]prometheus.Counter, 0, len(labels[i]))
		for _, lv := range labels[i] {
			byRule = append(byRule, v.vec.WithLabelValues(lv...))
		}
		c.by = append(c.by, byRule)
	}
	s.live.Store(c)
	return c
}

// replaced returns the counters of a Set that live has replaced: its
// rules that live still has count on live's series, the others on a
// counter nobody gathers.
func (s *ruleSeries) replaced(set *rules.Set, live *ruleCounters) *ruleCounters {
	gone := prometheus.NewCounter(prometheus.CounterOpts{Name: "flowsieve_discarded"})
	c := &ruleCounters{set: set}
	for i, v := range s.vecs {
		byRule := []prometheus.Counter{}
		for _, lv := range v.labels(set) {
			if _, ok := live.keys[i][labelKey(lv)]; ok {
				byRule = append(byRule, v.vec.WithLabelValues(lv...))
			} else {
				byRule = append(byRule, gone)
			}
		}
		c.by = append(c.by, byRule)
	}
	return c
}

// filterLabels are the label values {rule} of a Set's series per filter,
// by filter index.
func filterLabels(s *rules.Set) [][]string {
	out := make([][]string, 0, len(s.FilterNames()))
	for _, n := range s.FilterNames() {
		out = append(out, []string{n})
	}
	return out
}

// samplingLabels are the label values {rule} of a Set's series per
// sample or cap filter, in Set.SamplingFilters order.
func samplingLabels(s *rules.Set) [][]string {
	names := s.FilterNames()
	out := make([][]string, 0, len(s.SamplingFilters()))
	for _, i := range s.SamplingFilters() {
		out = append(out, []string{names[i]})
	}
	return out
}

// threatLabels are the label values {rule, severity} of a Set's series per
// threat rule, by threat rule index.
func threatLabels(s *rules.Set) [][]string {
	out := make([][]string, 0, len(s.ThreatRules()))
	for _, t := range s.ThreatRules() {
		out = append(out, []string{t.Name, t.Severity})
	}
	return out
}

// labelKey joins a series' label values into a map key.
func labelKey(lv []string) string { return strings.Join(lv, "\xff") }
