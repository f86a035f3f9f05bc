package main

import (
	"bytes"
	"context"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/flowsieve/flowsieve/codec"
	"github.com/flowsieve/flowsieve/codec/flowgen"
)

func runGen(t *testing.T, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	var out, errb bytes.Buffer
	code = genCmd(context.Background(), args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestGenStdout(t *testing.T) {
	tests := []struct {
		name   string
		args   []string
		format codec.Format
		lines  int
	}{
		{"text", []string{"--count", "300", "--seed", "4"}, codec.FormatText, 300},
		{"json", []string{"--format", "json", "--count", "200"}, codec.FormatJSON, 200},
		{"rate", []string{"--count", "50", "--rate", "2000/s"}, codec.FormatText, 50},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errs := runGen(t, tt.args...)
			if code != exitOK {
				t.Fatalf("exit %d: %s", code, errs)
			}
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			if len(lines) != tt.lines {
				t.Fatalf("%d lines, want %d", len(lines), tt.lines)
			}
			var f codec.Flow
			for i, l := range lines {
				if err := codec.Decode([]byte(l), &f); err != nil {
					t.Fatalf("line %d: %v\n%s", i+1, err, l)
				}
				if f.Format() != tt.format {
					t.Fatalf("line %d is %v, want %v", i+1, f.Format(), tt.format)
				}
			}
			if !strings.Contains(errs, "records to stdout") {
				t.Errorf("no summary on stderr: %q", errs)
			}
		})
	}
}

func TestGenDeterministic(t *testing.T) {
	_, a, _ := runGen(t, "--count", "100", "--seed", "9")
	_, b, _ := runGen(t, "--count", "100", "--seed", "9")
	_, c, _ := runGen(t, "--count", "100", "--seed", "10")
	if a != b {
		t.Error("same seed, different output")
	}
	if a == c {
		t.Error("different seeds, same output")
	}
}

func TestGenRateIsHonoured(t *testing.T) {
	start := time.Now()
	code, _, errs := runGen(t, "--count", "40", "--rate", "200/s")
	if code != exitOK {
		t.Fatal(errs)
	}
	// 40 records at 200/s take about 0.2 s; allow for a slow machine.
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Errorf("40 records at 200/s took %v", d)
	}
}

func TestGenThreatIPsFile(t *testing.T) {
	feed := filepath.Join(t.TempDir(), "feed.txt")
	if err := os.WriteFile(feed, []byte("# test feed\n192.0.2.77\n192.0.2.128/25 # a range\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errs := runGen(t, "--count", "1000", "--threat-ips", feed, "--threat-ratio", "0.1")
	if code != exitOK {
		t.Fatal(errs)
	}
	if n := strings.Count(out, " 192.0.2.77 ") + strings.Count(out, " 192.0.2.129 "); n < 50 {
		t.Errorf("%d flows to the feed's addresses in 1000 at ratio 0.1", n)
	}
	if strings.Contains(out, " 198.51.100.23 ") || strings.Contains(out, " 203.0.113.66 ") {
		t.Error("default threat IPs used although a feed was given")
	}
}

func TestGenUsageErrors(t *testing.T) {
	feed := filepath.Join(t.TempDir(), "bad.txt")
	if err := os.WriteFile(feed, []byte("10.0.0.1\nnot-an-ip\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		args []string
		code int
		msg  string
	}{
		{[]string{"--format", "xml"}, exitUsage, "--format"},
		{[]string{"--count", "-1"}, exitUsage, "--count"},
		{[]string{"--rate", "fast"}, exitUsage, "--rate"},
		{[]string{"--nope"}, exitUsage, "nope"},
		{[]string{"extra"}, exitUsage, "unexpected argument"},
		{[]string{"--brokers", " , "}, exitUsage, "names no broker"},
		{[]string{"--brokers", "localhost:9092", "--topic", ""}, exitUsage, "--topic"},
		{[]string{"--threat-ratio", "2"}, exitUsage, "--threat-ratio"},
		{[]string{"--threat-ips", feed}, exitFailure, "bad.txt:2"},
		{[]string{"--threat-ips", filepath.Join(t.TempDir(), "missing")}, exitFailure, "threat IPs"},
	}
	for _, tt := range tests {
		code, _, errs := runGen(t, tt.args...)
		if code != tt.code || !strings.Contains(errs, tt.msg) {
			t.Errorf("%v: exit %d stderr %q, want exit %d mentioning %q", tt.args, code, errs, tt.code, tt.msg)
		}
	}
}

func TestGenKafka(t *testing.T) {
	const topic = "flows.raw"
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(3, topic))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	addr := c.ListenAddrs()[0]

	code, _, errs := runGen(t, "--brokers", addr, "--topic", topic, "--count", "500", "--format", "json", "--seed", "2")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errs)
	}
	if !strings.Contains(errs, "500 json records to topic "+topic) {
		t.Errorf("summary %q", errs)
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var got [][]byte
	for len(got) < 500 {
		fetches := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			t.Fatalf("read %d of 500 records: %v", len(got), err)
		}
		fetches.EachError(func(_ string, _ int32, err error) { t.Fatalf("fetch: %v", err) })
		fetches.EachRecord(func(r *kgo.Record) { got = append(got, r.Value) })
	}
	// The same seed on stdout gives the same records (order across
	// partitions aside).
	_, want, _ := runGen(t, "--count", "500", "--format", "json", "--seed", "2")
	wantSet := map[string]int{}
	for _, l := range strings.Split(strings.TrimSuffix(want, "\n"), "\n") {
		wantSet[l]++
	}
	var f codec.Flow
	for _, v := range got {
		if err := codec.DecodeJSON(v, &f); err != nil {
			t.Fatalf("record does not decode: %v", err)
		}
		if wantSet[string(v)] == 0 {
			t.Fatalf("unexpected record %s", v)
		}
		wantSet[string(v)]--
	}
}

func TestGenKafkaUnreachable(t *testing.T) {
	start := time.Now()
	code, _, errs := runGen(t, "--brokers", "127.0.0.1:1", "--count", "10", "--connect-timeout", "2s")
	if code != exitFailure {
		t.Fatalf("exit %d, want %d: %s", code, exitFailure, errs)
	}
	if !strings.Contains(errs, "cannot reach Kafka brokers 127.0.0.1:1 within 2s") {
		t.Errorf("stderr %q", errs)
	}
	if d := time.Since(start); d > 15*time.Second {
		t.Errorf("gave up after %v, want about 2s", d)
	}
}

// The generator's default threat addresses must be in the sample feed, or
// `make demo` would flag nothing.
func TestGenDefaultThreatIPsInSampleFeed(t *testing.T) {
	path := filepath.Join("..", "..", "config", "feeds", "c2-sample.txt")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("sample feed: %v", err)
	}
	var prefixes []netip.Prefix
	for _, line := range strings.Split(string(b), "\n") {
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		if line = strings.TrimSpace(line); line == "" {
			continue
		}
		if !strings.Contains(line, "/") {
			line += "/32"
			if strings.Contains(line, ":") {
				line = strings.TrimSuffix(line, "/32") + "/128"
			}
		}
		p, err := netip.ParsePrefix(line)
		if err != nil {
			t.Fatalf("%s: %q: %v", path, line, err)
		}
		prefixes = append(prefixes, p.Masked())
	}
	for _, a := range flowgen.DefaultThreatIPs {
		found := false
		for _, p := range prefixes {
			found = found || p.Contains(a)
		}
		if !found {
			t.Errorf("default threat IP %v is not in %s", a, path)
		}
	}
}

// --count 0 runs until the context ends (SIGINT/SIGTERM in main), then
// flushes what it wrote and exits 0.
func TestGenUntilInterrupted(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	var out, errb bytes.Buffer
	start := time.Now()
	code := genCmd(ctx, []string{"--count", "0", "--rate", "1000/s"}, &out, &errb)
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errb.String())
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("stopped %v after the context ended", d)
	}
	n := strings.Count(out.String(), "\n")
	if n < 50 || n > 600 {
		t.Errorf("%d records in 0.3 s at 1000/s", n)
	}
	if !strings.HasSuffix(out.String(), "\n") {
		t.Error("last record cut short")
	}
}
