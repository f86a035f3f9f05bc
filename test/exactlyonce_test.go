package e2e

import (
	"context"
	"testing"
	"time"

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

// readCommitted reads the topics as a read_committed consumer does: only
// outputs of committed transactions. It stops once nothing new has come
// for idle.
func (e *env) readCommitted(idle time.Duration, topics ...string) map[string][]*kgo.Record {
	e.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.addr), kgo.ConsumeTopics(topics...),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		e.t.Fatal(err)
	}
	defer cl.Close()
	type tp struct {
		t string
		p int32
	}
	byTP := map[tp][]*kgo.Record{}
	// The first fetch waits for metadata and a connection, which takes
	// a while under -race on a busy machine.
	wait := 20 * time.Second
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(context.Background(), wait)
		f := cl.PollFetches(ctx)
		cancel()
		if f.NumRecords() == 0 {
			break
		}
		wait = idle
		f.EachRecord(func(r *kgo.Record) {
			k := tp{r.Topic, r.Partition}
			byTP[k] = append(byTP[k], r)
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

// checkExactlyOnce asserts that a read_committed reader sees every input's
// outputs exactly once.
func (e *env) checkExactlyOnce(ins []input) {
	e.t.Helper()
	e.check(ins, true, false, e.readCommitted(time.Second, keptTopic, threatsTopic, invalidTopic))
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
