package e2e

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// deliveryConfig is writeConfig plus the delivery mode; exactly-once
// members get a short transaction timeout, and txnID, when set, is the
// member's stable transactional id (as a StatefulSet pod name would be).
func deliveryConfig(t *testing.T, dir, broker, group, rulesFile string, exactly bool, txnID string) string {
	t.Helper()
	path := writeConfig(t, dir, broker, group, rulesFile)
	if !exactly {
		return path
	}
	extra := "delivery: exactly_once\ntransaction:\n  timeout: 10s\n  interval: 50ms\n  max_records: 2000\n"
	if txnID != "" {
		extra += "  id: " + txnID + "\n"
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(extra); err != nil {
		t.Fatal(err)
	}
	return path
}

// reloadRules rewrites the rule file with a filter that matches no test
// record: the reload changes nothing about where records go.
func reloadRules(t *testing.T, path string, n int) {
	t.Helper()
	writeFileAtomic(t, path, testRules+`
  - name: drop-nothing-`+strconv.Itoa(n)+`
    action: exclude
    when: {field: source_namespace, equals: no-such-namespace}
`)
}

func (e *env) checkDelivery(ins []input, exactly bool) {
	e.t.Helper()
	if exactly {
		e.checkExactlyOnce(ins)
		return
	}
	e.checkOutputs(ins, allAtLeastOnce)
}

// waitAdvance waits until the group commits past what it has committed now.
func (e *env) waitAdvance(group string, timeout time.Duration) {
	e.t.Helper()
	sum := func() (n int64) {
		for _, o := range e.committed(group) {
			n += o
		}
		return n
	}
	from := sum()
	eventually(e.t, timeout, fmt.Sprintf("group %s commits more than %d", group, from), func() bool { return sum() > from })
}

func kill(t *testing.T, c *child) {
	t.Helper()
	if err := c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	c.wait(t, 10*time.Second)
}

// TestKillFiveTimes: a flowsieve process killed with SIGKILL at random
// points five times while records flow, and started again each time (a
// rules reload in between): at-least-once, every input's outputs are
// there; exactly-once, a read_committed reader sees them exactly once.
func TestKillFiveTimes(t *testing.T) {
	t.Parallel()
	bothModes(t, func(t *testing.T, exactly bool) {
		name := modeName(exactly)
		seed := time.Now().UnixNano()
		rng := rand.New(rand.NewPCG(uint64(seed), 5))
		t.Logf("seed %d", seed)
		e := newEnv(t, 4)
		dir := t.TempDir()
		rulesFile := writeRules(t, dir, testRules)
		group := "kill5-" + name
		cfg := deliveryConfig(t, dir, e.addr, group, rulesFile, exactly, "kill5-member-0")
		// Input keeps flowing for longer than the five kills take:
		// each restart waits out the killed member's 6s session.
		ins := makeInputs("k5", 50000, e.parts, map[int32]int{})
		produced := e.produceSlowly(ins, 40*time.Second)

		c := startChild(t, "run", "--config", cfg)
		e.waitProgress(group, 30*time.Second)
		var windows []replayWindow
		for i := range 5 {
			// Each restarted member first waits for the group to
			// drop the killed one (session timeout): kill it again
			// only once it has made progress of its own.
			e.waitAdvance(group, 45*time.Second)
			time.Sleep(time.Duration(100+rng.IntN(1000)) * time.Millisecond)
			if i == 2 {
				reloadRules(t, rulesFile, i)
			}
			kill(t, c)
			w := replayWindow{from: e.committed(group), to: e.endOffsets()}
			windows = append(windows, w)
			t.Logf("kill %d: committed %v, input end %v", i+1, w.from, w.to)
			c = startChild(t, "run", "--config", cfg)
		}
		<-produced
		e.waitCommitted(group, 90*time.Second)
		e.checkDelivery(ins, exactly)
		if !exactly {
			checkReplays(t, ins, e.readTopics(keptTopic, threatsTopic, invalidTopic), windows)
		}
	})
}

// replayWindow is what a killed at-least-once member may have finished
// without committing: its input from the group's last commit before the
// kill to the end of the input at the kill.
type replayWindow struct{ from, to map[int32]int64 }

// checkReplays bounds at-least-once duplicates: an input's outputs may
// appear twice only if the input lies in the replay window of some kill,
// that is, the restarted member repeated only what came after the last
// commit. A member that committed late, or past what it had finished,
// fails here even when every output is present.
func checkReplays(t *testing.T, ins []input, outs map[string][]*kgo.Record, windows []replayWindow) {
	t.Helper()
	byKey := make(map[string]*input, len(ins))
	for i := range ins {
		byKey[ins[i].key] = &ins[i]
	}
	replayed, outside := map[string]bool{}, 0
	for _, recs := range outs {
		seen := map[string]int{}
		for _, r := range recs {
			if seen[string(r.Key)]++; seen[string(r.Key)] == 2 {
				replayed[string(r.Key)] = true
			}
		}
	}
	for key := range replayed {
		in := byKey[key]
		if in == nil {
			continue // checkDelivery reports unknown keys
		}
		ok := false
		for _, w := range windows {
			if off := int64(in.seq); off >= w.from[in.partition] && off < w.to[in.partition] {
				ok = true
				break
			}
		}
		if !ok {
			if outside++; outside <= 5 {
				t.Errorf("%s (partition %d, offset %d) was processed twice, but lies in no kill's replay window", key, in.partition, in.seq)
			}
		}
	}
	if outside > 0 {
		t.Errorf("%d inputs processed twice outside every replay window", outside)
	}
	t.Logf("%d of %d inputs processed twice after %d kills (%.0f per kill), all within replay windows",
		len(replayed), len(ins), len(windows), float64(len(replayed))/float64(len(windows)))
}

// TestGroupChurn: a group of three processes; one more added, one stopped
// with SIGTERM and one killed mid-stream: the same guarantees hold.
func TestGroupChurn(t *testing.T) {
	t.Parallel()
	bothModes(t, func(t *testing.T, exactly bool) {
		name := modeName(exactly)
		e := newEnv(t, 6)
		dir := t.TempDir()
		rulesFile := writeRules(t, dir, testRules)
		group := "churn-" + name
		cfg := deliveryConfig(t, dir, e.addr, group, rulesFile, exactly, "")
		ins := makeInputs("gc", 20000, e.parts, map[int32]int{})
		produced := e.produceSlowly(ins, 8*time.Second)

		a := startChild(t, "run", "--config", cfg)
		b := startChild(t, "run", "--config", cfg)
		startChild(t, "run", "--config", cfg)
		e.waitProgress(group, 30*time.Second)
		time.Sleep(time.Second)
		startChild(t, "run", "--config", cfg)
		time.Sleep(time.Second)
		if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		reloadRules(t, rulesFile, 1)
		time.Sleep(500 * time.Millisecond)
		kill(t, b)
		if code := a.wait(t, 30*time.Second); code != 0 {
			t.Errorf("SIGTERM: exit code %d", code)
		}
		<-produced
		e.waitCommitted(group, 90*time.Second)
		e.checkDelivery(ins, exactly)
	})
}
