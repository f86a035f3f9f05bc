package e2e

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowsieve/flowsieve/processor"
)

// TestRebalance: a consumer group of flowsieve members while records flow.
// A third member joins mid-stream and is given partitions, which it
// processes; then one of the first leaves mid-stream, with partitions and
// records of its own. Every rebalance revokes partitions gracefully: their
// worker drains the records in flight and commits before they move, so the
// next owner starts after the last record routed and nothing is processed
// twice. Nothing is lost, nothing is duplicated, order holds.
func TestRebalance(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 6)
	rulesFile := writeRules(t, t.TempDir(), testRules)
	ins := makeInputs("r", 4000, e.parts, map[int32]int{})
	member := func() (*pipeline, *prometheus.Registry) {
		reg := prometheus.NewRegistry()
		pl := e.startPipeline("rebal", rulesFile, func(c *processor.Config) {
			c.SessionTimeout = 6 * time.Second
			c.Registry, c.Gatherer = reg, reg
		})
		return pl, reg
	}
	flowing := func(produced <-chan struct{}) bool {
		select {
		case <-produced:
			return false
		default:
			return true
		}
	}

	produced := e.produceSlowly(ins, 10*time.Second)
	a, aReg := member()
	member()
	e.waitProgress("rebal", 30*time.Second)

	_, cReg := member() // joins mid-stream
	eventually(t, 30*time.Second, "the member that joined mid-stream is assigned partitions and processes their records", func() bool {
		return metricSum(t, cReg, "flowsieve_assigned_partitions") > 0 && metricSum(t, cReg, "flowsieve_records_consumed_total") > 0
	})
	if !flowing(produced) {
		t.Fatal("the input was all written before the third member joined: the test proves nothing about a rebalance mid-stream")
	}
	// The leaving member holds partitions and has routed records: its
	// revoke has work in flight to drain.
	if n := metricSum(t, aReg, "flowsieve_assigned_partitions"); n == 0 {
		t.Fatal("the member about to leave holds no partition")
	}
	aConsumed := metricSum(t, aReg, "flowsieve_records_consumed_total")
	if err := a.stop(); err != nil { // leaves mid-stream
		t.Fatalf("stopping a member: %v", err)
	}
	if !flowing(produced) {
		t.Fatal("the input was all written before a member left: the test proves nothing about leaving mid-stream")
	}
	if aConsumed == 0 {
		t.Fatal("the member that left had consumed nothing")
	}
	start := time.Now()
	<-produced
	e.waitCommitted("rebal", 90*time.Second)
	t.Logf("all committed %s after the member left (it had consumed %.0f records)", time.Since(start), aConsumed)
	// No output duplicated, which at-least-once guarantees
	// only across graceful revokes, the ones this test makes.
	e.checkOutputs(ins, allExactlyOnce)
}
