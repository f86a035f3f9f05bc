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
	m := p.m
	last := time.Now()
	prevIn, prevOut, prevKept, prevDrop, prevFlag, prevInv := m.in.Load(), m.out.Load(), m.kept.Load(), m.drops.Load(), m.flags.Load(), m.invalid.Load()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			in, out, kept, drop, flag, inv := m.in.Load(), m.out.Load(), m.kept.Load(), m.drops.Load(), m.flags.Load(), m.invalid.Load()
			secs := now.Sub(last).Seconds()
			var lag int64
			ws, parts := p.lagWorkers()
			for _, w := range ws {
				lag += w.lag.value.Load()
			}
			p.log.Info("summary",
				zap.Float64("in_per_sec", float64(in-prevIn)/secs),
				zap.Float64("out_per_sec", float64(out-prevOut)/secs),
				zap.Int64("kept", kept-prevKept),
				zap.Int64("dropped", drop-prevDrop),
				zap.Int64("flagged", flag-prevFlag),
				zap.Int64("invalid", inv-prevInv),
				zap.Int64("lag", lag),
				zap.Int("partitions", parts),
				zap.Int32("stalled_partitions", p.stalled.Load()),
			)
			last, prevIn, prevOut, prevKept, prevDrop, prevFlag, prevInv = now, in, out, kept, drop, flag, inv
		}
	}
}
