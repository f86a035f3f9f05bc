package goldmane

import "github.com/prometheus/client_golang/prometheus"

// Metrics are the ingester's flowsieve_ingest_* series.
type Metrics struct {
	Received          prometheus.Counter
	Produced          prometheus.Counter
	ProduceErrors     prometheus.Counter
	Reconnects        prometheus.Counter
	Replayed          prometheus.Counter
	DuplicatesSkipped prometheus.Counter
	HitsDropped       prometheus.Counter
	Invalid           prometheus.Counter
	Late              prometheus.Counter
	Connected         prometheus.Gauge
	LastFlowTime      prometheus.Gauge
	Position          prometheus.Gauge
}

// NewMetrics registers the series with reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	c := func(name, help string) prometheus.Counter {
		m := prometheus.NewCounter(prometheus.CounterOpts{Name: "flowsieve_ingest_" + name, Help: help})
		reg.MustRegister(m)
		return m
	}
	g := func(name, help string) prometheus.Gauge {
		m := prometheus.NewGauge(prometheus.GaugeOpts{Name: "flowsieve_ingest_" + name, Help: help})
		reg.MustRegister(m)
		return m
	}
	return &Metrics{
		Received:          c("flows_received_total", "Flows received from Goldmane."),
		Produced:          c("flows_produced_total", "Records acknowledged by Kafka."),
		ProduceErrors:     c("produce_errors_total", "Records Kafka did not take; their interval is streamed again."),
		Reconnects:        c("reconnects_total", "Times the Goldmane stream broke and was opened again."),
		Replayed:          c("replayed_flows_total", "Flows of the resumed interval produced again after a restart or a produce failure: possibly on the topic twice."),
		DuplicatesSkipped: c("duplicates_skipped_total", "Flows Goldmane sent again after a reconnect that were already produced, not produced again."),
		HitsDropped:       c("policy_hits_dropped_total", "Policy hits felix could not have written (unknown kind, missing namespace or trigger), left out of the records."),
		Invalid:           c("invalid_flows_total", "FlowResults without a flow key, not produced."),
		Late:              c("late_flows_total", "Flows of an interval older than one already complete, produced anyway."),
		Connected:         g("connected", "1 while the Goldmane stream is open."),
		LastFlowTime:      g("last_flow_end_time_seconds", "End time (Unix seconds) of the newest flow received."),
		Position:          g("position_seconds", "Start (Unix seconds) of the oldest interval not known to be fully on Kafka: where a restart resumes."),
	}
}
