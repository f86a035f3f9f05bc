package e2e

import (
	"bufio"
	"context"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/flowsieve/flowsieve/codec"
	"github.com/flowsieve/flowsieve/codec/flowgen"
	"github.com/flowsieve/flowsieve/processor"
)

// TestMemoryBoundedOutputRefusing: with 1,000,000 records waiting in the
// input and the brokers refusing every write to the output topics with a
// retriable error (the producer retries them for its delivery timeout, so
// no partition stalls and no fetching pauses), a flowsieve process with
// the default settings takes records only until its in-flight budget is
// full of records with outputs, and its memory stops growing: consumption stops
// far from the end of the input, and RSS, read from the kernel, levels
// off under 256 MB.
func TestMemoryBoundedOutputRefusing(t *testing.T) {
	t.Parallel()
	const (
		inputs  = 1_000_000
		rssMax  = 256 << 20
		settled = 3 * time.Second // RSS may still grow this long after consumed stops
	)
	e := newEnv(t, 6)
	var refused atomic.Int64
	produceFlows(t, e, inputs)
	e.broker.Cluster().ControlKey(int16(kmsg.Produce), func(req kmsg.Request) (kmsg.Response, error, bool) {
		e.broker.Cluster().KeepControl()
		refused.Add(1)
		// Retriable: the producer keeps trying.
		return refuseProduce(req.(*kmsg.ProduceRequest), kerr.NotEnoughReplicas), nil, true
	})

	dir := t.TempDir()
	cfg := writeConfig(t, dir, e.addr, "memory", writeRules(t, dir, testRules))
	metrics := freePort(t)
	c := startChild(t, "run", "--config", cfg, "--metrics.listen="+metrics)

	budget := float64(processor.DefaultMaxInflightRecords)
	var consumed, last float64
	var steadySince time.Time
	var peak int64
	for deadline := time.Now().Add(90 * time.Second); ; {
		if time.Now().After(deadline) {
			t.Fatalf("consumed did not settle within 90s: %.0f records consumed, RSS peak %d MB, %d produce requests refused", consumed, peak>>20, refused.Load())
		}
		select {
		case <-c.done:
			t.Fatalf("flowsieve exited: %v", c.err)
		case <-time.After(200 * time.Millisecond):
		}
		rss := vmRSS(t, c.cmd.Process.Pid)
		peak = max(peak, rss)
		consumed = consumedTotal(metrics)
		if consumed != last || consumed == 0 {
			last, steadySince = consumed, time.Now()
			continue
		}
		if time.Since(steadySince) > settled {
			break
		}
	}
	// Consumption has stopped: RSS must level off too. The producer's
	// retries still allocate, so the heap may grow to its next collection
	// (a few tens of MB); the rest of the input, had it been taken,
	// would have added hundreds.
	before := vmRSS(t, c.cmd.Process.Pid)
	after := before
	for end := time.Now().Add(5 * time.Second); time.Now().Before(end); time.Sleep(250 * time.Millisecond) {
		after = max(after, vmRSS(t, c.cmd.Process.Pid))
	}
	peak = max(peak, after)
	t.Logf("%.0f of %d records consumed (budget %.0f); RSS %d MB, at most %d MB in the 5s after, peak %d MB; %d produce requests refused",
		consumed, inputs, budget, before>>20, after>>20, peak>>20, refused.Load())
	// Dropped records have no outputs, finish and leave the budget:
	// consumption stops once the others fill it, well before the end of
	// the input.
	if consumed < budget || consumed > inputs/2 {
		t.Errorf("%.0f records consumed: the budget (%.0f records held) was not what stopped consumption", consumed, budget)
	}
	if peak > rssMax {
		t.Errorf("peak RSS %d MB, over %d MB", peak>>20, rssMax>>20)
	}
	if after > before+(64<<20) {
		t.Errorf("RSS still growing after consumption stopped: %d MB, then up to %d MB", before>>20, after>>20)
	}
}

// produceFlows writes n synthetic text flow logs to the raw topic, spread
// over its partitions.
func produceFlows(t *testing.T, e *env, n int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	g := flowgen.New(1, flowgen.Options{})
	var firstErr atomic.Pointer[error]
	for i := 0; i < n; i++ {
		r := &kgo.Record{Topic: rawTopic, Partition: int32(i) % e.parts, Value: g.Append(nil, codec.FormatText)}
		e.cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
			if err != nil {
				firstErr.CompareAndSwap(nil, &err)
			}
		})
	}
	if err := e.cl.Flush(ctx); err != nil {
		t.Fatalf("producing input: %v", err)
	}
	if err := firstErr.Load(); err != nil {
		t.Fatalf("producing input: %v", *err)
	}
}

// consumedTotal is flowsieve_records_consumed_total summed over its
// partitions, 0 while the metrics listener does not answer.
func consumedTotal(addr string) float64 {
	resp, err := http.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	var sum float64
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, "flowsieve_records_consumed_total{") {
			continue
		}
		if v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64); err == nil {
			sum += v
		}
	}
	return sum
}
