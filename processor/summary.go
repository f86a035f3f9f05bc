package processor

import (
	"context"
	"time"

	"go.uber.org/zap"
)

// summarize logs one line per SummaryInterval: rates in and out, and what
// happened to the records since the last line.
func (p *Pipeline) summarize(ctx context.Context) {
	t := time.NewTicker(p.cfg.SummaryInterval)
	defer t.Stop()
	last, prev := time.Now(), p.m.Totals()
	var blind blindWatch
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			c := p.m.Totals()
			secs := now.Sub(last).Seconds()
			var lag int64
			ws := p.registered()
			for _, w := range ws {
				lag += w.lag.value.Load()
			}
			fields := []zap.Field{
				zap.Float64("in_per_sec", float64(c.In-prev.In)/secs),
				zap.Float64("out_per_sec", float64(c.Out-prev.Out)/secs),
				zap.Int64("kept", c.Kept-prev.Kept),
				zap.Int64("dropped", c.Dropped-prev.Dropped),
				zap.Int64("flagged", c.Flagged-prev.Flagged),
				zap.Int64("invalid", c.Invalid-prev.Invalid),
				zap.Int64("lag", lag),
				zap.Int("partitions", len(ws)),
				zap.Int32("stalled_partitions", p.stalled.Load()),
			}
			if p.cfg.ShadowRules != nil {
				fields = append(fields, zap.Int64("shadow_judged", c.ShadowJudged-prev.ShadowJudged),
					zap.Int64("shadow_disagreements", c.ShadowDisagreed-prev.ShadowDisagreed))
			}
			p.log.Info("summary", fields...)
			blind.check(p.m, c.Kept-prev.Kept+c.Dropped-prev.Dropped, p.log)
			last, prev = now, c
		}
	}
}
