package e2e

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowsieve/flowsieve/processor"
)

// TestConsumerLagWhileStalled: flowsieve_consumer_lag counts records not
// finished, not records not fetched. The kept topic is deleted under a
// running pipeline, in both delivery modes, so its partitions stall; the
// input produced from then on must all count as lag, and keep counting as
// more comes, though the records are fetched (exactly-once: again after
// every abort) or their partition's fetching is paused by back-pressure
// (at-least-once: the in-flight cap is below the input). Once the topic is
// back and everything is committed the lag returns to 0.
func TestConsumerLagWhileStalled(t *testing.T) {
	t.Parallel()
	bothModes(t, consumerLagWhileStalled)
}

func consumerLagWhileStalled(t *testing.T, exactly bool) {
	e := newEnv(t, 2)
	rulesFile := writeRules(t, t.TempDir(), testRules)
	reg := prometheus.NewRegistry()
	group := "lag"
	pl := e.startPipeline(group, rulesFile, func(c *processor.Config) {
		c.DeliveryTimeout = 5 * time.Second // the stall starts when it expires
		c.Registry, c.Gatherer = reg, reg
		c.LagRefreshInterval = 300 * time.Millisecond
		// Paused after 200 records: the fetches stop bringing the end.
		c.MaxInflightRecords = 200
		if exactly {
			exactlyOnce(c)
		}
	})
	began := time.Now()
	seqs := map[int32]int{}
	e.produce(makeInputs("l1", 400, e.parts, seqs))
	e.waitCommitted(group, 30*time.Second)
	waitLag(t, reg, e.parts, "caught up", 10*time.Second, func(lag float64) bool { return lag == 0 })

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := e.adm.DeleteTopics(ctx, keptTopic); err != nil {
		t.Fatal(err)
	}
	e.produce(makeInputs("l2", 100, e.parts, seqs))
	waitStalled(t, pl, keptTopic, "", 30*time.Second)
	t.Logf("stalled after %s", time.Since(began).Round(100*time.Millisecond))

	// Everything produced from now on is behind the stalled record.
	after := 0
	for round := 1; round <= 2; round++ {
		e.produce(makeInputs(fmt.Sprintf("l%d", 2+round), 1000, e.parts, seqs))
		after += 1000 / int(e.parts)
		lags := waitLag(t, reg, e.parts, fmt.Sprintf("at least %d after %d records per partition since the stall", after, after),
			10*time.Second, func(lag float64) bool { return lag >= float64(after) })
		t.Logf("round %d, stalled: lag %v after %s", round, lags, time.Since(began).Round(100*time.Millisecond))
	}

	if err := e.broker.CreateTopics(int(e.parts), 0, 0, keptTopic); err != nil {
		t.Fatal(err)
	}
	t.Logf("topic back after %s", time.Since(began).Round(100*time.Millisecond))
	waitReady(t, pl, 60*time.Second)
	e.waitCommitted(group, 60*time.Second)
	t.Logf("recovered after %s", time.Since(began).Round(100*time.Millisecond))
	waitLag(t, reg, e.parts, "0 after recovery", 10*time.Second, func(lag float64) bool { return lag == 0 })
}

// waitLag waits until flowsieve_consumer_lag of every input partition
// satisfies ok, and returns the gauges by partition.
func waitLag(t *testing.T, g prometheus.Gatherer, parts int32, what string, timeout time.Duration, ok func(float64) bool) map[string]float64 {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		lags := lagGauges(t, g)
		good := len(lags) == int(parts)
		for _, lag := range lags {
			good = good && ok(lag)
		}
		if good {
			return lags
		}
		if time.Now().After(deadline) {
			t.Fatalf("flowsieve_consumer_lag not %s within %s: %v", what, timeout, lags)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// lagGauges returns flowsieve_consumer_lag of the raw topic by partition.
func lagGauges(t *testing.T, g prometheus.Gatherer) map[string]float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "flowsieve_consumer_lag" {
			continue
		}
		for _, m := range mf.GetMetric() {
			var topic, part string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "topic":
					topic = l.GetValue()
				case "partition":
					part = l.GetValue()
				}
			}
			if _, err := strconv.Atoi(part); err == nil && topic == rawTopic {
				out[part] = m.GetGauge().GetValue()
			}
		}
	}
	return out
}
