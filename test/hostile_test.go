package e2e

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/flowsieve/flowsieve/codec"
	"github.com/flowsieve/flowsieve/processor"
)

// TestQuadraticMembers: one record of 60,000 unknown members (878 KB)
// took 11.8 s to decode, which stalled its partition and, in exactly-once
// mode with a 4 s transaction timeout, fenced the producer and stopped
// the pipeline. Now a record over a limit (members, nesting, bytes) goes
// to the invalid topic at once with the reason, counted by reason, and
// the records around it flow on in both delivery modes.
func TestQuadraticMembers(t *testing.T) {
	t.Parallel()
	bothModes(t, func(t *testing.T, exactly bool) {
		name := modeName(exactly)
		e := newEnv(t, 2)
		seqs := map[int32]int{}
		ins := makeInputs("ok", 400, e.parts, seqs)
		var many strings.Builder
		many.WriteByte('{')
		for i := range 60000 {
			if i > 0 {
				many.WriteByte(',')
			}
			fmt.Fprintf(&many, `"k%d":%d`, i, i)
		}
		many.WriteByte('}')
		hostile := []struct{ key, value, reason, class string }{
			{"members", many.String(), "more than 1000 members", "limit_members"},
			{"depth", `{"a":` + strings.Repeat("[", 20) + strings.Repeat("]", 20) + `}`, "nested deeper than 16 levels", "limit_depth"},
			{"bytes", `{"a":"` + strings.Repeat("x", 950_000) + `"}`, "record too long: 950008 bytes, over the limit of 900000", "limit_record_bytes"},
		}
		for i, h := range hostile {
			p := int32(i) % e.parts
			ins = append(ins, input{key: h.key, value: []byte(h.value), partition: p, seq: seqs[p], invalid: true})
			seqs[p]++
		}
		ins = append(ins, makeInputs("after", 400, e.parts, seqs)...)
		e.produce(ins)

		rulesFile := writeRules(t, t.TempDir(), testRules)
		group := "hostile-" + name
		opts := []pipelineOpt{func(c *processor.Config) { c.Limits = codec.Limits{RecordBytes: 900_000} }}
		if exactly {
			opts = append(opts, exactlyOnce, func(c *processor.Config) { c.TransactionTimeout = 4 * time.Second })
		}
		pl := e.startPipeline(group, rulesFile, opts...)
		e.waitCommitted(group, 60*time.Second)
		var outs map[string][]*kgo.Record
		if exactly {
			outs = e.readCommitted(keptTopic, threatsTopic, invalidTopic)
		} else {
			outs = e.readTopics(keptTopic, threatsTopic, invalidTopic)
		}
		e.check(ins, checkFor(exactly), outs)
		invalid := map[string]string{}
		for _, r := range outs[invalidTopic] {
			invalid[string(r.Key)] = headers(r)[processor.HeaderReason]
		}
		srv := httptest.NewServer(pl.p.Handler())
		defer srv.Close()
		resp, err := http.Get(srv.URL + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, h := range hostile {
			if !strings.Contains(invalid[h.key], h.reason) {
				t.Errorf("%s: reason %q lacks %q", h.key, invalid[h.key], h.reason)
			}
			if want := fmt.Sprintf(`flowsieve_parse_errors_total{reason=%q} 1`, h.class); !strings.Contains(string(body), want) {
				t.Errorf("/metrics lacks %s", want)
			}
		}
	})
}

// filterRules writes a rule file for the filter child processes.
func filterRules(t *testing.T) string {
	t.Helper()
	return writeRules(t, t.TempDir(), testRules)
}

// vmRSS is a process's resident memory, from /proc.
func vmRSS(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			n, _ := strconv.ParseInt(f[1], 10, 64)
			return n << 10
		}
	}
	t.Fatal("no VmRSS")
	return 0
}

// stopChild sends sig and returns the exit status and how long the child
// took to exit.
func stopChild(t *testing.T, cmd *exec.Cmd, sig syscall.Signal) (int, time.Duration) {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	start := time.Now()
	if err := cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatal(err)
		}
		return cmd.ProcessState.ExitCode(), time.Since(start)
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatalf("%v: the child did not exit", sig)
	}
	return 0, 0
}

// TestFilterDevZero: on /dev/zero (one line that never ends) filter grew
// to all memory, and crashed out of memory under `ulimit -v`; SIGINT did
// nothing. Now, under `ulimit -v 1000000`, it holds no more than the
// record-bytes limit of the line, and SIGINT stops it within a second,
// exit 130, the summary printed.
func TestFilterDevZero(t *testing.T) {
	t.Parallel()
	var stderr bytes.Buffer
	cmd := exec.Command("sh", "-c", `ulimit -v 1000000 && exec "$0" filter --rules "$1" /dev/zero`, binary, filterRules(t))
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1500 * time.Millisecond) // gigabytes of zeros, at full speed
	rss := vmRSS(t, cmd.Process.Pid)
	code, took := stopChild(t, cmd, syscall.SIGINT)
	t.Logf("RSS %d MiB after 1.5 s; exit %d %v after SIGINT\n%s", rss>>20, code, took, stderr.String())
	if rss > 100<<20 {
		t.Errorf("RSS %d MiB", rss>>20)
	}
	if code != 130 || took > time.Second {
		t.Errorf("exit %d after %v, want 130 within 1 s", code, took)
	}
	for _, want := range []string{"interrupted (SIGINT)", "records in  0", "invalid     0"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr lacks %q", want)
		}
	}
}

// TestFilterSignalOnStdin: `sleep 8 | flowsieve filter` ignored SIGINT and
// SIGTERM while it waited on stdin (they were checked every 4,096 lines),
// then exited 0. Now it stops at once: 130 for SIGINT, 143 for SIGTERM.
func TestFilterSignalOnStdin(t *testing.T) {
	t.Parallel()
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		pr, pw, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		var stderr bytes.Buffer
		cmd := exec.Command(binary, "filter", "--rules", filterRules(t))
		cmd.Stdin, cmd.Stderr = pr, &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		pr.Close()
		pw.Write([]byte("1700000000 1700000300 wep prod a-* - wep prod b-* - 10.0.0.1 10.1.1.1 6 1 2 1 1 0 src 1 1 1 1 allow\n"))
		time.Sleep(500 * time.Millisecond)
		code, took := stopChild(t, cmd, sig)
		pw.Close()
		if code != 128+int(sig) || took > time.Second {
			t.Errorf("%v: exit %d after %v\n%s", sig, code, took, stderr.String())
		}
		if !strings.Contains(stderr.String(), "records in  1") {
			t.Errorf("%v: no summary:\n%s", sig, stderr.String())
		}
	}
}
