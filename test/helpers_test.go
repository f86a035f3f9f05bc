// Package e2e holds flowsieve's end-to-end tests: the pipeline against a
// real Kafka-protocol broker (kfake over TCP, in the test process), driven
// in-process through the processor package, as the built `flowsieve`
// binary in a child process, and through kcat.
package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest"

	"github.com/flowsieve/flowsieve/internal/embedkafka"
	"github.com/flowsieve/flowsieve/processor"
	"github.com/flowsieve/flowsieve/rules"
)

const (
	rawTopic     = "flows.raw"
	keptTopic    = "flows.kept"
	threatsTopic = "flows.threats"
	invalidTopic = "flows.invalid"
)

// binary is the flowsieve command built once for the tests that run it as
// a child process.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "flowsieve-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "flowsieve")
	// The Makefile's and the Dockerfile's build: with `make test` it comes
	// from the build cache.
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", binary, "../cmd/flowsieve")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building flowsieve:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// env is one in-memory broker with the four topics, and a client to drive
// and inspect it.
type env struct {
	t      *testing.T
	broker *embedkafka.Broker
	addr   string
	cl     *kgo.Client
	adm    *kadm.Client
	parts  int32
	// clientOpts (TLS, SASL) go to every client the test makes.
	clientOpts []kgo.Opt
}

func newEnv(t *testing.T, partitions int) *env {
	t.Helper()
	b, err := embedkafka.Start(embedkafka.Config{
		Listen:     "127.0.0.1:0",
		Topics:     []string{rawTopic, keptTopic, threatsTopic, invalidTopic},
		Partitions: partitions,
	})
	if err != nil {
		t.Fatal(err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		b.Close()
		t.Fatal(err)
	}
	e := &env{t: t, broker: b, addr: b.Addr(), cl: cl, adm: kadm.NewClient(cl), parts: int32(partitions)}
	t.Cleanup(func() {
		cl.Close()
		b.Close()
	})
	return e
}

// produce writes the inputs to the raw topic, each to its partition, and
// waits for them all.
func (e *env) produce(ins []input) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	recs := make([]*kgo.Record, len(ins))
	for i, in := range ins {
		recs[i] = &kgo.Record{Topic: rawTopic, Partition: in.partition, Key: []byte(in.key), Value: in.value,
			Headers: []kgo.RecordHeader{{Key: "origin", Value: []byte("e2e")}}}
	}
	if err := e.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		e.t.Fatalf("producing input: %v", err)
	}
}

// readTopics reads the topics to their current ends with one client.
func (e *env) readTopics(topics ...string) map[string][]*kgo.Record {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ends, err := e.adm.ListEndOffsets(ctx, topics...)
	if err != nil {
		e.t.Fatal(err)
	}
	type tp struct {
		t string
		p int32
	}
	want := map[tp]int64{}
	offsets := map[string]map[int32]kgo.Offset{}
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			want[tp{o.Topic, o.Partition}] = o.Offset
			if offsets[o.Topic] == nil {
				offsets[o.Topic] = map[int32]kgo.Offset{}
			}
			offsets[o.Topic][o.Partition] = kgo.NewOffset().AtStart()
		}
	})
	out := map[string][]*kgo.Record{}
	if len(want) == 0 {
		return out
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(e.addr), kgo.ConsumePartitions(offsets), kgo.FetchMaxWait(100 * time.Millisecond)}, e.clientOpts...)...)
	if err != nil {
		e.t.Fatal(err)
	}
	defer cl.Close()
	byTP := map[tp][]*kgo.Record{}
	for len(want) > 0 {
		f := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			e.t.Fatalf("reading %v: %v (still waiting for %v)", topics, err, want)
		}
		f.EachRecord(func(r *kgo.Record) {
			k := tp{r.Topic, r.Partition}
			byTP[k] = append(byTP[k], r)
			if end, ok := want[k]; ok && r.Offset+1 >= end {
				delete(want, k)
			}
		})
	}
	for _, t := range topics {
		for p := int32(0); p < e.parts; p++ {
			out[t] = append(out[t], byTP[tp{t, p}]...)
		}
	}
	return out
}

// committed returns the group's committed offset per input partition.
func (e *env) committed(group string) map[int32]int64 {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	offs, err := e.adm.FetchOffsets(ctx, group)
	if err != nil {
		return nil
	}
	out := map[int32]int64{}
	offs.Each(func(o kadm.OffsetResponse) {
		if o.Topic == rawTopic && o.Err == nil {
			out[o.Partition] = o.At
		}
	})
	return out
}

// endOffsets returns the raw topic's end offset per partition.
func (e *env) endOffsets() map[int32]int64 {
	e.t.Helper()
	ends, err := e.adm.ListEndOffsets(context.Background(), rawTopic)
	if err != nil {
		e.t.Fatal(err)
	}
	out := map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) { out[o.Partition] = o.Offset })
	return out
}

// waitCommitted waits until the group has committed the end of every raw
// partition.
func (e *env) waitCommitted(group string, timeout time.Duration) {
	e.t.Helper()
	ends := e.endOffsets()
	deadline := time.Now().Add(timeout)
	for {
		got := e.committed(group)
		done := true
		for p, end := range ends {
			if end > 0 && got[p] != end {
				done = false
			}
		}
		if done {
			return
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("group %s committed %v, want the input ends %v", group, got, ends)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// pipeline is an in-process flowsieve member.
type pipeline struct {
	cancel  context.CancelFunc
	done    chan error
	watcher *rules.Watcher
	p       *processor.Pipeline
}

type pipelineOpt func(*processor.Config)

func (e *env) startPipeline(group, rulesFile string, opts ...pipelineOpt) *pipeline {
	e.t.Helper()
	level := zap.WarnLevel
	if os.Getenv("E2E_VERBOSE") != "" {
		level = zap.InfoLevel
	}
	log := zaptest.NewLogger(e.t, zaptest.Level(level), zaptest.WrapOptions(zap.AddCaller()))
	w, err := rules.NewWatcher(rulesFile, rules.WatcherOptions{Debounce: 50 * time.Millisecond, Logger: log})
	if err != nil {
		e.t.Fatal(err)
	}
	cfg := processor.Config{
		Brokers:        []string{e.addr},
		Topics:         []string{rawTopic},
		Group:          group,
		KeptTopic:      keptTopic,
		ThreatsTopic:   threatsTopic,
		InvalidTopic:   invalidTopic,
		Rules:          w.Current,
		CommitInterval: 200 * time.Millisecond,
		StartTimeout:   10 * time.Second,
		Logger:         log,
	}
	for _, o := range opts {
		o(&cfg)
	}
	p, err := processor.New(cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	pl := &pipeline{cancel: cancel, done: make(chan error, 1), watcher: w, p: p}
	go func() { _ = w.Run(ctx) }()
	go func() { pl.done <- p.Run(ctx) }()
	var once sync.Once
	e.t.Cleanup(func() { once.Do(func() { _ = pl.stop() }) })
	return pl
}

// stop shuts the member down gracefully and returns Run's error.
func (pl *pipeline) stop() error {
	pl.cancel()
	select {
	case err := <-pl.done:
		pl.done <- err
		return err
	case <-time.After(60 * time.Second):
		return fmt.Errorf("pipeline did not stop within 60s")
	}
}

// input is one record written to the raw topic, and where it must land.
type input struct {
	key       string
	value     []byte
	partition int32
	seq       int // position within its partition
	kept      bool
	threat    bool
	invalid   bool
}

// Test rules: one threat rule on a feed of documentation addresses, one
// filter dropping the dev namespace.
const testRules = `
feeds:
  - name: bad
    file: bad.txt
threats:
  - name: c2
    severity: critical
    when:
      any:
        - {field: dest_ip, in_feed: bad}
        - {field: source_ip, in_feed: bad}
filters:
  - name: drop-dev
    action: exclude
    when:
      any:
        - {field: source_namespace, equals: dev}
        - {field: dest_namespace, equals: dev}
`

const testFeed = "198.51.100.0/24\n203.0.113.7\n"

func writeRules(t *testing.T, dir, body string) string {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "bad.txt"), []byte(testFeed), 0o644); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "rules.yaml")
	writeFileAtomic(t, path, body)
	return path
}

func writeFileAtomic(t *testing.T, path, body string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

var namespaces = []string{"default", "prod", "dev", "payments", "kube-system"}

// makeInputs builds n records spread over partitions: text and JSON flows
// in several namespaces (dev is dropped), some to a feed address (flagged),
// and some garbage. Where each must land follows from how it is built, not
// from the rules engine. prefix makes keys unique across calls.
func makeInputs(prefix string, n int, partitions int32, seqs map[int32]int) []input {
	ins := make([]input, 0, n)
	for i := 0; i < n; i++ {
		in := input{key: fmt.Sprintf("%s-%06d", prefix, i), partition: int32(i) % partitions}
		in.seq = seqs[in.partition]
		seqs[in.partition]++
		ns := namespaces[i%len(namespaces)]
		dstIP := fmt.Sprintf("10.1.%d.%d", i%200, i%250+1)
		in.threat = i%23 == 0
		if in.threat {
			dstIP = fmt.Sprintf("198.51.100.%d", i%250+1)
		}
		in.kept = ns != "dev"
		switch {
		case i%41 == 0:
			in.value = []byte(fmt.Sprintf("garbage %d: this is not a flow log", i))
			in.invalid, in.kept, in.threat = true, false, false
		case i%3 == 0:
			in.value = []byte(fmt.Sprintf(`{"start_time":%d,"end_time":%d,"source_type":"wep","source_namespace":%q,"source_name":"-","source_name_aggr":"client-%d-*","source_labels":{"labels":["app=client"]},"source_ip":"10.0.0.%d","source_port":%d,"dest_type":"wep","dest_namespace":"prod","dest_name":"-","dest_name_aggr":"server-*","dest_labels":{"labels":["app=server"]},"dest_ip":%q,"dest_port":443,"proto":"tcp","num_flows":1,"num_flows_started":1,"num_flows_completed":0,"reporter":"src","packets_in":10,"packets_out":12,"bytes_in":1200,"bytes_out":%d,"action":"allow","seq":%d}`,
				1700000000+i, 1700000300+i, ns, i%7, i%250+1, 30000+i%30000, dstIP, 1000+i, i))
		default:
			in.value = []byte(fmt.Sprintf("%d %d wep %s client-%d-* app=client wep prod server-* app=server 10.0.0.%d %s 6 %d 443 1 1 0 src 10 12 1200 %d allow",
				1700000000+i, 1700000300+i, ns, i%7, i%250+1, dstIP, 30000+i%30000, 1000+i))
		}
		ins = append(ins, in)
	}
	return ins
}

// checkOutputs asserts that every input landed in exactly the topics it
// must, with the right content, at least once (exactly once with
// allExactlyOnce), and that each output partition holds each input
// partition's records in input order.
func (e *env) checkOutputs(ins []input, mode checkMode) {
	e.t.Helper()
	e.check(ins, mode, e.readTopics(keptTopic, threatsTopic, invalidTopic))
}

// checkOutputsSubset is checkOutputs for some of the inputs, on outputs
// already read: outputs of other records are ignored.
func (e *env) checkOutputsSubset(ins []input, outs map[string][]*kgo.Record) {
	e.t.Helper()
	e.check(ins, someAtLeastOnce, outs)
}

// checkMode is what check asserts of the outputs besides routing, content
// and order.
type checkMode int

const (
	allAtLeastOnce  checkMode = iota // every record's outputs, at least once
	allExactlyOnce                   // every record's outputs, exactly once
	someAtLeastOnce                  // ins' outputs, at least once; outputs of other records ignored
)

// checkFor is the check of a delivery mode's outputs.
func checkFor(exactlyOnce bool) checkMode {
	if exactlyOnce {
		return allExactlyOnce
	}
	return allAtLeastOnce
}

func (e *env) check(ins []input, mode checkMode, outs map[string][]*kgo.Record) {
	e.t.Helper()
	byKey := make(map[string]*input, len(ins))
	for i := range ins {
		byKey[ins[i].key] = &ins[i]
	}
	for _, topic := range []string{keptTopic, threatsTopic, invalidTopic} {
		recs := outs[topic]
		seen := map[string]int{}
		// last seq seen per (output partition, input partition)
		lastSeq := map[[2]int32]int{}
		for _, r := range recs {
			in := byKey[string(r.Key)]
			if in == nil && mode == someAtLeastOnce {
				continue
			}
			if in == nil {
				e.t.Errorf("%s: record with unknown key %q", topic, r.Key)
				continue
			}
			seen[in.key]++
			switch topic {
			case keptTopic:
				if !in.kept {
					e.t.Errorf("%s: %s should not be kept", topic, in.key)
				}
				if string(r.Value) != string(in.value) {
					e.t.Errorf("%s: %s value changed:\n got %s\nwant %s", topic, in.key, r.Value, in.value)
				}
			case threatsTopic:
				if !in.threat {
					e.t.Errorf("%s: %s should not be flagged", topic, in.key)
				}
				if !strings.Contains(string(r.Value), `"rule":"c2"`) || !strings.Contains(string(r.Value), `"severity":"critical"`) {
					e.t.Errorf("%s: %s lacks the rule and severity: %s", topic, in.key, r.Value)
				}
			case invalidTopic:
				if !in.invalid {
					e.t.Errorf("%s: %s should not be invalid", topic, in.key)
				}
				if string(r.Value) != string(in.value) {
					e.t.Errorf("%s: %s value changed", topic, in.key)
				}
				h := headers(r)
				if h[processor.HeaderReason] == "" || h[processor.HeaderTopic] != rawTopic ||
					h[processor.HeaderPartition] != strconv.Itoa(int(in.partition)) || h[processor.HeaderOffset] == "" {
					e.t.Errorf("%s: %s headers %v", topic, in.key, h)
				}
			}
			if headers(r)["origin"] != "e2e" {
				e.t.Errorf("%s: %s lost its input headers", topic, in.key)
			}
			if want := in.partition % e.parts; r.Partition != want {
				e.t.Errorf("%s: %s in partition %d, want %d", topic, in.key, r.Partition, want)
			}
			k := [2]int32{r.Partition, in.partition}
			if prev, ok := lastSeq[k]; ok && in.seq < prev && seen[in.key] == 1 {
				e.t.Errorf("%s: order broken: %s (seq %d) after seq %d of input partition %d", topic, in.key, in.seq, prev, in.partition)
			}
			lastSeq[k] = max(lastSeq[k], in.seq)
		}
		missing, dups := 0, 0
		for _, in := range ins {
			want := topic == keptTopic && in.kept || topic == threatsTopic && in.threat || topic == invalidTopic && in.invalid
			n := seen[in.key]
			switch {
			case want && n == 0:
				missing++
				if missing <= 5 {
					e.t.Errorf("%s: %s missing", topic, in.key)
				}
			case want && n > 1:
				dups++
			}
		}
		if missing > 0 {
			e.t.Errorf("%s: %d records missing", topic, missing)
		}
		if mode == allExactlyOnce && dups > 0 {
			e.t.Errorf("%s: %d records duplicated", topic, dups)
		}
		e.t.Logf("%s: %d records, %d inputs duplicated", topic, len(recs), dups)
	}
}

func headers(r *kgo.Record) map[string]string {
	m := map[string]string{}
	for _, h := range r.Headers {
		m[h.Key] = string(h.Value)
	}
	return m
}

func countWhere(ins []input, f func(input) bool) int {
	return len(slices.DeleteFunc(slices.Clone(ins), func(in input) bool { return !f(in) }))
}

// silentListener accepts connections and never answers: a broker that
// hangs.
func silentListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() })
		}
	}()
	return ln.Addr().String()
}

// keyIndex returns i of a key made by makeInputs ("prefix-000042" -> 42).
func keyIndex(key string) int {
	n, _ := strconv.Atoi(key[strings.LastIndexByte(key, '-')+1:])
	return n
}

// bothModes runs f as a parallel subtest in each delivery mode, named
// after it.
func bothModes(t *testing.T, f func(t *testing.T, exactly bool)) {
	t.Helper()
	for _, exactly := range []bool{false, true} {
		t.Run(modeName(exactly), func(t *testing.T) {
			t.Parallel()
			f(t, exactly)
		})
	}
}

// modeName is the delivery.mode value of a mode: at_least_once or
// exactly_once.
func modeName(exactly bool) string {
	if exactly {
		return "exactly_once"
	}
	return "at_least_once"
}

// eventually waits until cond holds, checking every 20 ms, and fails the
// test naming what it waited for when timeout passes first.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); !cond(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", timeout, what)
		}
	}
}
