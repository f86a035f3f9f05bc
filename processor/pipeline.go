package processor

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
	"golang.org/x/time/rate"

	"github.com/flowsieve/flowsieve/codec"
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
	// producedBytes counts the value bytes of acknowledged output
	// records, by topic (flowsieve_bytes_produced_total).
	producedBytes map[string]prometheus.Counter
	// outMax is each output topic's largest record (see oversize.go).
	outMax map[string]int
	router router
	// shadowCap caps the shadow topic's records per second (one cap for
	// the whole pipeline, as output.shadow_max_per_sec says).
	shadowCap *rate.Limiter
	// txn is set in exactly-once mode: consumer and producer are then
	// one transactional client (see transact.go).
	txn *transactor

	// workers is the registry of the input partitions this member
	// works on, one worker each, in both delivery modes (registry.go).
	mu      sync.Mutex
	workers map[topicPartition]*worker
	budget  *budget // at-least-once: what all workers hold (budget.go)

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
}

type topicPartition struct {
	topic     string
	partition int32
}

// pollMax bounds one poll: with BlockRebalanceOnPoll a rebalance waits for
// the records of one poll to be handed to the workers (a few microseconds
// per thousand).
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
		router: router{
			topics: [numOutputs]string{outKept: cfg.KeptTopic, outThreats: cfg.ThreatsTopic, outInvalid: cfg.InvalidTopic,
				outShadow: cfg.ShadowTopic},
			copy:   cfg.Copy,
			out:    codec.Output{JSON: cfg.KeptJSON, Fields: cfg.Fields},
			limits: cfg.Limits,
		},
		budget:    newBudget(cfg.MaxInflightRecords, cfg.MaxInflightBytes),
		shadowCap: rate.NewLimiter(rate.Limit(cfg.ShadowMaxPerSec), cfg.ShadowMaxPerSec),
	}
	if cfg.ExactlyOnce {
		if err := p.newTransact(); err != nil {
			return nil, err
		}
		return p, nil
	}

	var err error
	if p.producer, err = kgo.NewClient(append(p.commonOpts("producer"), p.producerOpts()...)...); err != nil {
		return nil, fmt.Errorf("creating Kafka producer: %w", err)
	}
	if err := p.connect(); err != nil {
		p.producer.Close()
		return nil, err
	}

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

// Metrics returns the pipeline's metrics (cmd feeds rule reloads into it).
func (p *Pipeline) Metrics() *Metrics { return p.m }

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
	p.running.Store(true)
	defer p.running.Store(false)
	stopBackground := p.background(ctx)
	defer stopBackground()
	fields := []zap.Field{
		zap.Strings("brokers", p.cfg.Brokers), zap.Strings("topics", p.cfg.Topics), zap.String("topic_regex", p.cfg.TopicRegex),
		zap.String("group", p.cfg.Group), zap.String("kept_topic", p.cfg.KeptTopic),
		zap.String("threats_topic", p.cfg.ThreatsTopic), zap.String("invalid_topic", p.cfg.InvalidTopic), zap.Bool("copy", p.cfg.Copy),
	}
	if t := p.txn; t != nil {
		p.log.Info("pipeline starting (exactly-once: transactions)", append(fields,
			zap.String("transactional_id", t.id), zap.Duration("transaction_timeout", t.timeout),
			zap.Int("transaction_max_records", t.max), zap.Duration("transaction_interval", t.interval))...)
		return p.runTransact(ctx, stopBackground)
	}
	p.log.Info("pipeline starting (at-least-once)", fields...)
	return p.runAtLeastOnce(ctx, stopBackground)
}

// runAtLeastOnce is Run for at-least-once delivery.
func (p *Pipeline) runAtLeastOnce(ctx context.Context, stopBackground func()) error {
	for {
		if p.budget.wait(ctx) != nil {
			break
		}
		fetches := p.consumer.PollRecords(ctx, p.budget.pollSize(pollMax))
		if fetches.IsClientClosed() || ctx.Err() != nil {
			break
		}
		p.logFetchErrors(fetches)
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
	fctx, cancel := context.WithTimeout(context.Background(), shutdownFlushTimeout)
	err := p.producer.Flush(fctx)
	cancel()
	p.producer.Close()
	stopBackground()
	if err != nil {
		return fmt.Errorf("flushing producer at shutdown: %w", err)
	}
	p.log.Info("pipeline stopped")
	return nil
}

// shutdownFlushTimeout bounds the producer's flush at shutdown. The final
// revoke has already waited for every routed record's outputs (up to the
// delivery timeout); what is left to flush was given up on there, and is
// not committed, so a stop must not wait on it for long when the brokers
// are gone.
const shutdownFlushTimeout = 30 * time.Second

func (p *Pipeline) assigned(_ context.Context, cl *kgo.Client, assigned map[string][]int32) {
	p.joined.Store(true)
	if len(assigned) == 0 {
		return
	}
	// A partition paused while an earlier owner stalled on it stays
	// paused in the client until resumed.
	cl.ResumeFetchPartitions(assigned)
	for _, w := range p.addWorkers(assigned) {
		go w.run()
	}
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
	stopping := p.removeWorkers(tps)
	for _, w := range stopping {
		close(w.quit)
	}
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
func (p *Pipeline) produced(topic string, bytes int) {
	p.m.out.Add(1)
	if c := p.producedC[topic]; c != nil {
		c.Inc()
		p.producedBytes[topic].Add(float64(bytes))
	}
}

func (p *Pipeline) inGroup() bool {
	_, gen := p.consumer.GroupMetadata()
	return gen > 0
}
