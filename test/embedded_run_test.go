package e2e

import (
	"context"
	"net"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestEmbeddedRun: `flowsieve run` with no brokers configured starts the
// embedded broker, says so, creates the topics and processes records; after
// a restart on the same data directory the records and the committed
// offsets are still there, so nothing is processed twice.
func TestEmbeddedRun(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	rulesFile := writeRules(t, dir, testRules)
	addr := embFreeAddr(t)
	args := []string{"run", "--rules.file", rulesFile, "--embedded.listen", addr,
		"--embedded.data_dir", filepath.Join(dir, "kafka"), "--embedded.partitions", "3",
		"--metrics.listen=", "--log.format=json"}

	c := startChild(t, args...)
	cl := embWaitBroker(t, addr)
	ins := makeInputs("e", 600, 3, map[int32]int{})
	embProduce(t, cl, ins)
	embWaitKept(t, cl, ins)
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := c.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("exit %d", code)
	}
	cl.Close()
	if out := c.out.String(); !strings.Contains(out, "EMBEDDED single-node Kafka broker") || !strings.Contains(out, "kafka.brokers") {
		t.Errorf("no clear embedded-broker log line:\n%s", out)
	}

	// Restart: same data directory.
	startChild(t, args...)
	cl = embWaitBroker(t, addr)
	defer cl.Close()
	more := makeInputs("f", 300, 3, map[int32]int{0: 200, 1: 200, 2: 200})
	embProduce(t, cl, more)
	kept := embWaitKept(t, cl, append(ins, more...))
	if n := countWhere(ins, func(in input) bool { return in.kept }) + countWhere(more, func(in input) bool { return in.kept }); len(kept) != n {
		t.Errorf("%d kept records after the restart, want %d (none processed twice)", len(kept), n)
	}
}

func embFreeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func embWaitBroker(t *testing.T, addr string) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		td, err := kadm.NewClient(cl).ListTopics(ctx, keptTopic)
		cancel()
		if err == nil && td.Has(keptTopic) {
			return cl
		}
		if time.Now().After(deadline) {
			t.Fatalf("embedded broker on %s not up with its topics: %v", addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func embProduce(t *testing.T, cl *kgo.Client, ins []input) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, in := range ins {
		r := &kgo.Record{Topic: rawTopic, Partition: in.partition, Key: []byte(in.key), Value: in.value}
		if err := cl.ProduceSync(ctx, r).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

// embWaitKept waits until every kept input is in the kept topic and returns
// the keys read there (with repeats).
func embWaitKept(t *testing.T, cl *kgo.Client, ins []input) []string {
	t.Helper()
	want := map[string]bool{}
	for _, in := range ins {
		if in.kept {
			want[in.key] = true
		}
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		keys := embReadKeys(t, cl, keptTopic)
		got := map[string]bool{}
		for _, k := range keys {
			got[k] = true
		}
		missing := 0
		for k := range want {
			if !got[k] {
				missing++
			}
		}
		if missing == 0 {
			return keys
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d kept records missing after 60s", missing)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func embReadKeys(t *testing.T, cl *kgo.Client, topic string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	adm := kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		t.Fatal(err)
	}
	offsets := map[string]map[int32]kgo.Offset{topic: {}}
	left := 0
	ends.Each(func(o kadm.ListedOffset) {
		if o.Offset > 0 {
			offsets[topic][o.Partition] = kgo.NewOffset().AtStart()
			left += int(o.Offset)
		}
	})
	if left == 0 {
		return nil
	}
	rc, err := kgo.NewClient(kgo.SeedBrokers(cl.OptValue(kgo.SeedBrokers).([]string)...), kgo.ConsumePartitions(offsets), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var keys []string
	for len(keys) < left {
		f := rc.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("reading %s: %v", topic, ctx.Err())
		}
		f.EachRecord(func(r *kgo.Record) { keys = append(keys, string(r.Key)) })
	}
	return keys
}
