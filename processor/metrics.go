package processor

import (
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
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
	}
	reg.MustRegister(m.consumed, m.produced, m.dropped, m.flagged, m.parseErrors, m.produceErrors, m.recreations,
		m.stalled, m.lag, m.latency, m.reloads, m.rulesVersion, m.reloadTime, m.reloadOK, m.assigned)
	return m
}

// RulesLoaded records a load or reload of the rule file: version is the
// version now serving (unchanged when err is not nil).
func (m *Metrics) RulesLoaded(version string, err error) {
	m.reloadTime.Set(float64(time.Now().UnixNano()) / 1e9)
	if err != nil {
		m.reloads.WithLabelValues("failure").Inc()
		m.reloadOK.Set(0)
		return
	}
	m.reloads.WithLabelValues("success").Inc()
	m.reloadOK.Set(1)
	if prev := m.lastVersion.Swap(&version); prev != nil && *prev != version {
		m.rulesVersion.DeleteLabelValues(*prev)
	}
	m.rulesVersion.WithLabelValues(version).Set(1)
}
