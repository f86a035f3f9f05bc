package processor

import (
	"context"
	"time"

	"go.uber.org/zap"
)

// brokerCheckInterval is how often readiness asks the brokers whether
// they answer. A produce that cannot reach them fails only after the
// delivery timeout; readiness should turn false well before.
const brokerCheckInterval = time.Second

// watchBrokers pings the brokers until ctx ends and keeps the answer for
// Ready: not ready while they do not answer.
func (p *Pipeline) watchBrokers(ctx context.Context) {
	t := time.NewTicker(brokerCheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, cancel := context.WithTimeout(ctx, 3*time.Second)
		err := p.producer.Ping(pctx)
		cancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil {
			msg := err.Error()
			if p.brokerDown.Swap(&msg) == nil {
				p.log.Warn("Kafka brokers do not answer; not ready until they do (records wait, nothing is lost)", zap.Error(err))
			}
			continue
		}
		if p.brokerDown.Swap(nil) != nil {
			p.log.Info("Kafka brokers answer again")
		}
	}
}
