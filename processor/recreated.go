package processor

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/twmb/franz-go/pkg/kerr"
	"go.uber.org/zap"
)

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
