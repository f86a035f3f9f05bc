package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestKcatInterop: librdkafka's kcat writes the input and reads the
// outputs, so the pipeline is checked against a client other than
// franz-go.
func TestKcatInterop(t *testing.T) {
	t.Parallel()
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Fatal("kcat not installed: apt-get install kcat (the README's prerequisites; .ci/run installs it)")
	}
	e := newEnv(t, 3)
	dir := t.TempDir()
	rulesFile := writeRules(t, dir, testRules)
	ins := makeInputs("kc", 3000, e.parts, map[int32]int{})

	// One kcat per partition, keys before a tab.
	for p := int32(0); p < e.parts; p++ {
		var b bytes.Buffer
		for _, in := range ins {
			if in.partition == p {
				fmt.Fprintf(&b, "%s\t%s\n", in.key, in.value)
			}
		}
		file := filepath.Join(dir, fmt.Sprintf("input-%d.log", p))
		if err := os.WriteFile(file, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		kcatRun(t, kcat, "-b", e.addr, "-t", rawTopic, "-p", fmt.Sprint(p), "-K", "\t", "-H", "origin=e2e", "-P", "-l", file)
	}

	e.startPipeline("kcat", rulesFile)
	e.waitCommitted("kcat", 60*time.Second)

	byKey := map[string]input{}
	for _, in := range ins {
		byKey[in.key] = in
	}
	for _, topic := range []string{keptTopic, threatsTopic, invalidTopic} {
		out := kcatRun(t, kcat, "-b", e.addr, "-t", topic, "-C", "-e", "-q", "-f", `%k\t%p\t%h\t%s\n`)
		got := map[string]bool{}
		for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
			if line == "" {
				continue
			}
			f := strings.SplitN(line, "\t", 4)
			if len(f) != 4 {
				t.Fatalf("%s: bad kcat line %q", topic, line)
			}
			in, ok := byKey[f[0]]
			if !ok {
				t.Errorf("%s: unknown key %q", topic, f[0])
				continue
			}
			got[f[0]] = true
			if !strings.Contains(f[2], "origin=e2e") {
				t.Errorf("%s: %s lost its input header: %q", topic, f[0], f[2])
			}
			switch topic {
			case keptTopic:
				if f[3] != string(in.value) {
					t.Errorf("%s: %s changed:\n got %s\nwant %s", topic, f[0], f[3], in.value)
				}
			case threatsTopic:
				if !strings.Contains(f[3], `"rule":"c2"`) {
					t.Errorf("%s: %s: %s", topic, f[0], f[3])
				}
			case invalidTopic:
				if f[3] != string(in.value) || !strings.Contains(f[2], "flowsieve.reason=") || !strings.Contains(f[2], "flowsieve.source.topic="+rawTopic) {
					t.Errorf("%s: %s: headers %q value %q", topic, f[0], f[2], f[3])
				}
			}
		}
		want := 0
		for _, in := range ins {
			w := topic == keptTopic && in.kept || topic == threatsTopic && in.threat || topic == invalidTopic && in.invalid
			if w {
				want++
				if !got[in.key] {
					t.Errorf("%s: %s missing", topic, in.key)
				}
			} else if got[in.key] {
				t.Errorf("%s: %s should not be there", topic, in.key)
			}
		}
		t.Logf("%s: kcat read %d records, %d expected", topic, len(got), want)
	}
}

func kcatRun(t *testing.T, kcat string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, kcat, args...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kcat %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}
