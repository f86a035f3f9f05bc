package processor

import "iter"

// The partition registry: Pipeline.workers holds one worker per input
// partition this member works on, in both delivery modes. At-least-once
// runs a goroutine per worker; exactly-once routes each worker's records
// on a goroutine per transaction (transact.go). Pipeline.mu guards the map
// for everyone outside the poll loop (rebalance callbacks, lag, summary);
// exactly-once also holds it while routing, so a revoke waits for the
// records being routed.

// addWorkers registers a worker for each partition of tps without one and
// returns the new workers.
func (p *Pipeline) addWorkers(tps map[string][]int32) []*worker {
	p.mu.Lock()
	defer p.mu.Unlock()
	var added []*worker
	for tp := range partitionsOf(tps) {
		if p.workers[tp] == nil {
			w := newWorker(p, tp)
			p.workers[tp] = w
			added = append(added, w)
		}
	}
	p.m.assigned.Set(float64(len(p.workers)))
	return added
}

// removeWorkers unregisters the workers of tps and returns them: the
// caller stops and releases them.
func (p *Pipeline) removeWorkers(tps map[string][]int32) []*worker {
	p.mu.Lock()
	defer p.mu.Unlock()
	var removed []*worker
	for tp := range partitionsOf(tps) {
		if w := p.workers[tp]; w != nil {
			delete(p.workers, tp)
			removed = append(removed, w)
		}
	}
	p.m.assigned.Set(float64(len(p.workers)))
	return removed
}

// partitionsOf yields the partitions of a rebalance callback's map.
func partitionsOf(tps map[string][]int32) iter.Seq[topicPartition] {
	return func(yield func(topicPartition) bool) {
		for topic, parts := range tps {
			for _, part := range parts {
				if !yield(topicPartition{topic, part}) {
					return
				}
			}
		}
	}
}

// registered returns the registered workers.
func (p *Pipeline) registered() []*worker {
	p.mu.Lock()
	defer p.mu.Unlock()
	ws := make([]*worker, 0, len(p.workers))
	for _, w := range p.workers {
		ws = append(ws, w)
	}
	return ws
}
