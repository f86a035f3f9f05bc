package processor

import (
	"context"
	"sync/atomic"
)

// budget bounds what the at-least-once pipeline holds in memory: the
// records consumed and not yet finished (every output acknowledged), over
// all partitions of the process, counted in records and in bytes (keys and
// values).
//
// The poll loop takes no more records while either count is at its cap,
// and polls again once both are at or below half of it: records not polled
// wait in the client's buffered fetch, one per broker, and the client
// fetches nothing more from that broker until it is polled. So the bound on
// memory is the caps plus one fetch per broker (kafka's fetch.max.bytes),
// and nothing is fetched twice.
//
// The budget replaced caps per partition that paused the partition's
// fetching: the client drops a paused partition's buffered records, which
// are fetched again after the resume, and 20,000 records per partition
// kept the pipeline waiting on fetches most of the time (issue 13). Only a
// stalled partition (a failed produce) is paused now: it takes no records
// until its retry succeeds, and the records it holds stay counted.
type budget struct {
	maxRecords, maxBytes int64
	records, bytes       atomic.Int64

	// waiting is set while the poll loop waits for the budget to drain;
	// release then wakes it once both counts are at or below half.
	waiting atomic.Bool
	wake    chan struct{}
}

func newBudget(maxRecords int, maxBytes int64) *budget {
	return &budget{maxRecords: int64(maxRecords), maxBytes: maxBytes, wake: make(chan struct{}, 1)}
}

// take counts records just polled.
func (b *budget) take(records, bytes int64) {
	b.records.Add(records)
	b.bytes.Add(bytes)
}

// release counts records finished, or given up with their partition.
func (b *budget) release(records, bytes int64) {
	r, n := b.records.Add(-records), b.bytes.Add(-bytes)
	if b.waiting.Load() && drained(r, n, b.maxRecords, b.maxBytes) {
		select {
		case b.wake <- struct{}{}:
		default:
		}
	}
}

// full reports whether the poll loop must stop taking records.
func full(records, bytes, maxRecords, maxBytes int64) bool {
	return records >= maxRecords || bytes >= maxBytes
}

// drained reports whether a full budget may take records again: below
// half of both caps, so that polls resume with room for a good part of a
// fetch rather than a record at a time.
func drained(records, bytes, maxRecords, maxBytes int64) bool {
	return records <= maxRecords/2 && bytes <= maxBytes/2
}

// wait returns at once while the budget has room; when it is full, it
// waits until the budget has drained, or ctx ends.
func (b *budget) wait(ctx context.Context) error {
	if !full(b.records.Load(), b.bytes.Load(), b.maxRecords, b.maxBytes) {
		return nil
	}
	b.waiting.Store(true)
	defer b.waiting.Store(false)
	// release checks waiting after its update, this loop checks the
	// counts after setting waiting: one of the two sees the other.
	for !drained(b.records.Load(), b.bytes.Load(), b.maxRecords, b.maxBytes) {
		select {
		case <-b.wake:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}

// pollSize is how many records the next poll may take: the records left
// in the budget, at most most. The byte cap may be passed by one poll.
func (b *budget) pollSize(most int) int {
	return int(min(max(b.maxRecords-b.records.Load(), 1), int64(most)))
}
