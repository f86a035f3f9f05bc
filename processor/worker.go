package processor

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/flowsieve/flowsieve/codec"
	"github.com/flowsieve/flowsieve/rules"
)

// worker processes one assigned input partition, in offset order.
//
// Records move through two stages. enqueue (called by the poll loop) puts
// fetched records in queue; the worker goroutine takes them, routes each
// and produces its outputs, and keeps it in fifo until every output is
// acknowledged. advance pops acknowledged records off the front of fifo
// and marks the last one for commit, so a commit never passes a record
// whose outputs are not all acknowledged. Records in queue and fifo count
// in the process's budget (budget.go) until they are finished.
type worker struct {
	p    *Pipeline
	tp   topicPartition
	log  *zap.Logger
	quit chan struct{} // closed by stopWorkers
	done chan struct{} // closed when the worker has drained
	wake chan struct{} // new records, or an acknowledgement

	mu     sync.Mutex
	queue  []batch
	paused bool // fetching paused while the partition is stalled

	records, bytes atomic.Int64 // in queue or fifo, counted in the budget too
	outstanding    atomic.Int64 // produced, promise not yet called
	failed         atomic.Bool  // an output failed to produce; retry pending
	stalled        atomic.Bool  // failed, and no record acknowledged since
	lag            *lagTracker  // flowsieve_consumer_lag (lag.go)

	// Output topics found deleted and created again, with the purge
	// count when the failed record was routed (see recreated.go).
	recreatedMu     sync.Mutex
	recreatedTopics map[string]uint64

	// Owned by the worker goroutine (exactly-once: by the goroutine
	// routing the partition's records).
	delivery deliveryDeadline
	fifo     []*entry
	head     int
	backoff  backoff
	// resend is what a retry routes again once its first record (the
	// probe) is acknowledged; see retry.
	resend  []*entry
	probe   *entry
	flow    codec.Flow
	verdict rules.Verdict
	// shadowVerdict is the shadow rules' verdict (its own Caps: the
	// shadow's cap filters never spend the live ones').
	shadowVerdict rules.Verdict
	dec           decision
	hs            headerScratch // output headers (route.go)
	consumed      prometheus.Counter
	bytesIn       prometheus.Counter // flowsieve_bytes_consumed_total{topic}
	// outs is the slab output records are taken from, so that producing
	// allocates per slab, not per record (produce).
	outs []kgo.Record
	// pending are outputs produce has made and not yet handed to the
	// producer (flushOutputs).
	pending []*kgo.Record
	// tally holds counts not yet added to the shared metrics: counting
	// per batch keeps the workers off each other's cache lines.
	tally tally
	// routedTo (exactly-once) is the offset after the last record
	// routed: records below it are routed again after an abort.
	routedTo int64
}

type batch struct {
	recs   []*kgo.Record
	polled time.Time
}

// entry is one input record whose outputs are in flight.
//
// It is the context of its output records too (a context.Context that
// answers with its delivery deadline): the produce promise, one function
// for every record, finds the entry in the record's Context, where a
// closure per output would cost an allocation each.
type entry struct {
	rec    *kgo.Record
	polled time.Time
	w      *worker
	left   atomic.Int32 // outputs not yet acknowledged, +1 while being produced
	failed atomic.Bool
	// purges is the count of output topic purges when the entry was
	// last routed (see recreated.go).
	purges uint64
	// deadline bounds the delivery of the outputs of the entry's last
	// routing (see deliveryDeadline); set before they are produced. The
	// producer may still look at an earlier routing's record context
	// while a retry routes the entry again: hence atomic.
	deadline atomic.Pointer[deadlineCtx]
}

func (e *entry) Deadline() (time.Time, bool) { return e.deadline.Load().Deadline() }
func (e *entry) Done() <-chan struct{}       { return e.deadline.Load().Done() }
func (e *entry) Err() error                  { return e.deadline.Load().Err() }
func (e *entry) Value(key any) any           { return e.deadline.Load().Value(key) }

// newEntries are the entries of a batch of records, in one allocation.
func (w *worker) newEntries(recs []*kgo.Record, polled time.Time) []entry {
	es := make([]entry, len(recs))
	for i, r := range recs {
		es[i].rec, es[i].polled, es[i].w = r, polled, w
	}
	return es
}

// tally is what a worker counted since it last added to the metrics.
type tally struct {
	in, kept, drops, flags, invalid int64
	bytesIn                         int64
}

// flushCounts adds the tally to the metrics; the workers call it after
// each batch, before marking its offsets.
func (w *worker) flushCounts() {
	t, m := &w.tally, w.p.m
	if t.in > 0 {
		w.consumed.Add(float64(t.in))
		m.in.Add(t.in)
	}
	if t.bytesIn > 0 {
		w.bytesIn.Add(float64(t.bytesIn))
	}
	for _, c := range []struct {
		n   int64
		sum *atomic.Int64
	}{{t.kept, &m.kept}, {t.drops, &m.drops}, {t.flags, &m.flags}, {t.invalid, &m.invalid}} {
		if c.n > 0 {
			c.sum.Add(c.n)
		}
	}
	*t = tally{}
}

func newWorker(p *Pipeline, tp topicPartition) *worker {
	part := strconv.Itoa(int(tp.partition))
	w := &worker{
		p:        p,
		tp:       tp,
		log:      p.log.With(zap.String("topic", tp.topic), zap.Int32("partition", tp.partition)),
		quit:     make(chan struct{}),
		done:     make(chan struct{}),
		wake:     make(chan struct{}, 1),
		consumed: p.m.consumed.WithLabelValues(tp.topic, part),
		bytesIn:  p.m.bytesIn.WithLabelValues(tp.topic),
		lag:      newLagTracker(p.m.lag.WithLabelValues(tp.topic, part)),
	}
	w.dec.hs = &w.hs
	return w
}

func (w *worker) signal() {
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// enqueue hands fetched records to the worker; called by the poll loop.
func (w *worker) enqueue(recs []*kgo.Record, polled time.Time) {
	var n int64
	for _, r := range recs {
		n += int64(len(r.Value) + len(r.Key))
	}
	w.records.Add(int64(len(recs)))
	w.bytes.Add(n)
	w.p.budget.take(int64(len(recs)), n)
	w.mu.Lock()
	w.queue = append(w.queue, batch{recs, polled})
	w.mu.Unlock()
	w.signal()
}

// finish takes records finished (or given up with the partition) out of
// the partition's and the process's counts.
func (w *worker) finish(records, bytes int64) {
	w.records.Add(-records)
	w.bytes.Add(-bytes)
	w.p.budget.release(records, bytes)
}

// pauseFetching stops fetching a stalled partition: it takes no records
// until its retry succeeds, and would only fill the budget the other
// partitions share.
func (w *worker) pauseFetching() {
	w.mu.Lock()
	if !w.paused {
		w.paused = true
		w.p.consumer.PauseFetchPartitions(map[string][]int32{w.tp.topic: {w.tp.partition}})
	}
	w.mu.Unlock()
}

func (w *worker) resumeFetching() {
	w.mu.Lock()
	if w.paused {
		w.paused = false
		w.p.consumer.ResumeFetchPartitions(map[string][]int32{w.tp.topic: {w.tp.partition}})
	}
	w.mu.Unlock()
}

func (w *worker) run() {
	defer close(w.done)
	var retry <-chan time.Time
	for {
		select {
		case <-w.quit:
			w.drain()
			return
		case <-w.wake:
		case <-retry:
			retry = nil
			w.retry()
		}
		w.advance()
		if w.failed.Load() {
			w.pauseFetching()
			// Stop taking records; once nothing is in flight, retry
			// every unacknowledged record from the failed one on.
			if retry == nil && w.outstanding.Load() == 0 {
				if w.p.purgeRecreated(w.takeRecreated()) {
					// The topic is back: no outage back-off.
					w.backoff.reset()
				}
				retry = time.After(w.backoff.next())
			}
			continue
		}
		if w.resend != nil {
			if w.probe.left.Load() != 0 {
				continue // the probe is in flight: nothing may overtake it
			}
			w.resendRest()
		}
		w.processQueued()
		w.advance()
	}
}

// checkEvery is how many records processQueued routes between two looks
// at a failure or a revoke: a revoke then waits for at most that many
// records (well under a millisecond), and the look (an atomic load and a
// channel poll) costs nothing per record.
const checkEvery = 256

// processQueued routes every queued record, stopping early to let a revoke
// or a failure take over.
func (w *worker) processQueued() {
	for {
		w.mu.Lock()
		q := w.queue
		w.queue = nil
		w.mu.Unlock()
		if len(q) == 0 {
			return
		}
		for bi, b := range q {
			es := w.newEntries(b.recs, b.polled)
			w.delivery.renew(w.p.cfg.DeliveryTimeout)
			for i := range es {
				if i%checkEvery == 0 {
					w.flushOutputs()
					if w.failed.Load() || w.stopping() {
						w.flushCounts()
						w.requeue(q[bi:], i)
						return
					}
				}
				e := &es[i]
				w.fifo = append(w.fifo, e)
				w.tally.in++
				w.route(e, false)
			}
			w.flushOutputs()
			w.flushCounts()
			// Commit progress as it comes, not only when the queue
			// runs dry: input may arrive as fast as it is routed.
			w.advance()
		}
	}
}

// requeue puts back records not yet routed, ahead of anything enqueued
// meanwhile.
func (w *worker) requeue(rest []batch, from int) {
	rest[0].recs = rest[0].recs[from:]
	w.mu.Lock()
	w.queue = append(append([]batch(nil), rest...), w.queue...)
	w.mu.Unlock()
}

func (w *worker) stopping() bool {
	select {
	case <-w.quit:
		return true
	default:
		return false
	}
}

// fifoCompactMin is the fewest finished entries at the front of fifo
// worth moving the rest down for (when they are also over half of it):
// copies stay rare, and the slack they leave is bounded.
const fifoCompactMin = 4096

// advance pops every fully acknowledged record off the front of fifo and
// marks the last for commit.
func (w *worker) advance() {
	var last *entry
	var n, size int64
	now := time.Now()
	for w.head < len(w.fifo) {
		e := w.fifo[w.head]
		if e.left.Load() != 0 || e.failed.Load() {
			break
		}
		w.p.m.latency.Observe(now.Sub(e.polled).Seconds())
		n++
		size += int64(len(e.rec.Value) + len(e.rec.Key))
		last = e
		w.fifo[w.head] = nil
		w.head++
	}
	if last == nil {
		return
	}
	if w.head == len(w.fifo) {
		w.fifo, w.head = w.fifo[:0], 0
	} else if w.head > fifoCompactMin && w.head*2 > len(w.fifo) {
		left := copy(w.fifo, w.fifo[w.head:])
		clear(w.fifo[left:]) // let the moved entries' old slots go
		w.fifo, w.head = w.fifo[:left], 0
	}
	w.finish(n, size)
	w.p.consumer.MarkCommitRecords(last.rec)
	w.lag.finished(last.rec.Offset + 1)
	// Records before the failed one complete while it waits; only progress
	// after the retry started means the failure is behind us.
	if !w.failed.Load() && w.stalled.Swap(false) {
		w.backoff.reset()
		w.p.stalled.Add(-1)
		w.p.m.stalled.WithLabelValues(w.tp.topic, strconv.Itoa(int(w.tp.partition))).Set(0)
		w.log.Info("partition progressing again after produce failure", zap.Int64("offset", last.rec.Offset))
		w.resumeFetching()
	}
}

// retry routes and produces again every record not yet fully acknowledged,
// from the first failed one on, in order. Outputs that had succeeded are
// produced again: at-least-once allows duplicates, never gaps.
func (w *worker) retry() {
	w.failed.Store(false)
	w.delivery.renew(w.p.cfg.DeliveryTimeout)
	pending := w.fifo[w.head:]
	w.log.Info("retrying partition after produce failure", zap.Int("records", len(pending)), zap.Duration("backoff", w.backoff.d))
	// The oldest record goes alone first, and the rest only once its
	// outputs are acknowledged: if the output topic came back while the
	// whole backlog was in flight, its first batches could fail and the
	// later ones succeed, putting later records ahead of earlier ones.
	if len(pending) == 0 {
		return
	}
	// A copy: advance may move fifo's entries meanwhile.
	w.probe, w.resend = pending[0], append([]*entry{}, pending[1:]...)
	w.probe.failed.Store(false)
	w.route(w.probe, true)
	w.flushOutputs()
}

// resendRest routes again the records a retry held back behind its probe.
func (w *worker) resendRest() {
	rest := w.resend
	w.probe, w.resend = nil, nil
	w.delivery.renew(w.p.cfg.DeliveryTimeout)
	for _, e := range rest {
		e.failed.Store(false)
		w.route(e, true)
	}
	w.flushOutputs()
}

// drainGrace is how long drain waits past the latest delivery deadline
// for the producer to call the promises of records it gave up on.
const drainGrace = 5 * time.Second

// drain waits for the outputs in flight, then marks what they allowed.
// Records queued but not yet routed are left for the partition's next
// owner, which starts from the commit.
func (w *worker) drain() {
	w.flushOutputs() // none are left by the paths that route; for certain
	deadline := time.NewTimer(w.p.cfg.DeliveryTimeout + deliveryDeadlineSlack + drainGrace)
	defer deadline.Stop()
	for w.outstanding.Load() > 0 {
		select {
		case <-w.wake:
		case <-deadline.C:
			w.log.Error("gave up waiting for in-flight produces while releasing partition; their records will be processed again", zap.Int64("outstanding", w.outstanding.Load()))
			w.advance()
			return
		}
	}
	w.advance()
}

// release forgets the partition's per-partition gauges once it is gone.
func (w *worker) release() {
	w.delivery.stop()
	part := strconv.Itoa(int(w.tp.partition))
	w.p.m.lag.DeleteLabelValues(w.tp.topic, part)
	w.p.m.stalled.DeleteLabelValues(w.tp.topic, part)
	if w.stalled.Swap(false) {
		w.p.stalled.Add(-1)
	}
	w.resumeFetching()
	// What the worker still holds (queued, or in fifo unacknowledged) is
	// the next owner's: it no longer counts here.
	w.finish(w.records.Load(), w.bytes.Load())
}

// produce sends one output of e. The output's partition is the input
// partition modulo the topic's partition count.
func (w *worker) produce(e *entry, topic string, value []byte, headers []kgo.RecordHeader) {
	e.left.Add(1)
	w.outstanding.Add(1)
	if len(w.outs) == 0 {
		w.outs = make([]kgo.Record, outSlab)
	}
	out := &w.outs[0]
	w.outs = w.outs[1:]
	*out = kgo.Record{
		Topic:     topic,
		Partition: w.tp.partition % w.p.outParts[topic],
		Key:       e.rec.Key,
		Value:     value,
		Headers:   headers,
		Timestamp: e.rec.Timestamp,
		// Not the run context: records already routed must still be
		// delivered while the pipeline drains at shutdown. The entry
		// bounds their delivery instead (see deliveryDeadline), and
		// the promise finds it here.
		Context: e,
	}
	w.pending = append(w.pending, out)
}

// flushOutputs hands the outputs produce queued to the producer. Handing
// them over in runs rather than one between the routing of two records
// keeps the producer's client-wide lock on this core and its code in
// the cache (issue 13). An entry's outputs count in its left and in
// outstanding from produce on, so nothing is finished or drained before
// they are handed over; every path that routes flushes before it waits.
func (w *worker) flushOutputs() {
	for i, out := range w.pending {
		w.p.producer.Produce(out.Context, out, acked)
		w.pending[i] = nil
	}
	w.pending = w.pending[:0]
}

// outSlab is how many output records one allocation holds. A slab stays
// in memory while any of its records is in flight: at most a few slabs
// per partition beyond the records in flight themselves.
const outSlab = 256

// deliveryDeadline bounds how long the producer tries to deliver a record,
// counted from the produce.
//
// franz-go's RecordDeliveryTimeout counts from the record's Timestamp, and
// outputs carry their input's timestamp: every output of an input older
// than the timeout failed at once ("records have timed out"), so a backlog
// older than two minutes, or any record retried after a stall that long,
// could never be produced. The deadline goes in the record's context
// instead, which franz-go checks where it checks the timeout (never for a
// batch whose outcome is unknown, so idempotence holds).
//
// One context serves every record produced within deliveryDeadlineSlack:
// its deadline is between DeliveryTimeout and DeliveryTimeout plus the
// slack after their produce, and a timer per record would cost more than
// the produce itself. A replaced context is not cancelled, records in
// flight still use it; it ends at its deadline.
type deliveryDeadline struct {
	ctx    *deadlineCtx
	cancel context.CancelFunc
	until  time.Time // when ctx has been handed out for the slack
}

// deadlineCtx is one deadline context, allocated once per renewal so that
// entries can point to it atomically.
type deadlineCtx struct{ context.Context }

// deliveryDeadlineSlack is how long one deadline context is handed out.
const deliveryDeadlineSlack = time.Second

// renew replaces the context once it has been handed out for the slack.
// The workers call it once per batch of records, not per record: reading
// the clock per record cost 4 % of the pipeline's CPU (issue 13).
func (d *deliveryDeadline) renew(timeout time.Duration) {
	now := time.Now()
	if d.ctx == nil || now.After(d.until) {
		ctx, cancel := context.WithDeadline(context.Background(), now.Add(timeout+deliveryDeadlineSlack))
		d.ctx, d.cancel = &deadlineCtx{ctx}, cancel
		d.until = now.Add(deliveryDeadlineSlack)
	}
}

// context is the context the records routed now are delivered under,
// as of the last renew.
func (d *deliveryDeadline) context(timeout time.Duration) *deadlineCtx {
	if d.ctx == nil {
		d.renew(timeout)
	}
	return d.ctx
}

// stop releases the current context's timer once the partition is gone.
func (d *deliveryDeadline) stop() {
	if d.cancel != nil {
		d.cancel()
	}
}

// acked is the produce promise of every output record: it runs on the
// producer's goroutine.
func acked(r *kgo.Record, err error) {
	e := r.Context.(*entry)
	w := e.w
	if err != nil {
		e.failed.Store(true)
		w.onProduceError(e, r, err)
	} else {
		w.p.produced(r.Topic, len(r.Value))
	}
	e.left.Add(-1)
	w.outstanding.Add(-1)
	w.signal()
}

func (w *worker) onProduceError(e *entry, r *kgo.Record, err error) {
	w.p.m.produceErrors.WithLabelValues(r.Topic).Inc()
	if errors.Is(err, context.DeadlineExceeded) {
		err = fmt.Errorf("not delivered within the delivery timeout (%s): %w", w.p.cfg.DeliveryTimeout, err)
	}
	w.p.lastFailure.Store(&produceFailure{topic: r.Topic, err: err})
	if isRecreated(err) {
		w.noteRecreated(r.Topic, e.purges)
	}
	if w.failed.Swap(true) {
		return // one log line per failure episode
	}
	w.log.Error("output record failed to produce: partition stalled, nothing after this offset is committed until a retry succeeds",
		zap.String("output_topic", r.Topic), zap.Int64("offset", e.rec.Offset), zap.Error(err))
	w.p.m.stalled.WithLabelValues(w.tp.topic, strconv.Itoa(int(w.tp.partition))).Set(1)
	if !w.stalled.Swap(true) {
		w.p.stalled.Add(1)
	}
}
