package e2e

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/flowsieve/flowsieve/internal/calicoreal"
	"github.com/flowsieve/flowsieve/processor"
)

// TestThreatRulesBlindOnFelixRecords: the real felix records, aggregated
// as Calico aggregates allowed flows by default (source_ip, dest_ip null),
// leave the c2 rule, which needs those addresses, blind on every one:
// flowsieve_threat_unevaluable_total counts them per field, and the
// summary warns once per field, not every interval.
func TestThreatRulesBlindOnFelixRecords(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 2)
	dir := t.TempDir()
	reg := prometheus.NewRegistry()
	core, logs := observer.New(zap.WarnLevel)
	pl := e.startPipeline("blind", writeRules(t, dir, testRules), func(c *processor.Config) {
		c.Registry, c.Gatherer, c.Metrics = reg, reg, processor.NewMetrics(reg)
		c.SummaryInterval = 300 * time.Millisecond
		c.Logger = zap.New(core)
	})
	lines := calicoreal.Lines(t, calicoreal.FelixExample)
	var ins []input
	for i, l := range lines {
		ins = append(ins, input{key: "felix-" + string(rune('a'+i%26)), value: l, partition: int32(i) % e.parts})
	}
	e.produce(ins)
	e.waitCommitted("blind", 60*time.Second)
	got := gatherOf(t, reg, "flowsieve_threat_unevaluable_total")
	n := float64(len(lines))
	if got["field=source_ip,rule=c2"] != n || got["field=dest_ip,rule=c2"] != n || len(got) != 2 {
		t.Errorf("unevaluable %v, want c2 on source_ip and dest_ip, %v each", got, n)
	}
	msg := "threat rule blind: a field it needs was empty (as on flows Calico aggregates) on more than 1% of the flows judged; it cannot match them"
	eventually(t, 10*time.Second, "the blind warnings", func() bool { return logs.FilterMessage(msg).Len() >= 2 })
	time.Sleep(time.Second) // more summary intervals, with no new records
	warned := map[string]int{}
	for _, l := range logs.FilterMessage(msg).All() {
		warned[l.ContextMap()["rule"].(string)+"/"+l.ContextMap()["field"].(string)]++
	}
	if len(warned) != 2 || warned["c2/source_ip"] != 1 || warned["c2/dest_ip"] != 1 {
		t.Errorf("warnings %v, want one for c2 on each address field", warned)
	}
	if err := pl.stop(); err != nil {
		t.Error(err)
	}
}
