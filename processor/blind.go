package processor

import (
	"strings"

	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"

	"github.com/flowsieve/flowsieve/rules"
)

// blindLabels are the label values {rule, field} of a Set's
// flowsieve_threat_unevaluable_total series, by Set.BlindSpotIndex.
func blindLabels(s *rules.Set) [][]string {
	spots := s.BlindSpots()
	out := make([][]string, 0, len(spots))
	for _, b := range spots {
		out = append(out, []string{b.Rule, b.Field})
	}
	return out
}

// blindShare is the share of an interval's judged flows above which the
// summary warns that a threat rule is blind.
const blindShare = 0.01

// blindWatch remembers, between summary lines, each blind spot's count
// and whether it was over blindShare, so a rule blind interval after
// interval (every allowed flow at Calico's default aggregation) is warned
// about once, and again only after it recovered.
type blindWatch struct {
	last map[string]float64 // label key -> count at the last summary
	over map[string]bool
}

// check warns about the blind spots of the serving Set that reached more
// than blindShare of the judged flows since the last call.
func (bw *blindWatch) check(m *Metrics, judged int64, log *zap.Logger) {
	if bw.last == nil {
		bw.last, bw.over = map[string]float64{}, map[string]bool{}
	}
	c := m.rules.live.Load()
	if c == nil {
		return
	}
	var d dto.Metric
	for i, lv := range blindLabels(c.set) {
		if err := c.by[seriesUnevaluable][i].Write(&d); err != nil {
			continue
		}
		key := strings.Join(lv, "\xff")
		n := d.GetCounter().GetValue()
		delta := n - bw.last[key]
		bw.last[key] = n
		over := judged > 0 && delta > blindShare*float64(judged)
		if over && !bw.over[key] {
			log.Warn("threat rule blind: a field it needs was empty (as on flows Calico aggregates) on more than 1% of the flows judged; it cannot match them",
				zap.String("rule", lv[0]), zap.String("field", lv[1]),
				zap.Float64("blind", delta), zap.Int64("judged", judged))
		}
		bw.over[key] = over
	}
}
