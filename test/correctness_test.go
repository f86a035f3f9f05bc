package e2e

import (
	"testing"
	"time"

	"github.com/flowsieve/flowsieve/processor"
)

// TestCorrectness: mixed records (text, JSON, garbage, threats, dropped)
// each land in exactly the right topics with the right content and order,
// and the group's committed offsets end at the input's end.
func TestCorrectness(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opts []pipelineOpt
	}{
		{"defaults", nil},
		// Tiny in-flight caps: fetching pauses and resumes constantly.
		{"back-pressure", []pipelineOpt{func(c *processor.Config) { c.MaxInflightRecords = 7; c.MaxInflightBytes = 2048 }}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, 4)
			rulesFile := writeRules(t, t.TempDir(), testRules)
			ins := makeInputs("c", 6000, e.parts, map[int32]int{})
			e.produce(ins)
			e.startPipeline("correctness", rulesFile, tc.opts...)
			e.waitCommitted("correctness", 60*time.Second)
			e.checkOutputs(ins, true)
			t.Logf("%d inputs: %d kept, %d flagged, %d invalid", len(ins),
				countWhere(ins, func(in input) bool { return in.kept }),
				countWhere(ins, func(in input) bool { return in.threat }),
				countWhere(ins, func(in input) bool { return in.invalid }))
		})
	}
}
