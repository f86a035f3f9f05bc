package processor

// Exactly-once delivery: consume-transform-produce in Kafka transactions.
//
// One client (a kgo.GroupTransactSession) consumes and produces. Each
// transaction takes the records of one or more polls (up to TxnMaxRecords,
// for at most TxnInterval), routes every partition's records on its own
// goroutine, as the at-least-once workers do, waits for every output to be
// acknowledged, and ends the transaction: the outputs and the input offsets
// commit together or not at all. A rebalance during a transaction, a failed
// produce, or a failed offset commit aborts it; the session then rewinds to
// the committed offsets and the same records are routed again in a new
// transaction. franz-go always fetches group offsets with RequireStable
// (KIP-447): a new owner waits while a transaction that may still commit
// offsets of its partitions is open. Readers with isolation.level=read_committed never see the
// outputs of an aborted transaction, so they see each input's outputs
// exactly once.

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
)

type transactor struct {
	sess     *kgo.GroupTransactSession
	id       string
	timeout  time.Duration
	max      int
	interval time.Duration
	backoff  time.Duration

	// parts are the routers of partitions seen, owned is what the group
	// gave this member; both guarded by Pipeline.mu.
	parts map[topicPartition]*txnPart
	owned map[topicPartition]bool

	results  *prometheus.CounterVec // result: committed, aborted
	duration prometheus.Histogram
}

// txnPart routes one input partition. routed is the offset after the last
// record routed: records below it are being routed again after an abort,
// and do not count again in the record counters.
type txnPart struct {
	w      *worker
	routed int64
}

// newTransact makes p an exactly-once member: one transactional client in
// place of the consumer and the producer.
func (p *Pipeline) newTransact() error {
	cfg := &p.cfg
	t := &transactor{
		id:       cfg.TransactionalID,
		timeout:  cfg.TransactionTimeout,
		max:      cfg.TxnMaxRecords,
		interval: cfg.TxnInterval,
		parts:    make(map[topicPartition]*txnPart),
		owned:    make(map[topicPartition]bool),
		results: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flowsieve_transactions_total",
			Help: "Exactly-once transactions ended, by result (committed, aborted).",
		}, []string{"result"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "flowsieve_transaction_duration_seconds",
			Help:    "Time from the start of a transaction to its commit or abort.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14),
		}),
	}
	if t.id == "" {
		t.id = defaultTransactionalID(cfg.ClientID, cfg.Group)
	}
	if err := cfg.Registry.Register(t.results); err != nil {
		return fmt.Errorf("registering transaction metrics: %w", err)
	}
	if err := cfg.Registry.Register(t.duration); err != nil {
		return fmt.Errorf("registering transaction metrics: %w", err)
	}

	codec, _ := compressionCodec(cfg.Compression)
	opts := append(p.commonOpts("transact"),
		kgo.TransactionalID(t.id),
		kgo.TransactionTimeout(t.timeout),
		kgo.RecordPartitioner(kgo.ManualPartitioner()),
		kgo.ProducerBatchCompression(codec),
		kgo.ProducerLinger(cfg.Linger),
		kgo.ProducerBatchMaxBytesFn(p.batchMaxBytes),
		// No RecordDeliveryTimeout: it counts from the record's timestamp,
		// which outputs take from their input; see deliveryDeadline.
		kgo.MaxBufferedRecords(250000),
		kgo.MaxBufferedBytes(256<<20),

		// Inputs written transactionally count only once committed.
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.OnPartitionsAssigned(p.txnAssigned),
		kgo.OnPartitionsRevoked(p.txnRevoked),
		kgo.OnPartitionsLost(p.txnRevoked),
	)
	opts = append(opts, p.inputOpts()...)
	// p.txn before the session: the group may assign partitions, and call
	// txnAssigned, before NewGroupTransactSession returns.
	p.txn = t
	sess, err := kgo.NewGroupTransactSession(opts...)
	if err != nil {
		return fmt.Errorf("creating Kafka transactional client: %w", err)
	}
	t.sess = sess
	p.consumer, p.producer = sess.Client(), sess.Client()

	ctx, cancel := context.WithTimeout(context.Background(), cfg.StartTimeout)
	defer cancel()
	if err := p.producer.Ping(ctx); err != nil {
		sess.Close()
		return fmt.Errorf("cannot reach Kafka brokers %s within %s: %w", strings.Join(cfg.Brokers, ","), cfg.StartTimeout, err)
	}
	if err := p.lookupOutputs(ctx); err != nil {
		sess.Close()
		return err
	}
	p.checkInputs(ctx)
	return nil
}

// defaultTransactionalID is unique per process: two members must never
// share one, or each would fence the other.
func defaultTransactionalID(clientID, group string) string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%s-%s-%d-%s", clientID, group, host, os.Getpid(), hex.EncodeToString(b[:]))
}

func (p *Pipeline) txnAssigned(_ context.Context, _ *kgo.Client, assigned map[string][]int32) {
	p.joined.Store(true)
	p.mu.Lock()
	defer p.mu.Unlock()
	for topic, parts := range assigned {
		for _, part := range parts {
			p.txn.owned[topicPartition{topic, part}] = true
		}
	}
	p.m.assigned.Set(float64(len(p.txn.owned)))
	if len(assigned) > 0 {
		p.log.Info("partitions assigned", zap.Any("partitions", assigned))
	}
}

// txnRevoked runs for revoked and lost partitions alike: the session
// itself aborts the transaction in progress, so nothing of theirs commits.
func (p *Pipeline) txnRevoked(_ context.Context, _ *kgo.Client, gone map[string][]int32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for topic, parts := range gone {
		for _, part := range parts {
			tp := topicPartition{topic, part}
			delete(p.txn.owned, tp)
			if tpart := p.txn.parts[tp]; tpart != nil {
				delete(p.txn.parts, tp)
				tpart.w.release()
			}
		}
	}
	p.m.assigned.Set(float64(len(p.txn.owned)))
	if len(gone) > 0 {
		p.log.Info("partitions revoked; a transaction in progress aborts and their records go to the next owner", zap.Any("partitions", gone))
	}
}

// runTransact is Run for exactly-once delivery.
func (p *Pipeline) runTransact(ctx context.Context) error {
	t := p.txn
	p.running.Store(true)
	defer p.running.Store(false)
	stopBackground := p.background(ctx)
	defer stopBackground()
	p.log.Info("pipeline starting (exactly-once: transactions)",
		zap.Strings("brokers", p.cfg.Brokers), zap.Strings("topics", p.cfg.Topics), zap.String("topic_regex", p.cfg.TopicRegex),
		zap.String("group", p.cfg.Group), zap.String("transactional_id", t.id), zap.Duration("transaction_timeout", t.timeout),
		zap.Int("transaction_max_records", t.max), zap.Duration("transaction_interval", t.interval))

	var err error
	for ctx.Err() == nil {
		fetches := t.sess.PollRecords(ctx, t.max)
		if fetches.IsClientClosed() || ctx.Err() != nil {
			break
		}
		p.logFetchErrors(fetches)
		if fetches.NumRecords() == 0 {
			continue
		}
		if err = t.transaction(ctx, p, fetches); err != nil {
			break
		}
	}
	p.log.Info("pipeline stopping: leaving the group")
	t.sess.Close()
	stopBackground()
	if err != nil {
		return err
	}
	p.log.Info("pipeline stopped")
	return nil
}

func (p *Pipeline) logFetchErrors(fetches kgo.Fetches) {
	fetches.EachError(func(t string, part int32, err error) {
		if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
			return
		}
		p.log.Warn("fetch error", zap.String("topic", t), zap.Int32("partition", part), zap.Error(err))
	})
}

// transaction routes first and whatever more arrives within the interval,
// up to the record cap, in one transaction, and ends it. Only errors the
// session cannot recover from are returned.
func (t *transactor) transaction(ctx context.Context, p *Pipeline, first kgo.Fetches) error {
	began := time.Now()
	if err := t.sess.Begin(); err != nil {
		return fmt.Errorf("beginning transaction: %w", err)
	}
	n, routed := t.route(p, first), []kgo.Fetches{first}
	for deadline := began.Add(t.interval); n < t.max && ctx.Err() == nil; {
		left := time.Until(deadline)
		if left <= 0 {
			break
		}
		pctx, cancel := context.WithTimeout(ctx, left)
		f := t.sess.PollRecords(pctx, t.max-n)
		cancel()
		if f.IsClientClosed() {
			break
		}
		p.logFetchErrors(f)
		n += t.route(p, f)
		routed = append(routed, f)
	}

	// Not ctx: at shutdown the transaction in progress still ends
	// properly, with a commit when its outputs are all acknowledged.
	// Outputs that cannot be produced (an output topic missing, the
	// brokers down) would hold the flush until their delivery timeout:
	// give up on them at half the transaction timeout, so that the abort
	// has the other half, before the broker would abort the transaction
	// itself. (One context for both used it all up in the flush: End then
	// failed on the expired context and Run returned.)
	fctx, fcancel := context.WithDeadline(context.Background(), began.Add(t.timeout/2))
	flushErr := p.producer.Flush(fctx)
	fcancel()
	failed := flushErr != nil
	ectx, cancel := context.WithTimeout(context.Background(), t.timeout)
	defer cancel()
	p.mu.Lock()
	for _, tp := range t.parts {
		if tp.w.failed.Swap(false) {
			failed = true
		}
	}
	p.mu.Unlock()
	committed, err := t.sess.End(ectx, kgo.TransactionEndTry(!failed))
	took := time.Since(began)
	t.duration.Observe(took.Seconds())
	if err != nil && outputRecreated(err) {
		// An output topic this transaction produced to was deleted and
		// created again: franz-go refused the commit and aborted, and
		// the session is usable. The next transaction's produces to the
		// topic fail with UNKNOWN_TOPIC_ID, and its abort purges the
		// topic (below).
		p.log.Warn("transaction aborted: an output topic it produced to was deleted and created again", zap.Error(err))
		failed, err = true, nil
	}
	if err != nil {
		t.results.WithLabelValues("aborted").Inc()
		return fmt.Errorf("ending transaction (its outputs and offsets are not committed; they will be processed again): %w", err)
	}
	if !committed {
		t.results.WithLabelValues("aborted").Inc()
		p.log.Warn("transaction aborted; its records will be processed again",
			zap.Int("records", n), zap.Bool("produce_failed", failed), zap.NamedError("flush_error", flushErr))
		if failed {
			// Nothing is in flight now: purge the output topics
			// found recreated (see recreated.go). A topic that is
			// back needs no outage back-off.
			if p.purgeRecreated(t.takeRecreated(p)) {
				t.backoff = 0
			}
			// Produce failures (an output topic gone, the brokers
			// down) last a while: back off before trying again.
			t.backoff = min(max(2*t.backoff, time.Second), 30*time.Second)
			select {
			case <-ctx.Done():
			case <-time.After(t.backoff):
			}
		}
		return nil
	}
	t.results.WithLabelValues("committed").Inc()
	t.backoff = 0
	// Every record of the transaction becomes visible at the commit, and
	// is finished: each partition's lag counts from the offset after its
	// last record.
	next := map[topicPartition]int64{}
	for _, f := range routed {
		f.EachPartition(func(fp kgo.FetchTopicPartition) {
			for range fp.Records {
				p.m.latency.Observe(took.Seconds())
			}
			if n := len(fp.Records); n > 0 {
				tp := topicPartition{fp.Topic, fp.Partition}
				next[tp] = max(next[tp], fp.Records[n-1].Offset+1)
			}
		})
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for tp, off := range next {
		if part := t.parts[tp]; part != nil {
			part.w.lag.finished(off)
		}
	}
	for _, tp := range t.parts {
		if tp.w.stalled.Swap(false) {
			p.stalled.Add(-1)
			p.m.stalled.WithLabelValues(tp.w.tp.topic, strconv.Itoa(int(tp.w.tp.partition))).Set(0)
			tp.w.log.Info("partition progressing again after produce failure")
		}
	}
	return nil
}

// takeRecreated gathers the output topics the partitions found recreated
// during the transaction, with the oldest purge count of each.
func (t *transactor) takeRecreated(p *Pipeline) map[string]uint64 {
	topics := map[string]uint64{}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, tp := range t.parts {
		for topic, n := range tp.w.takeRecreated() {
			if old, ok := topics[topic]; !ok || n < old {
				topics[topic] = n
			}
		}
	}
	return topics
}

// outputRecreated reports whether End refused to commit because an output
// topic the transaction produced to was deleted and created again: franz-go
// then aborts and wraps both TRANSACTION_ABORTABLE and UNKNOWN_TOPIC_ID
// (a recreated input topic wraps only the latter, and stays fatal).
func outputRecreated(err error) bool {
	return errors.Is(err, kerr.TransactionAbortable) && errors.Is(err, kerr.UnknownTopicID)
}

// route hands each partition's records to a goroutine of its own and
// waits until all are routed (not yet acknowledged). It returns the number
// of records.
func (t *transactor) route(p *Pipeline, fetches kgo.Fetches) int {
	var wg sync.WaitGroup
	n := 0
	polled := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
		if len(fp.Records) == 0 {
			return
		}
		n += len(fp.Records)
		tp := topicPartition{fp.Topic, fp.Partition}
		part := t.parts[tp]
		if part == nil {
			part = &txnPart{w: newWorker(p, tp), routed: -1}
			t.parts[tp] = part
		}
		last := fp.Records[len(fp.Records)-1]
		// The input is read committed: its end is the last stable offset.
		end := fp.LastStableOffset
		if end < 0 {
			end = fp.HighWatermark
		}
		part.w.lag.fetched(fp.Records[0].Offset, end)
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := part.w
			for _, r := range fp.Records {
				again := r.Offset < part.routed
				if !again {
					w.consumed.Inc()
					p.m.in.Add(1)
				}
				w.route(&entry{rec: r, polled: polled, w: w}, again)
			}
			part.routed = max(part.routed, last.Offset+1)
		}()
	})
	wg.Wait()
	return n
}
