package e2e

import (
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/flowsieve/flowsieve/processor"
)

// TestProduceFailureStalls: while the broker refuses every produce with a
// non-retriable error, no offset is committed past the failure, readiness
// and the metrics say so; once produces succeed again the stalled
// partitions are retried and every record arrives.
func TestProduceFailureStalls(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 2)
	rulesFile := writeRules(t, t.TempDir(), testRules)
	var failing, refused atomic.Bool
	failing.Store(true)
	rawID := e.broker.Cluster().TopicInfo(rawTopic).TopicID
	e.broker.Cluster().ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		if !failing.Load() {
			return nil, nil, false
		}
		r := req.(*kmsg.ProduceRequest)
		for _, rt := range r.Topics {
			if rt.Topic == rawTopic || rt.TopicID == rawID {
				return nil, nil, false // the test's own input
			}
		}
		e.broker.Cluster().KeepControl()
		refused.Store(true)
		return refuseProduce(r, kerr.TopicAuthorizationFailed), nil, true
	})

	reg := prometheus.NewRegistry()
	ins := makeInputs("s", 1000, e.parts, map[int32]int{})
	e.produce(ins)
	pl := e.startPipeline("stall", rulesFile, func(c *processor.Config) { c.Registry, c.Gatherer = reg, reg })

	deadline := time.Now().Add(20 * time.Second)
	for {
		err := pl.p.Ready()
		if err != nil && strings.Contains(err.Error(), "stalled") {
			t.Logf("readiness while refused: %v", err)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("readiness did not report the stall: %v (refused: %v)", err, refused.Load())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if n := metricSum(t, reg, "flowsieve_produce_errors_total"); n == 0 {
		t.Error("flowsieve_produce_errors_total is 0 during the failure")
	}
	time.Sleep(time.Second) // a commit interval or more
	for p, o := range e.committed("stall") {
		if o != 0 {
			t.Errorf("partition %d committed to %d while every produce failed", p, o)
		}
	}

	failing.Store(false)
	e.waitCommitted("stall", 60*time.Second)
	if err := pl.p.Ready(); err != nil {
		t.Errorf("not ready after recovery: %v", err)
	}
	e.checkOutputs(ins, allAtLeastOnce)
}

// metricSum is the sum of the counter or gauge name over its labels.
func metricSum(t *testing.T, g prometheus.Gatherer, name string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
			}
		}
	}
	return sum
}

// counterWith is the sum of the counter name over its series with label =
// value.
func counterWith(t *testing.T, g prometheus.Gatherer, name, label, value string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == label && l.GetValue() == value {
					sum += m.GetCounter().GetValue()
				}
			}
		}
	}
	return sum
}

// refuseProduce answers a produce request with err for every partition
// it writes to.
func refuseProduce(r *kmsg.ProduceRequest, err *kerr.Error) *kmsg.ProduceResponse {
	resp := r.ResponseKind().(*kmsg.ProduceResponse)
	for _, rt := range r.Topics {
		st := kmsg.NewProduceResponseTopic()
		st.Topic, st.TopicID = rt.Topic, rt.TopicID
		for _, rp := range rt.Partitions {
			sp := kmsg.NewProduceResponseTopicPartition()
			sp.Partition = rp.Partition
			sp.ErrorCode = err.Code
			st.Partitions = append(st.Partitions, sp)
		}
		resp.Topics = append(resp.Topics, st)
	}
	return resp
}
