package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/flowsieve/flowsieve/processor"
)

// exactlyOnce runs an in-process member in exactly-once mode, with a
// short transaction timeout so a crashed member's open transaction does
// not hold readers back for long.
func exactlyOnce(cfg *processor.Config) {
	cfg.ExactlyOnce = true
	cfg.TransactionTimeout = 10 * time.Second
	cfg.TxnInterval = 50 * time.Millisecond
	cfg.TxnMaxRecords = 2000
}

// readCommitted reads the topics as a read_committed consumer does (only
// outputs of committed transactions), up to each partition's last stable
// offset. Transaction markers are kept so that the reader sees where it
// is even when a partition ends with aborted records.
func (e *env) readCommitted(topics ...string) map[string][]*kgo.Record {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	type tp struct {
		t string
		p int32
	}
	// A member killed in a transaction leaves it open until the broker
	// aborts it (transaction timeout): until then the last stable offset
	// stops short of outputs that later transactions committed. Read only
	// once no transaction is open on the outputs, so "up to the last
	// stable offset" means everything.
	var lso kadm.ListedOffsets
	for {
		var err error
		lso, err = e.adm.ListCommittedOffsets(ctx, topics...)
		if err != nil {
			e.t.Fatal(err)
		}
		hwm, err := e.adm.ListEndOffsets(ctx, topics...)
		if err != nil {
			e.t.Fatal(err)
		}
		open := 0
		hwm.Each(func(o kadm.ListedOffset) {
			if l, ok := lso.Lookup(o.Topic, o.Partition); !ok || l.Offset != o.Offset {
				open++
			}
		})
		if open == 0 {
			break
		}
		select {
		case <-ctx.Done():
			e.t.Fatalf("reading %v read_committed: %d partitions still have an open transaction", topics, open)
		case <-time.After(200 * time.Millisecond):
		}
	}
	want := map[tp]int64{}
	lso.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			want[tp{o.Topic, o.Partition}] = o.Offset
		}
	})
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(e.addr), kgo.ConsumeTopics(topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.KeepControlRecords(),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.FetchMaxWait(100 * time.Millisecond)}, e.clientOpts...)...)
	if err != nil {
		e.t.Fatal(err)
	}
	defer cl.Close()
	byTP := map[tp][]*kgo.Record{}
	for len(want) > 0 {
		f := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			e.t.Fatalf("reading %v read_committed: %v (still waiting for %v)", topics, ctx.Err(), want)
		}
		f.EachRecord(func(r *kgo.Record) {
			k := tp{r.Topic, r.Partition}
			if !r.Attrs.IsControl() {
				byTP[k] = append(byTP[k], r)
			}
			if end, ok := want[k]; ok && r.Offset+1 >= end {
				delete(want, k)
			}
		})
	}
	out := map[string][]*kgo.Record{}
	for _, t := range topics {
		for p := int32(0); p < e.parts; p++ {
			out[t] = append(out[t], byTP[tp{t, p}]...)
		}
	}
	return out
}

// readOutputs reads the three output topics as their readers in the
// delivery mode do: exactly-once, read_committed.
func (e *env) readOutputs(exactly bool) map[string][]*kgo.Record {
	e.t.Helper()
	if exactly {
		return e.readCommitted(keptTopic, threatsTopic, invalidTopic)
	}
	return e.readTopics(keptTopic, threatsTopic, invalidTopic)
}

// checkExactlyOnce asserts that a read_committed reader sees every input's
// outputs exactly once.
func (e *env) checkExactlyOnce(ins []input) {
	e.t.Helper()
	e.check(ins, allExactlyOnce, e.readCommitted(keptTopic, threatsTopic, invalidTopic))
}

// TestExactlyOnceInProcess: two exactly-once members, one of them stopped
// and another started mid-stream (rebalances abort transactions in
// progress): a read_committed reader sees every output exactly once.
func TestExactlyOnceInProcess(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 4)
	rulesFile := writeRules(t, t.TempDir(), testRules)
	ins := makeInputs("x", 6000, e.parts, map[int32]int{})
	produced := e.produceSlowly(ins, 2*time.Second)

	a := e.startPipeline("eos", rulesFile, exactlyOnce)
	b := e.startPipeline("eos", rulesFile, exactlyOnce)
	e.waitProgress("eos", 30*time.Second)
	if err := a.stop(); err != nil {
		t.Fatal(err)
	}
	e.startPipeline("eos", rulesFile, exactlyOnce)
	<-produced
	e.waitCommitted("eos", 60*time.Second)
	_ = b
	e.checkExactlyOnce(ins)
}

// TestTransactionBytes: a transaction stops gathering once its records
// hold the in-flight budget's bytes, however long its interval and large
// its record cap, and the outputs are still seen exactly once.
func TestTransactionBytes(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		name     string
		maxBytes int64
		least    float64 // committed transactions at least
		most     float64 // and at most
	}{
		// 3000 records of ~100 bytes in 2 s, in transactions of up to 4 s.
		{"unbounded", 64 << 20, 1, 3},
		{"4KiB", 4 << 10, 10, 3000},
	} {
		t.Run(c.name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, 2)
			rulesFile := writeRules(t, t.TempDir(), testRules)
			ins := makeInputs("b", 3000, e.parts, map[int32]int{})
			reg := prometheus.NewRegistry()
			e.startPipeline("eos-bytes", rulesFile, exactlyOnce, func(cfg *processor.Config) {
				cfg.Registry, cfg.Gatherer, cfg.Metrics = reg, reg, processor.NewMetrics(reg)
				cfg.TxnInterval = 4 * time.Second
				cfg.TransactionTimeout = 30 * time.Second
				cfg.TxnMaxRecords = 100000
				cfg.MaxInflightBytes = c.maxBytes
			})
			<-e.produceSlowly(ins, 2*time.Second)
			e.waitCommitted("eos-bytes", 60*time.Second)
			got := gatherOf(t, reg, "flowsieve_transactions_total")["result=committed"]
			t.Logf("%v transactions committed", got)
			if got < c.least || got > c.most {
				t.Errorf("%v transactions committed, want %v to %v", got, c.least, c.most)
			}
			e.checkExactlyOnce(ins)
		})
	}
}
