package processor

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
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
	backoff  backoff

	mu sync.Mutex
	// inUse are the workers routing records of the transaction open.
	inUse map[*worker]bool
	// unowned are the workers of partitions revoked while their records
	// were being routed, or before, released when the transaction ends.
	unowned []*worker

	results  *prometheus.CounterVec // result: committed, aborted
	duration prometheus.Histogram
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
		inUse:    map[*worker]bool{},
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

	opts := append(p.commonOpts("transact"), p.producerOpts()...)
	opts = append(opts,
		kgo.TransactionalID(t.id),
		kgo.TransactionTimeout(t.timeout),
		// Inputs written transactionally count only once committed.
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.OnPartitionsAssigned(p.txnAssigned),
		kgo.OnPartitionsRevoked(p.txnRevoked),
		kgo.OnPartitionsLost(p.txnRevoked),
	)
	opts = append(opts, p.inputOpts()...)
	sess, err := kgo.NewGroupTransactSession(opts...)
	if err != nil {
		return fmt.Errorf("creating Kafka transactional client: %w", err)
	}
	t.sess = sess
	p.txn = t
	p.consumer, p.producer = sess.Client(), sess.Client()
	if err := p.connect(); err != nil {
		sess.Close()
		return err
	}
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
	p.addWorkers(assigned)
	if len(assigned) > 0 {
		p.log.Info("partitions assigned", zap.Any("partitions", assigned))
	}
}

// txnRevoked runs for revoked and lost partitions alike: the session
// itself aborts the transaction in progress, so nothing of theirs commits.
// A worker routing records of the open transaction is released once it
// has ended.
func (p *Pipeline) txnRevoked(_ context.Context, _ *kgo.Client, gone map[string][]int32) {
	t := p.txn
	for _, w := range p.removeWorkers(gone) {
		if t == nil { // revoked before the session was set up: nothing routed
			w.release()
			continue
		}
		t.mu.Lock()
		busy := t.inUse[w]
		if busy {
			t.unowned = append(t.unowned, w)
		}
		t.mu.Unlock()
		if !busy {
			w.release()
		}
	}
	if len(gone) > 0 {
		p.log.Info("partitions revoked; a transaction in progress aborts and their records go to the next owner", zap.Any("partitions", gone))
	}
}

// runTransact is Run for exactly-once delivery.
func (p *Pipeline) runTransact(ctx context.Context, stopBackground func()) error {
	t := p.txn
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

// transaction routes first and whatever more arrives within the interval,
// up to the record cap, in one transaction, and ends it. Only errors the
// session cannot recover from are returned.
func (t *transactor) transaction(ctx context.Context, p *Pipeline, first kgo.Fetches) error {
	began := time.Now()
	if err := t.sess.Begin(); err != nil {
		return fmt.Errorf("beginning transaction: %w", err)
	}
	defer t.releaseUnowned()
	n, routed := t.gather(ctx, p, first, began)
	committed, failed, err := t.end(p, began)
	took := time.Since(began)
	t.duration.Observe(took.Seconds())
	switch {
	case err != nil:
		t.results.WithLabelValues("aborted").Inc()
		return fmt.Errorf("ending transaction (its outputs and offsets are not committed; they will be processed again): %w", err)
	case !committed:
		t.results.WithLabelValues("aborted").Inc()
		p.log.Warn("transaction aborted; its records will be processed again", zap.Int("records", n), zap.Bool("produce_failed", failed))
		if failed {
			t.afterFailure(ctx, p)
		}
		return nil
	}
	t.results.WithLabelValues("committed").Inc()
	t.backoff.reset()
	t.finished(p, routed, took)
	return nil
}

// releaseUnowned releases the workers of partitions revoked during the
// transaction, once it has ended and nothing is in flight.
func (t *transactor) releaseUnowned() {
	t.mu.Lock()
	gone := t.unowned
	t.unowned = nil
	clear(t.inUse)
	t.mu.Unlock()
	for _, w := range gone {
		w.release()
	}
}

// takenOver are the workers of partitions revoked during the transaction.
func (t *transactor) takenOver() []*worker {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]*worker(nil), t.unowned...)
}

// gather routes first, then polls and routes more until the interval has
// passed, the record cap is reached or the records hold the in-flight
// budget's bytes; it returns once all are routed, with the number of
// records and the fetches routed.
func (t *transactor) gather(ctx context.Context, p *Pipeline, first kgo.Fetches, began time.Time) (int, []kgo.Fetches) {
	l := t.newLanes(p)
	defer l.wait()
	n, size := l.add(first)
	routed := []kgo.Fetches{first}
	for deadline := began.Add(t.interval); n < t.max && size < p.cfg.MaxInflightBytes && ctx.Err() == nil; {
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
		more, bytes := l.add(f)
		n, size = n+more, size+bytes
		routed = append(routed, f)
	}
	return n, routed
}

// end waits for the transaction's outputs and ends it: a commit when every
// output was acknowledged, else an abort. failed reports a produce that
// failed; err an end the session cannot recover from.
func (t *transactor) end(p *Pipeline, began time.Time) (committed, failed bool, err error) {
	// Not the run context: at shutdown the transaction in progress still
	// ends properly, with a commit when its outputs are all acknowledged.
	// Outputs that cannot be produced (an output topic missing, the
	// brokers down) would hold the flush until their delivery timeout:
	// give up on them at half the transaction timeout, so that the abort
	// has the other half, before the broker would abort the transaction
	// itself. (One context for both used it all up in the flush: End then
	// failed on the expired context and Run returned.)
	fctx, fcancel := context.WithDeadline(context.Background(), began.Add(t.timeout/2))
	flushErr := p.producer.Flush(fctx)
	fcancel()
	if flushErr != nil {
		failed = true
		p.log.Warn("transaction outputs not all acknowledged within half the transaction timeout; aborting", zap.Error(flushErr))
	}
	for _, w := range append(p.registered(), t.takenOver()...) {
		if w.failed.Swap(false) {
			failed = true
		}
	}
	ectx, cancel := context.WithTimeout(context.Background(), t.timeout)
	defer cancel()
	committed, err = t.sess.End(ectx, kgo.TransactionEndTry(!failed))
	if err != nil && outputRecreated(err) {
		// An output topic this transaction produced to was deleted and
		// created again: franz-go refused the commit and aborted, and
		// the session is usable. The next transaction's produces to the
		// topic fail with UNKNOWN_TOPIC_ID, and its abort purges the
		// topic (afterFailure).
		p.log.Warn("transaction aborted: an output topic it produced to was deleted and created again", zap.Error(err))
		return false, true, nil
	}
	return committed, failed, err
}

// afterFailure follows a transaction aborted on a failed produce. Nothing
// is in flight now: it purges the output topics found recreated (see
// recreated.go), then backs off, except for a topic that is back.
func (t *transactor) afterFailure(ctx context.Context, p *Pipeline) {
	if p.purgeRecreated(t.takeRecreated(p)) {
		t.backoff.reset()
	}
	select {
	case <-ctx.Done():
	case <-time.After(t.backoff.next()):
	}
}

// finished accounts for a committed transaction. Every record of it
// becomes visible at the commit, and is finished: each partition's lag
// counts from the offset after its last record, and a stalled partition
// progresses again.
func (t *transactor) finished(p *Pipeline, routed []kgo.Fetches, took time.Duration) {
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
	for _, w := range p.registered() {
		if off, ok := next[w.tp]; ok {
			w.lag.finished(off)
		}
		if w.stalled.Swap(false) {
			p.stalled.Add(-1)
			p.m.stalled.WithLabelValues(w.tp.topic, strconv.Itoa(int(w.tp.partition))).Set(0)
			w.log.Info("partition progressing again after produce failure")
		}
	}
}

// takeRecreated gathers the output topics the partitions found recreated
// during the transaction, with the oldest purge count of each.
func (t *transactor) takeRecreated(p *Pipeline) map[string]uint64 {
	topics := map[string]uint64{}
	for _, w := range append(p.registered(), t.takenOver()...) {
		for topic, n := range w.takeRecreated() {
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

// lanes route a transaction's records while gather polls for more: one
// goroutine per partition, fed the partition's records in poll order.
// (Routing each poll's records before polling again kept the 2 cores idle
// while a fetch was on its way, and put exactly-once 30-50 % behind
// at-least-once; issue 13.)
type lanes struct {
	t     *transactor
	p     *Pipeline
	feeds map[*worker]chan laneBatch
	wg    sync.WaitGroup
}

type laneBatch struct {
	recs   []*kgo.Record
	polled time.Time
}

// laneDepth is how many polls a partition's routing may fall behind
// gather before gather waits for it.
const laneDepth = 16

func (t *transactor) newLanes(p *Pipeline) *lanes {
	return &lanes{t: t, p: p, feeds: map[*worker]chan laneBatch{}}
}

// add hands each partition's records to its lane, starting the lane on
// its first records. It returns the number of records and their bytes.
func (l *lanes) add(fetches kgo.Fetches) (n int, size int64) {
	polled := time.Now()
	fetches.EachPartition(func(fp kgo.FetchTopicPartition) {
		if len(fp.Records) == 0 {
			return
		}
		n += len(fp.Records)
		for _, r := range fp.Records {
			size += int64(len(r.Value) + len(r.Key))
		}
		w := l.t.worker(l.p, topicPartition{fp.Topic, fp.Partition})
		// The input is read committed: its end is the last stable offset.
		end := fp.LastStableOffset
		if end < 0 {
			end = fp.HighWatermark
		}
		w.lag.fetched(fp.Records[0].Offset, end)
		feed := l.feeds[w]
		if feed == nil {
			feed = make(chan laneBatch, laneDepth)
			l.feeds[w] = feed
			l.wg.Add(1)
			go l.run(w, feed)
		}
		feed <- laneBatch{fp.Records, polled}
	})
	return n, size
}

// run routes a partition's records until its feed is closed.
func (l *lanes) run(w *worker, feed <-chan laneBatch) {
	defer l.wg.Done()
	for b := range feed {
		es := w.newEntries(b.recs, b.polled)
		w.delivery.renew(l.p.cfg.DeliveryTimeout)
		for i := range es {
			again := es[i].rec.Offset < w.routedTo
			if !again {
				w.tally.in++
			}
			w.route(&es[i], again)
		}
		w.flushOutputs()
		w.flushCounts()
		w.routedTo = max(w.routedTo, b.recs[len(b.recs)-1].Offset+1)
	}
}

// wait returns once every record handed to the lanes is routed (not yet
// acknowledged).
func (l *lanes) wait() {
	for _, feed := range l.feeds {
		close(feed)
	}
	l.wg.Wait()
}

// worker returns the worker of tp for the transaction, marked in use so
// that a revoke releases it only once the transaction has ended. A
// partition revoked between the poll and now gets a worker of its own:
// the session aborts this transaction, but its records are routed all
// the same, by a worker released once the transaction ends.
func (t *transactor) worker(p *Pipeline, tp topicPartition) *worker {
	p.mu.Lock()
	defer p.mu.Unlock()
	t.mu.Lock()
	defer t.mu.Unlock()
	w := p.workers[tp]
	if w == nil {
		w = newWorker(p, tp)
		t.unowned = append(t.unowned, w)
	}
	t.inUse[w] = true
	return w
}
