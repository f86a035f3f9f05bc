package processor

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kerr"
	"go.uber.org/zap"
)

// An output topic deleted and created again under a running pipeline.
//
// franz-go never moves a topic name to a new topic ID: once its metadata
// shows the recreated topic's new ID, every record to that topic fails
// with UNKNOWN_TOPIC_ID, buffered or produced later, for the life of the
// client, until the topic is purged from the client (its documented
// recovery, "purge, then produce again"). A purge forgets the topic's
// buffers, sequence numbers and ID; the next record to it loads fresh
// metadata and goes to the new topic.
//
// A purge also fails, with "topic purged while buffered", whatever is
// still buffered for the topic, including records other partitions
// produced after the topic came back. Those fail like any produce failure
// and their partitions retry them, but a purge per failed record would
// keep failing the retries of the others. So the purges are counted: each
// entry remembers the count when it was routed (entry.purges), and a
// topic is purged again only for a failure of a record routed after its
// last purge, that is, only when the client may still hold a stale ID.
//
// Purging is never done from a produce promise: PurgeTopicsFromProducing
// runs on the client's metadata goroutine and waits for it, and the
// promise goroutine must keep finishing records meanwhile. The partition
// worker (at-least-once) purges before its retry, once nothing of its own
// is in flight; the transactor (exactly-once) purges after the aborted
// transaction's end, when nothing is in flight at all.

// recreated tracks the purges of output topics.
type recreated struct {
	count atomic.Uint64 // purges so far, of any topic

	mu       sync.Mutex
	purgedAt map[string]uint64 // topic -> count right after its last purge
}

// isRecreated reports whether err means that the output topic was deleted
// and created again and the client still holds the old topic's ID.
func isRecreated(err error) bool { return errors.Is(err, kerr.UnknownTopicID) }

// noteRecreated remembers that a record routed at purge count n failed
// because topic was recreated; called from the produce promise.
func (w *worker) noteRecreated(topic string, n uint64) {
	w.recreatedMu.Lock()
	defer w.recreatedMu.Unlock()
	if w.recreatedTopics == nil {
		w.recreatedTopics = make(map[string]uint64)
	}
	if old, ok := w.recreatedTopics[topic]; !ok || n < old {
		w.recreatedTopics[topic] = n
	}
}

// takeRecreated returns and forgets what noteRecreated remembered.
func (w *worker) takeRecreated() map[string]uint64 {
	w.recreatedMu.Lock()
	defer w.recreatedMu.Unlock()
	t := w.recreatedTopics
	w.recreatedTopics = nil
	return t
}

// purgeRecreated purges each topic from the producer unless it was purged
// since the failed record was routed. It reports whether any topic is
// known to be back (purged now or already), so that the caller can retry
// without the long back-off of an outage.
func (p *Pipeline) purgeRecreated(topics map[string]uint64) bool {
	if len(topics) == 0 {
		return false
	}
	p.recreated.mu.Lock()
	defer p.recreated.mu.Unlock()
	if p.recreated.purgedAt == nil {
		p.recreated.purgedAt = make(map[string]uint64)
	}
	for topic, routedAt := range topics {
		if p.recreated.purgedAt[topic] > routedAt {
			continue // purged after the record was routed: the retry goes to the new topic
		}
		p.producer.PurgeTopicsFromProducing(topic)
		p.recreated.purgedAt[topic] = p.recreated.count.Add(1)
		p.m.recreations.WithLabelValues(topic).Inc()
		p.log.Warn("output topic was deleted and created again: forgot the old topic in the producer; the stalled records are produced again to the new topic",
			zap.String("output_topic", topic))
	}
	return true
}

// produceFailure is the last failed produce, for readiness.
type produceFailure struct {
	topic string
	err   error
}

func (f *produceFailure) String() string {
	return fmt.Sprintf("producing to %s: %v", f.topic, f.err)
}
