package processor

import (
	"sync"

	"github.com/twmb/franz-go/pkg/kgo"
)

// recordPool gives franz-go the slices it decodes fetched records into
// (kgo.PoolRecords), and takes them back once every record of a slice is
// recycled: a record is recycled when it is finished (its outputs
// acknowledged and its offset marked, or its transaction committed).
// Without it the client allocates a slice of ~150-byte records per fetched
// batch, a quarter of all the bytes the pipeline allocated (issue 13), and
// each of those allocations brings the next garbage collection closer.
// Records never recycled (a partition revoked, a transaction aborted) are
// simply left to the collector.
type recordPool struct{ p sync.Pool }

// recordPoolMin is the smallest slice handed out, so that slices of small
// batches serve larger ones too.
const recordPoolMin = 256

func (rp *recordPool) GetRecords(n int) []kgo.Record {
	if s, ok := rp.p.Get().(*[]kgo.Record); ok && cap(*s) >= n {
		return (*s)[:0]
	}
	size := recordPoolMin
	for size < n {
		size *= 2
	}
	return make([]kgo.Record, 0, size)
}

func (rp *recordPool) PutRecords(s []kgo.Record) {
	rp.p.Put(&s)
}
