package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"
)

// child is a `flowsieve run` process.
type child struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
	err  error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// writeConfig writes a run config pointing at the test broker.
func writeConfig(t *testing.T, dir, broker, group, rulesFile string) string {
	t.Helper()
	path := filepath.Join(dir, "flowsieve.yaml")
	body := fmt.Sprintf(`kafka:
  brokers: [%s]
  connect_timeout: 10s
input:
  topics: [%s]
  group: %s
  session_timeout: 6s
output:
  kept_topic: %s
  threats_topic: %s
  invalid_topic: %s
rules:
  file: %s
  debounce: 50ms
metrics:
  listen: ""
  summary_interval: 1s
log:
  format: json
`, broker, rawTopic, group, keptTopic, threatsTopic, invalidTopic, rulesFile)
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func startChild(t *testing.T, args ...string) *child {
	t.Helper()
	return startBinary(t, binary, args...)
}

// startBinary is startChild with another build of flowsieve.
func startBinary(t *testing.T, bin string, args ...string) *child {
	t.Helper()
	c := &child{cmd: exec.Command(bin, args...), out: &syncBuffer{}, done: make(chan struct{})}
	c.cmd.Stdout, c.cmd.Stderr = c.out, c.out
	if err := c.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		c.err = c.cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		_ = c.cmd.Process.Kill()
		<-c.done
		if t.Failed() || os.Getenv("E2E_VERBOSE") != "" {
			t.Logf("flowsieve output:\n%s", c.out.String())
		}
	})
	return c
}

// wait waits for the child to exit and returns its exit code.
func (c *child) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(timeout):
		t.Fatalf("flowsieve did not exit within %s; output:\n%s", timeout, c.out.String())
	}
	if c.err == nil {
		return 0
	}
	if ee, ok := c.err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	t.Fatalf("waiting for flowsieve: %v", c.err)
	return -1
}

// produceSlowly writes ins in small batches over roughly d, in the
// background; the returned channel closes when all are written.
func (e *env) produceSlowly(ins []input, d time.Duration) <-chan struct{} {
	done := make(chan struct{})
	const batches = 40
	go func() {
		defer close(done)
		per := (len(ins) + batches - 1) / batches
		for i := 0; i < len(ins); i += per {
			e.produce(ins[i:min(i+per, len(ins))])
			time.Sleep(d / batches)
		}
	}()
	return done
}

// waitProgress waits until the group has committed something.
func (e *env) waitProgress(group string, timeout time.Duration) map[int32]int64 {
	e.t.Helper()
	return e.waitCommittedSum(group, 1, timeout)
}

// waitCommittedSum waits until the group's committed offsets add up to at
// least n.
func (e *env) waitCommittedSum(group string, n int64, timeout time.Duration) map[int32]int64 {
	e.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		var sum int64
		c := e.committed(group)
		for _, o := range c {
			sum += o
		}
		if sum >= n {
			return c
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.t.Fatalf("group %s made no progress within %s", group, timeout)
	return nil
}

// TestKillAndRestart: a flowsieve process killed with SIGKILL mid-stream
// and started again loses nothing: every input's outputs are present.
func TestKillAndRestart(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 4)
	dir := t.TempDir()
	cfg := writeConfig(t, dir, e.addr, "killed", writeRules(t, dir, testRules))
	ins := makeInputs("k", 5000, e.parts, map[int32]int{})
	produced := e.produceSlowly(ins, 3*time.Second)

	c := startChild(t, "run", "--config", cfg)
	e.waitProgress("killed", 30*time.Second)
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	c.wait(t, 10*time.Second)
	before := e.committed("killed")

	startChild(t, "run", "--config", cfg)
	<-produced
	e.waitCommitted("killed", 60*time.Second)
	t.Logf("committed at the kill: %v; end: %v", before, e.endOffsets())
	e.checkOutputs(ins, allAtLeastOnce)
}

// TestGracefulShutdown: on SIGTERM flowsieve stops taking records, lets
// in-flight produces finish and commits them: afterwards every record below
// the committed offset has its outputs, and no record at or past it does
// (nothing was produced that a restart would produce again).
func TestGracefulShutdown(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 4)
	dir := t.TempDir()
	cfg := writeConfig(t, dir, e.addr, "graceful", writeRules(t, dir, testRules))
	ins := makeInputs("g", 5000, e.parts, map[int32]int{})
	produced := e.produceSlowly(ins, 3*time.Second)

	c := startChild(t, "run", "--config", cfg)
	e.waitProgress("graceful", 30*time.Second)
	time.Sleep(300 * time.Millisecond)
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := c.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM; output:\n%s", code, c.out.String())
	}
	<-produced
	committed := e.committed("graceful")
	t.Logf("committed after SIGTERM: %v of %v", committed, e.endOffsets())

	// Offsets in the raw topic are each partition's seq: every record
	// was written in order by one producer.
	outputs := map[string]int{}
	for _, recs := range e.readTopics(keptTopic, threatsTopic, invalidTopic) {
		for _, r := range recs {
			outputs[string(r.Key)]++
		}
	}
	var below, after int
	for _, in := range ins {
		has := outputs[in.key] > 0
		wantAny := in.kept || in.threat || in.invalid
		if int64(in.seq) < committed[in.partition] {
			below++
			if wantAny && !has {
				t.Errorf("%s (partition %d offset %d) is below the commit %d but has no output", in.key, in.partition, in.seq, committed[in.partition])
			}
		} else {
			after++
			if has {
				t.Errorf("%s (partition %d offset %d) was produced but its offset was not committed (%d)", in.key, in.partition, in.seq, committed[in.partition])
			}
		}
	}
	if below == 0 {
		t.Fatal("nothing was committed before SIGTERM")
	}
	t.Logf("%d records committed, %d left for the next run", below, after)

	// A restart picks up exactly where the first run stopped.
	startChild(t, "run", "--config", cfg)
	e.waitCommitted("graceful", 60*time.Second)
	e.checkOutputs(ins, allExactlyOnce)
}

// TestStartupErrors: bad config and unreachable brokers stop flowsieve
// with a clear message and a non-zero exit, in bounded time.
func TestStartupErrors(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	rulesFile := writeRules(t, dir, testRules)
	bad := filepath.Join(dir, "bad.yaml")
	if err := os.WriteFile(bad, []byte("input:\n  gruop: x\nembedded:\n  partitions: -3\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		args  []string
		env   []string
		want  []string
		limit time.Duration
	}{
		{name: "unknown key and bad value", args: []string{"run", "--config", bad},
			want: []string{`unknown key "input.gruop"`}, limit: 10 * time.Second},
		{name: "bad value", args: []string{"run", "--rules.file", rulesFile, "--embedded.partitions=0"},
			want: []string{"embedded.partitions: must be between 1 and 1000, got 0"}, limit: 10 * time.Second},
		{name: "bad env", args: []string{"run", "--rules.file", rulesFile}, env: []string{"FLOWSIEVE_OUTPUT_FORMAT=xml"},
			want: []string{`output.format: "xml" is not raw or json`}, limit: 10 * time.Second},
		{name: "missing rules", args: []string{"run", "--rules.file", filepath.Join(dir, "nope.yaml"), "--kafka.brokers=127.0.0.1:1"},
			want: []string{"loading rules", "nope.yaml"}, limit: 10 * time.Second},
		{name: "connection refused", args: []string{"run", "--rules.file", rulesFile, "--kafka.brokers=127.0.0.1:1", "--kafka.connect_timeout=3s", "--metrics.listen="},
			want: []string{"cannot reach Kafka brokers 127.0.0.1:1"}, limit: 15 * time.Second},
		{name: "no answer", args: []string{"run", "--rules.file", rulesFile, "--kafka.brokers=" + silentListener(t), "--kafka.connect_timeout=2s", "--metrics.listen="},
			want: []string{"cannot reach Kafka brokers", "within 2s"}, limit: 15 * time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), tc.limit)
			defer cancel()
			cmd := exec.CommandContext(ctx, binary, tc.args...)
			cmd.Env = append(os.Environ(), tc.env...)
			start := time.Now()
			out, err := cmd.CombinedOutput()
			if ctx.Err() != nil {
				t.Fatalf("still running after %s; output:\n%s", tc.limit, out)
			}
			ee, ok := err.(*exec.ExitError)
			if !ok || ee.ExitCode() == 0 {
				t.Fatalf("exit %v, want a failure; output:\n%s", err, out)
			}
			for _, w := range tc.want {
				if !bytes.Contains(out, []byte(w)) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			t.Logf("failed in %s", time.Since(start).Round(time.Millisecond))
		})
	}
}
