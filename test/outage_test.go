package e2e

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/flowsieve/flowsieve/processor"
	"github.com/flowsieve/flowsieve/processor/embedded"
)

// freePort returns a local address nothing listens on now.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// newDurableEnv is newEnv with a broker that keeps its data in a
// directory, so it can be stopped and started again on the same port.
func newDurableEnv(t *testing.T, partitions int) (*env, func(), func()) {
	t.Helper()
	dataDir := t.TempDir()
	start := func(listen string) *embedded.Broker {
		b, err := embedded.Start(embedded.Config{Listen: listen, DataDir: dataDir, Partitions: partitions,
			Topics: []string{rawTopic, keptTopic, threatsTopic, invalidTopic}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	b := start("127.0.0.1:0")
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		b.Close()
		t.Fatal(err)
	}
	e := &env{t: t, broker: b, addr: b.Addr(), cl: cl, adm: kadm.NewClient(cl), parts: int32(partitions)}
	up := true
	t.Cleanup(func() {
		cl.Close()
		if up {
			e.broker.Close()
		}
	})
	stop := func() { e.broker.Close(); up = false }
	restart := func() { e.broker = start(e.addr); up = true }
	return e, stop, restart
}

// readyz polls a /readyz URL until its answer is want (true: 200).
func readyz(t *testing.T, url string, want bool, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last string
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			last = strings.TrimSpace(string(body))
			if (resp.StatusCode == http.StatusOK) == want {
				return last
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("/readyz did not become ready=%v within %s (last answer %q)", want, timeout, last)
	return ""
}

// TestBrokerRestart: the broker stops for a while (its data kept) and
// starts again on the same port while records flow: flowsieve turns not
// ready, waits, turns ready again, and every input's outputs are there.
func TestBrokerRestart(t *testing.T) {
	t.Parallel()
	for _, exactly := range []bool{false, true} {
		name := map[bool]string{false: "at_least_once", true: "exactly_once"}[exactly]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			brokerRestart(t, exactly)
		})
	}
}

func brokerRestart(t *testing.T, exactly bool) {
	e, stop, restart := newDurableEnv(t, 4)
	dir := t.TempDir()
	rulesFile := writeRules(t, dir, testRules)
	cfg := deliveryConfig(t, dir, e.addr, "outage", rulesFile, exactly, "outage-0")
	metrics := freePort(t)
	body, _ := os.ReadFile(cfg)
	if err := os.WriteFile(cfg, []byte(strings.Replace(string(body), `listen: ""`, "listen: "+metrics, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	url := "http://" + metrics + "/readyz"

	first := makeInputs("o1", 4000, e.parts, map[int32]int{})
	seqs := map[int32]int{}
	for _, in := range first {
		seqs[in.partition] = max(seqs[in.partition], in.seq+1)
	}
	second := makeInputs("o2", 4000, e.parts, seqs)
	e.produce(first[:2000])
	c := startChild(t, "run", "--config", cfg)
	readyz(t, url, true, 30*time.Second)
	e.waitProgress("outage", 30*time.Second)
	e.produce(first[2000:])

	stop()
	why := readyz(t, url, false, 15*time.Second)
	t.Logf("not ready while the broker is down: %s", why)
	reloadRules(t, rulesFile, 1)
	time.Sleep(3 * time.Second)
	restart()
	readyz(t, url, true, 60*time.Second)
	e.produce(second)
	e.waitCommitted("outage", 90*time.Second)
	select {
	case <-c.done:
		t.Errorf("flowsieve exited during the outage: %v", c.err)
	default:
	}
	e.checkDelivery(append(first, second...), exactly)
}

// TestOutputTopicMissing: the kept topic is deleted under a running
// pipeline. Its partitions stall: nothing is committed past the first
// record that could not be produced, the produce-error and stalled metrics
// say so, readiness names it; once the topic is back (and flowsieve
// restarted) every record from the stall on has its outputs.
func TestOutputTopicMissing(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 2)
	rulesFile := writeRules(t, t.TempDir(), testRules)
	reg := prometheus.NewRegistry()
	pl := e.startPipeline("missing", rulesFile, func(c *processor.Config) {
		c.DeliveryTimeout = 10 * time.Second
		c.Registry, c.Gatherer = reg, reg
	})
	seqs := map[int32]int{}
	before := makeInputs("m1", 500, e.parts, seqs)
	e.produce(before)
	e.waitCommitted("missing", 30*time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := e.adm.DeleteTopics(ctx, keptTopic); err != nil {
		t.Fatal(err)
	}
	after := makeInputs("m2", 1000, e.parts, seqs)
	e.produce(after)

	deadline := time.Now().Add(30 * time.Second)
	for pl.p.Ready() == nil || !strings.Contains(pl.p.Ready().Error(), "stalled") {
		if time.Now().After(deadline) {
			t.Fatalf("not reported stalled; Ready: %v", pl.p.Ready())
		}
		time.Sleep(100 * time.Millisecond)
	}
	stalledAt := e.committed("missing")
	time.Sleep(2 * time.Second)
	if again := e.committed("missing"); !mapsEqual(again, stalledAt) {
		t.Errorf("committed moved while the kept topic is missing: %v -> %v", stalledAt, again)
	}
	// The first record of each partition's second batch that must be
	// kept bounds the commit.
	for p, off := range stalledAt {
		for _, in := range after {
			if in.partition == p && in.kept {
				if off > int64(in.seq) {
					t.Errorf("partition %d committed %d, past %s (offset %d) whose kept output failed", p, off, in.key, in.seq)
				}
				break
			}
		}
	}
	if n := counterValue(t, reg, "flowsieve_produce_errors_total", keptTopic); n == 0 {
		t.Error("flowsieve_produce_errors_total{topic=flows.kept} is 0")
	}
	t.Logf("stalled: %v; committed %v", pl.p.Ready(), stalledAt)

	// franz-go keeps a deleted topic's ID and refuses the recreated one
	// (UNKNOWN_TOPIC_ID) for the life of the client: a recreated output
	// topic needs a restart, which then resumes from the stall.
	if err := e.broker.CreateTopics(int(e.parts), 0, 0, keptTopic); err != nil {
		t.Fatal(err)
	}
	if err := pl.stop(); err != nil {
		t.Logf("stopping the stalled member: %v", err)
	}
	pl = e.startPipeline("missing", rulesFile)
	e.waitCommitted("missing", 90*time.Second)
	if err := pl.p.Ready(); err != nil {
		t.Errorf("still not ready after recovery: %v", err)
	}
	e.checkOutputsSubset(after, e.readTopics(keptTopic, threatsTopic, invalidTopic))
}

func mapsEqual(a, b map[int32]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

func counterValue(t *testing.T, g prometheus.Gatherer, name, topic string) float64 {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "topic" && l.GetValue() == topic {
					sum += m.GetCounter().GetValue()
				}
			}
		}
	}
	return sum
}
