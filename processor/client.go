package processor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"
	"go.uber.org/zap"
)

// The Kafka client set-up both delivery modes share: at-least-once has a
// consumer and a producer, exactly-once one transactional client that is
// both; they take the same options, check the same topics at start and
// log fetch errors alike.

// The producer's buffer, across all partitions. Back-pressure comes from
// the process's in-flight budget (MaxInflightRecords, MaxInflightBytes;
// budget.go), which stops polling; these only keep a Produce from blocking
// the routing goroutine at the default budget (100,000 records, at most
// two outputs each), while bounding memory.
const (
	maxBufferedRecords = 250000
	maxBufferedBytes   = 256 << 20
)

// producerOpts are the producing options of both delivery modes.
func (p *Pipeline) producerOpts() []kgo.Opt {
	compression, _ := compressionCodec(p.cfg.Compression) // validated in New
	return []kgo.Opt{
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(compression),
		kgo.ProducerLinger(p.cfg.Linger),
		kgo.ProducerBatchMaxBytesFn(p.batchMaxBytes),
		// No RecordDeliveryTimeout: it counts from the record's timestamp,
		// which outputs take from their input; see deliveryDeadline.
		kgo.MaxBufferedRecords(maxBufferedRecords),
		kgo.MaxBufferedBytes(maxBufferedBytes),
		kgo.RequiredAcks(kgo.AllISRAcks()), // idempotence (on by default) and transactions need all acks
	}
}

// connect waits up to StartTimeout for the brokers, then looks up the
// output topics (which must exist) and the input topics (which may come
// later).
func (p *Pipeline) connect() error {
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.StartTimeout)
	defer cancel()
	if err := p.producer.Ping(ctx); err != nil {
		return fmt.Errorf("cannot reach Kafka brokers %s within %s: %w", strings.Join(p.cfg.Brokers, ","), p.cfg.StartTimeout, err)
	}
	if err := p.lookupOutputs(ctx); err != nil {
		return err
	}
	p.checkInputs(ctx)
	return nil
}

// commonOpts are the options both clients share; cfg.ClientOpts (TLS, SASL)
// come last so they can override.
func (p *Pipeline) commonOpts(role string) []kgo.Opt {
	km := kprom.NewMetrics("flowsieve_kafka",
		kprom.Registerer(p.cfg.Registry),
		kprom.WithStaticLabel(map[string]string{"client": role}),
	)
	opts := []kgo.Opt{
		kgo.SeedBrokers(p.cfg.Brokers...),
		kgo.ClientID(p.cfg.ClientID),
		kgo.WithLogger(kgoLogger{p.log.With(zap.String("kafka_client", role))}),
		kgo.WithHooks(km),
	}
	return append(opts, p.cfg.ClientOpts...)
}

func (p *Pipeline) lookupOutputs(ctx context.Context) error {
	outs := []string{p.cfg.KeptTopic}
	if !p.cfg.Copy {
		outs = append(outs, p.cfg.ThreatsTopic, p.cfg.InvalidTopic)
		if p.cfg.ShadowTopic != "" {
			outs = append(outs, p.cfg.ShadowTopic)
		}
	}
	td, err := kadm.NewClient(p.producer).ListTopics(ctx, outs...)
	if err != nil {
		return fmt.Errorf("looking up output topics: %w", err)
	}
	p.outParts = make(map[string]int32, len(outs))
	p.producedC = make(map[string]prometheus.Counter, len(outs))
	p.producedBytes = make(map[string]prometheus.Counter, len(outs))
	var missing []string
	for _, t := range outs {
		d, ok := td[t]
		if !ok || d.Err != nil || len(d.Partitions) == 0 {
			missing = append(missing, t)
			continue
		}
		p.outParts[t] = int32(len(d.Partitions))
		p.producedC[t] = p.m.produced.WithLabelValues(t)
		p.producedBytes[t] = p.m.bytesOut.WithLabelValues(t)
	}
	if len(missing) > 0 {
		return fmt.Errorf("output topic(s) %s do not exist: create them (the embedded broker does this itself)", strings.Join(missing, ", "))
	}
	p.lookupLimits(ctx, outs)
	return nil
}

// checkInputs warns about listed input topics that do not exist: the group
// waits for them rather than failing, since they may be created later.
func (p *Pipeline) checkInputs(ctx context.Context) {
	if len(p.cfg.Topics) == 0 {
		return
	}
	td, err := kadm.NewClient(p.producer).ListTopics(ctx, p.cfg.Topics...)
	if err != nil {
		return
	}
	for _, t := range p.cfg.Topics {
		if d, ok := td[t]; !ok || d.Err != nil {
			p.log.Warn("input topic does not exist yet; consuming it once it is created", zap.String("topic", t))
		}
	}
}

// inputOpts are the consumer options both delivery modes share: the group,
// where a partition without a commit starts, fetch sizes and the topics.
func (p *Pipeline) inputOpts() []kgo.Opt {
	cfg := p.cfg
	start := kgo.NewOffset().AtStart()
	if cfg.StartLatest {
		start = kgo.NewOffset().AtEnd()
	}
	opts := []kgo.Opt{
		kgo.ConsumerGroup(cfg.Group),
		kgo.Balancers(kgo.CooperativeStickyBalancer()),
		kgo.ConsumeResetOffset(start),
		kgo.SessionTimeout(cfg.SessionTimeout),
		// One fetch per broker is in flight or buffered at a time, and the
		// records of the one buffered hold its whole response in memory:
		// 8 MiB fetches (1 MiB per partition) keep 2 cores busy at a lower
		// peak RSS and a quicker first record than 16 or 32 MiB ones,
		// which only added memory (issue 13; docs/benchmarks.md).
		kgo.FetchMaxBytes(8 << 20),
		kgo.FetchMaxPartitionBytes(1 << 20),
		// A partition resumed after a stall joins the next fetch only once
		// the fetch in flight returns; an idle fetch waits this long.
		kgo.FetchMaxWait(250 * time.Millisecond),
	}
	if cfg.TopicRegex != "" {
		return append(opts, kgo.ConsumeRegex(), kgo.ConsumeTopics(cfg.TopicRegex))
	}
	return append(opts, kgo.ConsumeTopics(cfg.Topics...))
}

// logFetchErrors logs the fetch errors of a poll. A cancelled or expired
// context is how a poll is stopped (shutdown, the end of an exactly-once
// transaction's gathering), not a failure.
func (p *Pipeline) logFetchErrors(fetches kgo.Fetches) {
	fetches.EachError(func(t string, part int32, err error) {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return
		}
		p.log.Warn("fetch error", zap.String("topic", t), zap.Int32("partition", part), zap.Error(err))
	})
}

// backoff is the wait before trying again after produce failures (an
// output topic gone, the brokers down): those last a while, so it doubles
// from backoffMin up to backoffMax, and progress resets it.
type backoff struct{ d time.Duration }

const (
	backoffMin = time.Second
	backoffMax = 30 * time.Second
)

func (b *backoff) next() time.Duration {
	b.d = min(max(2*b.d, backoffMin), backoffMax)
	return b.d
}

func (b *backoff) reset() { b.d = 0 }
