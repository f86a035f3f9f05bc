package e2e

import (
	"context"
	"fmt"
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

	"github.com/flowsieve/flowsieve/internal/embedkafka"
	"github.com/flowsieve/flowsieve/processor"
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
	start := func(listen string) *embedkafka.Broker {
		b, err := embedkafka.Start(embedkafka.Config{Listen: listen, DataDir: dataDir, Partitions: partitions,
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
	bothModes(t, brokerRestart)
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
	if exactly {
		// A stop that catches a transaction ending fails its End at
		// once (the brokers refuse the connection), and franz-go says not
		// to go on from there: flowsieve exits non-zero, as
		// docs/delivery.md says, and its supervisor restarts it. The test
		// plays the supervisor; any other exit is a failure.
		select {
		case <-c.done:
			if !strings.Contains(c.out.String(), "ending transaction") {
				t.Fatalf("flowsieve exited during the outage: %v", c.err)
			}
			t.Logf("exactly-once exited on a transaction it could not end (%v); restarted as a supervisor would", c.err)
			c = startChild(t, "run", "--config", cfg)
		case <-time.After(time.Second):
		}
	}
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
// pipeline, in both delivery modes. Its partitions stall: nothing is
// committed past the first record that could not be produced (exactly-once:
// the transactions abort), the produce-error metric counts it and
// readiness names the topic. Once the topic is created again the same
// pipeline, never restarted, recovers by itself: it turns ready, commits
// move on to the end of the input, and every record from the stall on has
// its outputs (exactly-once: exactly once for a read_committed reader).
func TestOutputTopicMissing(t *testing.T) {
	t.Parallel()
	bothModes(t, outputTopicMissing)
}

func outputTopicMissing(t *testing.T, exactly bool) {
	e := newEnv(t, 2)
	rulesFile := writeRules(t, t.TempDir(), testRules)
	reg := prometheus.NewRegistry()
	group := "missing"
	pl := e.startPipeline(group, rulesFile, func(c *processor.Config) {
		c.DeliveryTimeout = 10 * time.Second
		c.Registry, c.Gatherer = reg, reg
		if exactly {
			exactlyOnce(c)
		}
	})
	seqs := map[int32]int{}
	before := makeInputs("m1", 500, e.parts, seqs)
	e.produce(before)
	e.waitCommitted(group, 30*time.Second)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := e.adm.DeleteTopics(ctx, keptTopic); err != nil {
		t.Fatal(err)
	}
	after := makeInputs("m2", 1000, e.parts, seqs)
	e.produce(after)

	why := waitStalled(t, pl, keptTopic, "", 30*time.Second)
	t.Logf("stalled: %s", why)
	e.checkStalled(group, after, 2*time.Second)
	if n := counterWith(t, reg, "flowsieve_produce_errors_total", "topic", keptTopic); n == 0 {
		t.Error("flowsieve_produce_errors_total{topic=flows.kept} is 0")
	}

	// The same member, not restarted, picks the new topic up.
	if err := e.broker.CreateTopics(int(e.parts), 0, 0, keptTopic); err != nil {
		t.Fatal(err)
	}
	recovered := time.Now()
	waitReady(t, pl, 60*time.Second)
	e.waitCommitted(group, 60*time.Second)
	t.Logf("ready and committed to the end %s after the topic came back", time.Since(recovered).Round(100*time.Millisecond))
	if n := counterWith(t, reg, "flowsieve_output_topic_recreations_total", "topic", keptTopic); n == 0 {
		t.Error("flowsieve_output_topic_recreations_total{topic=flows.kept} is 0")
	}

	// The kept outputs of the records before the deletion went with the
	// old topic; their other outputs are all there, as are all outputs of
	// the records after it, and nothing else.
	ins := append([]input(nil), after...)
	for _, in := range before {
		in.kept = false
		ins = append(ins, in)
	}
	if exactly {
		e.check(ins, allExactlyOnce, e.readCommitted(keptTopic, threatsTopic, invalidTopic))
	} else {
		e.checkOutputs(ins, allAtLeastOnce)
	}
	if err := pl.stop(); err != nil {
		t.Errorf("the member that rode out the missing topic stopped with: %v", err)
	}
}

// waitStalled waits until the member reports a stalled partition naming
// the topic (and want, when set) and returns why it is not ready.
func waitStalled(t *testing.T, pl *pipeline, topic, want string, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := pl.p.Ready()
		if err != nil && strings.Contains(err.Error(), "stalled") && strings.Contains(err.Error(), topic) &&
			strings.Contains(err.Error(), want) {
			return err.Error()
		}
		if time.Now().After(deadline) {
			t.Fatalf("not reported stalled on %s %s; Ready: %v%s", topic, want, err, pl.exited())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// waitReady waits until the member is ready.
func waitReady(t *testing.T, pl *pipeline, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for err := pl.p.Ready(); err != nil; err = pl.p.Ready() {
		if time.Now().After(deadline) {
			t.Fatalf("not ready again within %s: %v%s", timeout, err, pl.exited())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// exited says why Run returned, if it did.
func (pl *pipeline) exited() string {
	select {
	case err := <-pl.done:
		pl.done <- err
		return fmt.Sprintf(" (Run returned: %v)", err)
	default:
		return ""
	}
}

// checkStalled asserts that the group's commits stop short of the first
// record of after, in each partition, that has a kept output (the output
// that cannot be produced), and then do not move for a while.
func (e *env) checkStalled(group string, after []input, wait time.Duration) {
	e.t.Helper()
	// Records before the failed one may still complete and their commit
	// land (every commit interval) after the stall is reported.
	time.Sleep(time.Second)
	stalledAt := e.committed(group)
	time.Sleep(wait)
	again := e.committed(group)
	if !mapsEqual(again, stalledAt) {
		e.t.Errorf("committed moved while the output cannot be written: %v -> %v", stalledAt, again)
	}
	for p, off := range again {
		for _, in := range after {
			if in.partition == p && in.kept {
				if off > int64(in.seq) {
					e.t.Errorf("partition %d committed %d, past %s (offset %d) whose kept output failed", p, off, in.key, in.seq)
				}
				break
			}
		}
	}
	e.t.Logf("committed %v while stalled", stalledAt)
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
