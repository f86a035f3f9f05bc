// Package processor is the flowsieve pipeline: a consumer group over the raw
// flow-log topics, one worker goroutine per assigned partition that decodes
// each record, judges it with the current rules and produces its outputs
// (kept, threats, invalid), and at-least-once commits: an input offset is
// committed only after the outputs of that record and of every earlier
// record of its partition are acknowledged.
//
// Shape (after franz-go's goroutine_per_partition_consuming examples):
// BlockRebalanceOnPoll keeps the worker map owned by the poll loop and the
// rebalance callbacks; AutoCommitMarks commits what workers mark, and the
// revoke callback drains the workers and commits before partitions go.
package processor

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kprom"
	"go.uber.org/zap"
)

// Pipeline is one member of the flowsieve consumer group.
type Pipeline struct {
	cfg      Config
	log      *zap.Logger
	m        *Metrics
	consumer *kgo.Client
	producer *kgo.Client
	// outParts is each output topic's partition count: input partition p
	// goes to output partition p mod outParts, which keeps each input
	// partition's order in every output.
	outParts  map[string]int32
	producedC map[string]prometheus.Counter
	// outMax is each output topic's largest record (see oversize.go).
	outMax map[string]int
	// txn is set in exactly-once mode: consumer and producer are then
	// one transactional client (see transact.go).
	txn *transactor

	mu      sync.Mutex // guards workers for readers outside the poll loop
	workers map[topicPartition]*worker

	stalled atomic.Int32 // partitions whose produce failed and has not yet succeeded again
	// lastFailure is the last failed produce, named by readiness while
	// a partition is stalled.
	lastFailure atomic.Pointer[produceFailure]
	recreated   recreated
	// brokerDown holds why the brokers did not answer the last check
	// (health.go), nil while they do.
	brokerDown atomic.Pointer[string]
	joined     atomic.Bool
	running    atomic.Bool
	closeErr   error
}

type topicPartition struct {
	topic     string
	partition int32
}

// pollMax bounds one poll: with BlockRebalanceOnPoll a rebalance waits for
// the records of one poll to be handed to the workers.
const pollMax = 10000

// New connects to the brokers, checks that the output topics exist, and
// prepares the consumer. It returns within cfg.StartTimeout with an error
// naming what is wrong when the brokers cannot be reached.
func New(cfg Config) (*Pipeline, error) {
	cfg.setDefaults()
	if err := cfg.validate(); err != nil {
		return nil, fmt.Errorf("processor config: %w", err)
	}
	p := &Pipeline{
		cfg:     cfg,
		log:     cfg.Logger,
		m:       cfg.Metrics,
		workers: make(map[topicPartition]*worker),
	}
	if cfg.ExactlyOnce {
		if err := p.newTransact(); err != nil {
			return nil, err
		}
		return p, nil
	}

	codec, _ := compressionCodec(cfg.Compression)
	prodOpts := append(p.commonOpts("producer"),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(codec),
		kgo.ProducerLinger(cfg.Linger),
		kgo.ProducerBatchMaxBytesFn(p.batchMaxBytes),
		// No RecordDeliveryTimeout: it counts from the record's timestamp,
		// which outputs take from their input; see deliveryDeadline.
		kgo.MaxBufferedRecords(250000),
		kgo.MaxBufferedBytes(256<<20),
		kgo.RequiredAcks(kgo.AllISRAcks()), // idempotence is on by default and needs all acks
	)
	var err error
	if p.producer, err = kgo.NewClient(prodOpts...); err != nil {
		return nil, fmt.Errorf("creating Kafka producer: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), cfg.StartTimeout)
	defer cancel()
	if err := p.producer.Ping(ctx); err != nil {
		p.producer.Close()
		return nil, fmt.Errorf("cannot reach Kafka brokers %s within %s: %w", strings.Join(cfg.Brokers, ","), cfg.StartTimeout, err)
	}
	if err := p.lookupOutputs(ctx); err != nil {
		p.producer.Close()
		return nil, err
	}
	p.checkInputs(ctx)

	consOpts := append(p.commonOpts("consumer"), p.inputOpts()...)
	consOpts = append(consOpts,
		kgo.BlockRebalanceOnPoll(),
		kgo.AutoCommitMarks(),
		kgo.AutoCommitInterval(cfg.CommitInterval),
		kgo.OnPartitionsAssigned(p.assigned),
		kgo.OnPartitionsRevoked(p.revoked),
		kgo.OnPartitionsLost(p.lost),
	)
	if p.consumer, err = kgo.NewClient(consOpts...); err != nil {
		p.producer.Close()
		return nil, fmt.Errorf("creating Kafka consumer: %w", err)
	}
	return p, nil
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
	}
	td, err := kadm.NewClient(p.producer).ListTopics(ctx, outs...)
	if err != nil {
		return fmt.Errorf("looking up output topics: %w", err)
	}
	p.outParts = make(map[string]int32, len(outs))
	p.producedC = make(map[string]prometheus.Counter, len(outs))
	var missing []string
	for _, t := range outs {
		d, ok := td[t]
		if !ok || d.Err != nil || len(d.Partitions) == 0 {
			missing = append(missing, t)
			continue
		}
		p.outParts[t] = int32(len(d.Partitions))
		p.producedC[t] = p.m.produced.WithLabelValues(t)
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

// Metrics returns the pipeline's metrics (cmd feeds rule reloads into it).
func (p *Pipeline) Metrics() *Metrics { return p.m }

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
		kgo.FetchMaxBytes(32 << 20),
		kgo.FetchMaxPartitionBytes(4 << 20),
		// A partition resumed after back-pressure joins the next fetch only
		// once the fetch in flight returns; an idle fetch waits this long.
		kgo.FetchMaxWait(250 * time.Millisecond),
	}
	if cfg.TopicRegex != "" {
		return append(opts, kgo.ConsumeRegex(), kgo.ConsumeTopics(cfg.TopicRegex))
	}
	return append(opts, kgo.ConsumeTopics(cfg.Topics...))
}

// background starts the goroutines that live as long as Run: the periodic
// summary, the broker reachability ping and the listing of input end
// offsets for the consumer lag (lag.go). stop ends and awaits them; it
// is safe to call twice.
func (p *Pipeline) background(ctx context.Context) (stop func()) {
	bctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	if p.cfg.SummaryInterval > 0 {
		wg.Add(1)
		go func() { defer wg.Done(); p.summarize(bctx) }()
	}
	wg.Add(1)
	go func() { defer wg.Done(); p.watchBrokers(bctx) }()
	if p.cfg.LagRefreshInterval > 0 {
		wg.Add(1)
		go func() { defer wg.Done(); p.refreshLag(bctx) }()
	}
	return func() { cancel(); wg.Wait() }
}

// Run consumes until ctx is cancelled, then stops taking records, waits for
// in-flight produces, commits, and leaves the group. It closes both clients.
func (p *Pipeline) Run(ctx context.Context) error {
	if p.txn != nil {
		return p.runTransact(ctx)
	}
	p.running.Store(true)
	defer p.running.Store(false)
	stopBackground := p.background(ctx)
	defer stopBackground()
	p.log.Info("pipeline starting",
		zap.Strings("brokers", p.cfg.Brokers), zap.Strings("topics", p.cfg.Topics), zap.String("topic_regex", p.cfg.TopicRegex),
		zap.String("group", p.cfg.Group), zap.String("kept_topic", p.cfg.KeptTopic),
		zap.String("threats_topic", p.cfg.ThreatsTopic), zap.String("invalid_topic", p.cfg.InvalidTopic), zap.Bool("copy", p.cfg.Copy))

	for {
		fetches := p.consumer.PollRecords(ctx, pollMax)
		if fetches.IsClientClosed() || ctx.Err() != nil {
			break
		}
		fetches.EachError(func(t string, part int32, err error) {
			if errors.Is(err, context.Canceled) {
				return
			}
			p.log.Warn("fetch error", zap.String("topic", t), zap.Int32("partition", part), zap.Error(err))
		})
		polled := time.Now()
		fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
			if len(fp.Records) == 0 {
				return
			}
			w := p.workers[topicPartition{fp.Topic, fp.Partition}]
			if w == nil {
				return // cannot happen with BlockRebalanceOnPoll; never process an unowned partition
			}
			w.lag.fetched(fp.Records[0].Offset, fp.HighWatermark)
			w.enqueue(fp.Records, polled)
		})
		p.consumer.AllowRebalance()
	}

	p.log.Info("pipeline stopping: draining in-flight records, committing, leaving the group")
	p.consumer.AllowRebalance()
	// Close leaves the group; the final revoke drains every worker and
	// commits what was acknowledged (see revoked).
	p.consumer.Close()
	fctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	err := p.producer.Flush(fctx)
	cancel()
	p.producer.Close()
	stopBackground()
	if err != nil {
		return fmt.Errorf("flushing producer at shutdown: %w", err)
	}
	p.log.Info("pipeline stopped")
	return p.closeErr
}

func (p *Pipeline) assigned(_ context.Context, cl *kgo.Client, assigned map[string][]int32) {
	p.joined.Store(true)
	if len(assigned) == 0 {
		return
	}
	// A partition paused by an earlier owner's back-pressure stays paused
	// in the client until resumed.
	cl.ResumeFetchPartitions(assigned)
	p.mu.Lock()
	defer p.mu.Unlock()
	for topic, parts := range assigned {
		for _, part := range parts {
			tp := topicPartition{topic, part}
			if p.workers[tp] != nil {
				continue
			}
			w := newWorker(p, tp)
			p.workers[tp] = w
			go w.run()
		}
	}
	p.m.assigned.Set(float64(len(p.workers)))
	p.log.Info("partitions assigned", zap.Any("partitions", assigned))
}

func (p *Pipeline) revoked(ctx context.Context, cl *kgo.Client, revoked map[string][]int32) {
	if len(revoked) == 0 {
		return
	}
	p.stopWorkers(revoked)
	if err := cl.CommitMarkedOffsets(ctx); err != nil {
		p.log.Error("committing offsets of revoked partitions", zap.Error(err))
	}
	p.log.Info("partitions revoked: in-flight records drained and committed", zap.Any("partitions", revoked))
}

func (p *Pipeline) lost(_ context.Context, _ *kgo.Client, lost map[string][]int32) {
	// Lost partitions may already belong to another member: committing
	// would be refused, and their records will be re-read from the last
	// commit. Stop the workers without waiting long.
	p.stopWorkers(lost)
	p.log.Warn("partitions lost (session expired or fenced); their uncommitted records will be processed again by the new owner", zap.Any("partitions", lost))
}

func (p *Pipeline) stopWorkers(tps map[string][]int32) {
	var stopping []*worker
	p.mu.Lock()
	for topic, parts := range tps {
		for _, part := range parts {
			tp := topicPartition{topic, part}
			if w := p.workers[tp]; w != nil {
				delete(p.workers, tp)
				stopping = append(stopping, w)
				close(w.quit)
			}
		}
	}
	p.m.assigned.Set(float64(len(p.workers)))
	p.mu.Unlock()
	for _, w := range stopping {
		<-w.done
		w.release()
	}
}

// Ready reports why the pipeline is not ready to serve, or nil: it must
// have joined its group, have rules, and have no partition stalled on a
// failed produce.
func (p *Pipeline) Ready() error {
	switch {
	case !p.running.Load():
		return errors.New("not running")
	case !p.joined.Load() && !p.inGroup():
		return errors.New("consumer group not joined yet")
	case !p.cfg.Copy && p.cfg.Rules() == nil:
		return errors.New("no rules loaded")
	case p.brokerDown.Load() != nil:
		return fmt.Errorf("brokers unreachable: %s", *p.brokerDown.Load())
	case p.stalled.Load() > 0:
		return fmt.Errorf("producer unhealthy: %d partition(s) stalled on failed produces; last failure: %s", p.stalled.Load(), p.lastFailure.Load())
	}
	return nil
}

// produced counts an acknowledged output record.
func (p *Pipeline) produced(topic string) {
	p.m.out.Add(1)
	if c := p.producedC[topic]; c != nil {
		c.Inc()
	}
}

func (p *Pipeline) inGroup() bool {
	_, gen := p.consumer.GroupMetadata()
	return gen > 0
}
