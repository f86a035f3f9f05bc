package e2e

import (
	"testing"
	"time"

	"github.com/flowsieve/flowsieve/processor"
)

// TestRebalance: a consumer group of flowsieve members; a third joins and
// one leaves while records flow. Nothing is lost.
func TestRebalance(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 6)
	rulesFile := writeRules(t, t.TempDir(), testRules)
	ins := makeInputs("r", 4000, e.parts, map[int32]int{})
	short := func(c *processor.Config) { c.SessionTimeout = 6 * time.Second }

	produced := e.produceSlowly(ins, 4*time.Second)
	a := e.startPipeline("rebal", rulesFile, short)
	e.startPipeline("rebal", rulesFile, short)
	e.waitProgress("rebal", 30*time.Second)

	e.startPipeline("rebal", rulesFile, short) // joins mid-stream
	time.Sleep(time.Second)
	if err := a.stop(); err != nil { // leaves mid-stream
		t.Fatalf("stopping a member: %v", err)
	}
	start := time.Now()
	<-produced
	t.Logf("input written %s after the membership changes", time.Since(start))
	e.waitCommitted("rebal", 90*time.Second)
	t.Logf("all committed %s after the membership changes", time.Since(start))
	e.checkOutputs(ins, false)
	t.Logf("checked %s after the membership changes", time.Since(start))
}
