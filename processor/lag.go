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
	"go.uber.org/zap"
)

// lagTracker holds one input partition's lag and its gauge. end, done,
// start and committed are offsets, -1 while unknown.
type lagTracker struct {
	end       atomic.Int64 // log end offset, the highest seen
	done      atomic.Int64 // offset after the last finished record
	start     atomic.Int64 // first offset fetched since the assignment
	committed atomic.Int64 // the group's commit when the partition was assigned
	value     atomic.Int64 // the lag last computed, for the summary

	// mu makes computing and setting the gauge one step: whoever sets
	// it last has read every offset stored before its update.
	mu    sync.Mutex
	gauge prometheus.Gauge
}

func newLagTracker(gauge prometheus.Gauge) *lagTracker {
	l := &lagTracker{gauge: gauge}
	l.end.Store(-1)
	l.done.Store(-1)
	l.start.Store(-1)
	l.committed.Store(-1)
	return l
}

// lagOf is the lag arithmetic: end minus the first offset not finished,
// which is done; before any record finished since the assignment, the
// first offset fetched; before any fetch, the group's commit. ok is false
// while end or every one of those is unknown.
func lagOf(end, done, start, committed int64) (lag int64, ok bool) {
	next := done
	if next < 0 {
		next = start
	}
	if next < 0 {
		next = committed
	}
	if end < 0 || next < 0 {
		return 0, false
	}
	return max(end-next, 0), true
}

// fetched notes a fetch of the partition: the offset of its first record
// (-1 if none) and the end offset the broker gave with it.
func (l *lagTracker) fetched(first, end int64) {
	if first >= 0 {
		l.start.CompareAndSwap(-1, first)
	}
	l.storeEnd(end)
	l.update()
}

// finished notes that every record below next is finished.
func (l *lagTracker) finished(next int64) {
	l.done.Store(next)
	l.update()
}

// listedEnd notes an end offset listed by refreshLag.
func (l *lagTracker) listedEnd(end int64) {
	l.storeEnd(end)
	l.update()
}

// storeEnd keeps the highest end offset: a listing answered after a
// fetch may be older than the fetch.
func (l *lagTracker) storeEnd(end int64) {
	for {
		old := l.end.Load()
		if end <= old || l.end.CompareAndSwap(old, end) {
			return
		}
	}
}

func (l *lagTracker) update() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if lag, ok := lagOf(l.end.Load(), l.done.Load(), l.start.Load(), l.committed.Load()); ok {
		l.value.Store(lag)
		l.gauge.Set(float64(lag))
	}
}

// knowsNext reports whether the first unfinished offset is known without
// the group's commit.
func (l *lagTracker) knowsNext() bool {
	return l.done.Load() >= 0 || l.start.Load() >= 0
}

// refreshLag lists the end offsets of the assigned input partitions every
// LagRefreshInterval until ctx ends, so that the lag of partitions not
// being fetched (paused by back-pressure, or stalled) still follows the
// input. A failed listing is logged once per episode and retried at the
// next tick; the lag of the partitions it missed stays as it was.
func (p *Pipeline) refreshLag(ctx context.Context) {
	interval := p.cfg.LagRefreshInterval
	t := time.NewTicker(interval)
	defer t.Stop()
	adm := kadm.NewClient(p.producer)
	timeout := min(max(interval, time.Second), 10*time.Second)
	failing := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		lctx, cancel := context.WithTimeout(ctx, timeout)
		err := p.refreshLagOnce(lctx, adm)
		cancel()
		switch {
		case ctx.Err() != nil:
			return
		case err != nil && !failing:
			failing = true
			p.log.Warn("listing input end offsets for flowsieve_consumer_lag failed; the lag of partitions not being fetched is not updated until it succeeds", zap.Error(err))
		case err != nil:
			p.log.Debug("listing input end offsets for flowsieve_consumer_lag failed again", zap.Error(err))
		case failing:
			failing = false
			p.log.Info("listing input end offsets for flowsieve_consumer_lag works again")
		}
	}
}

func (p *Pipeline) refreshLagOnce(ctx context.Context, adm *kadm.Client) error {
	ws := p.registered()
	if len(ws) == 0 {
		return nil
	}
	seen := map[string]bool{}
	var topics []string
	for _, w := range ws {
		if !seen[w.tp.topic] {
			seen[w.tp.topic] = true
			topics = append(topics, w.tp.topic)
		}
	}
	list := adm.ListEndOffsets
	if p.txn != nil {
		list = adm.ListCommittedOffsets // the last stable offsets: read_committed, as the input is read
	}
	// A *kadm.ShardErrors comes with the offsets the other brokers
	// listed: use those.
	listed, err := list(ctx, topics...)
	var shardErrs *kadm.ShardErrors
	if err != nil && !errors.As(err, &shardErrs) {
		return err
	}
	var committed map[string]map[int32]int64
	var missing []string
	for _, w := range ws {
		if !w.lag.knowsNext() {
			// Nothing fetched yet since the assignment: the group's
			// commit is where processing stands.
			if committed == nil {
				committed = map[string]map[int32]int64{}
				for t, parts := range p.consumer.CommittedOffsets() {
					committed[t] = map[int32]int64{}
					for part, o := range parts {
						committed[t][part] = o.Offset
					}
				}
			}
			if o, ok := committed[w.tp.topic][w.tp.partition]; ok && o >= 0 {
				w.lag.committed.Store(o)
			}
		}
		o, ok := listed.Lookup(w.tp.topic, w.tp.partition)
		if !ok || o.Err != nil || o.Offset < 0 {
			why := "not listed"
			if ok && o.Err != nil {
				why = o.Err.Error()
			}
			missing = append(missing, fmt.Sprintf("%s/%d: %s", w.tp.topic, w.tp.partition, why))
			continue
		}
		w.lag.listedEnd(o.Offset)
	}
	if len(missing) > 0 {
		return errors.Join(err, fmt.Errorf("no end offset for %s", strings.Join(missing, ", ")))
	}
	return err
}
