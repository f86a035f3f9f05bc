package rules

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

	"github.com/flowsieve/flowsieve/internal/calicoreal"

	"github.com/flowsieve/flowsieve/codec"
)

// benchRules is 5 threat rules and 20 filters of the kinds users write:
// namespace and name matches, regexes, label, port and CIDR tests, byte
// thresholds, and imported fluentd filters.
const benchRules = `
feeds:
  - {name: big, file: big.txt}
threats:
  - name: c2
    severity: critical
    when: {any: [{field: dest_ip, in_feed: big}, {field: source_ip, in_feed: big}]}
  - {name: mining, severity: high, when: {field: dest_port, in: [3333, 4444, 5555, 7777, 14444, 45700]}}
  - name: denied-egress-public
    severity: medium
    when:
      all:
        - {field: action, equals: deny}
        - any:
            - {field: dest_name_aggr, equals: pub}
            - all:
                - {field: dest_ip, absent: false}
                - not: {field: dest_ip, cidr: [10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 127.0.0.0/8, 169.254.0.0/16]}
  - {name: exfil, severity: high, when: {all: [{field: bytes_out, gt: 100MB}, {field: dest_type, equals: net}]}}
  - {name: ssh-out, severity: low, when: {all: [{field: dest_port, equals: 22}, {field: reporter, equals: src}]}}
filters:
  - {name: f01, action: exclude, when: {any: [{field: source_namespace, equals: dev}, {field: dest_namespace, equals: dev}]}}
  - {name: f02, action: exclude, when: {all: [{field: dest_name_aggr, prefix: nginx-internet}, {field: source_name_aggr, equals: pub}]}}
  - {name: f03, action: exclude, when: {field: source_namespace, regex: "^(kube-system|monitoring|logging)$"}}
  - {name: f04, action: exclude, when: {field: dest_name_aggr, regex: "^canary-[a-z0-9]+-\\d+"}}
  - {name: f05, action: exclude, when: {field: dest_port, range: 30000-32767}}
  - {name: f06, action: exclude, when: {field: source_ip, cidr: [100.64.0.0/10, 198.18.0.0/15]}}
  - {name: f07, action: exclude, when: {field: source_labels, label: {app: load-generator}}}
  - {name: f08, action: exclude, when: {field: dest_labels, label: team, regex: "^sandbox"}}
  - {name: f09, action: exclude, when: {all: [{field: proto, equals: udp}, {field: dest_port, equals: 53}, {field: dest_namespace, equals: kube-system}]}}
  - {name: f10, action: exclude, when: {field: process_name, suffix: /healthcheck}}
  - {name: f11, action: exclude, when: {field: bytes_in, lt: 1}}
  - {name: f12, action: exclude, when: {field: source_name_aggr, contains: -cronjob-}}
  - {name: f13, action: exclude, when: {field: dest_service_name, in: [prometheus, alertmanager, grafana]}}
  - {name: f14, action: exclude, when: {field: host, absent: false}}
  - {name: f15, action: exclude, when: {not: {field: reporter, in: [src, dst]}}}
  - {name: f16, action: exclude, when: {key: cluster, equals: staging}}
  - {name: f17, action: exclude, compat: fluentd, when: {any: [{key: source_namespace, regex: "^test"}, {key: dest_namespace, regex: "^test"}]}}
  - {name: f18, action: exclude, compat: fluentd, when: {key: source_labels, regex: "app=batch"}}
  - {name: f19, action: exclude, when: {field: dest_domains, regex: "\\.internal\\.example$"}}
  - {name: f20, action: include, when: {field: action, in: [allow, deny]}}
`

// writeBigFeed writes n entries: mostly random IPv4 hosts, some /24s and
// some IPv6 /64s, in the GlobalThreatFeed format.
func writeBigFeed(tb testing.TB, path string, n int) {
	tb.Helper()
	fh, err := os.Create(path)
	if err != nil {
		tb.Fatal(err)
	}
	w := bufio.NewWriter(fh)
	r := rand.New(rand.NewPCG(1, 2))
	fmt.Fprintln(w, "# generated benchmark feed")
	for i := 0; i < n; i++ {
		switch i % 20 {
		case 0:
			fmt.Fprintf(w, "%d.%d.%d.0/24\n", 1+r.IntN(222), r.IntN(256), r.IntN(256))
		case 1:
			fmt.Fprintf(w, "2001:db8:%x:%x::/64\n", r.IntN(65536), r.IntN(65536))
		default:
			fmt.Fprintf(w, "%d.%d.%d.%d\n", 1+r.IntN(222), r.IntN(256), r.IntN(256), r.IntN(256))
		}
	}
	if err := w.Flush(); err != nil {
		tb.Fatal(err)
	}
	fh.Close()
}

func benchSet(b *testing.B, rulesText string) *Set {
	b.Helper()
	dir := b.TempDir()
	writeBigFeed(b, filepath.Join(dir, "big.txt"), 1_000_000)
	path := filepath.Join(dir, "rules.yaml")
	if err := os.WriteFile(path, []byte(rulesText), 0o644); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	s, err := LoadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	b.Logf("loaded 25 rules + 1,000,000-entry feed in %v", time.Since(start).Round(time.Millisecond))
	runtime.GC() // settle the feed's garbage before the measured loop
	return s
}

// benchFlows decodes records into separate Flows (each keeps its bytes).
func benchFlows(b *testing.B, recs []string) []*codec.Flow {
	b.Helper()
	var out []*codec.Flow
	for _, r := range recs {
		f := new(codec.Flow)
		if err := codec.Decode([]byte(r), f); err != nil {
			continue // felix's test data ends with a truncated line
		}
		out = append(out, f)
	}
	if len(out) == 0 {
		b.Fatal("no records")
	}
	return out
}

var syntheticRecs = []string{
	textRec,
	jsonRec,
	"1528842551 1528842851 wep prod web-7d9f* app=web,team=shop wep prod db-5c4* app=db - 10.4.5.6 6 - 5432 3 1 2 src 154 61 70111 49404 allow",
	"1528842551 1528842851 wep kube-system coredns-5d78* k8s-app=kube-dns net - pub - 10.0.0.10 8.8.8.8 17 - 53 12 12 12 src 24 24 1800 3600 allow",
	`{"source_namespace":"payments","source_name_aggr":"api-6d8f*","source_ip":"10.9.8.7","dest_ip":"93.184.216.34","dest_port":443,"dest_type":"net","dest_name_aggr":"pub","proto":"tcp","action":"deny","reporter":"src","bytes_out":5000,"bytes_in":10}`,
}

// BenchmarkJudge: 20 filters + 5 threat rules + a 1,000,000-entry feed.
// Target ≤ 300 ns/flow, 0 allocs.
func BenchmarkJudge(b *testing.B) {
	s := benchSet(b, benchRules)
	flows := benchFlows(b, syntheticRecs)
	judgeLoop(b, s, flows)
}

// BenchmarkJudgeFelix runs the same rules over the real felix records.
func BenchmarkJudgeFelix(b *testing.B) {
	recs := felixRecords(b)
	s := benchSet(b, benchRules)
	flows := benchFlows(b, recs)
	judgeLoop(b, s, flows)
}

// BenchmarkJudgeFelixSampleRules: the shipped config/rules.yaml on the real
// felix records.
func BenchmarkJudgeFelixSampleRules(b *testing.B) {
	recs := felixRecords(b)
	s, err := LoadFile(filepath.Join("..", "config", "rules.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	flows := benchFlows(b, recs)
	judgeLoop(b, s, flows)
}

// BenchmarkJudgeSampleVsDrop: a sample filter against a drop filter of
// the same condition on the real felix records; the difference is the
// flow hash of each matching flow.
func BenchmarkJudgeSampleVsDrop(b *testing.B) {
	flows := benchFlows(b, felixRecords(b))
	for _, c := range []struct{ name, rules string }{
		{"drop", "filters:\n  - {name: f, action: exclude, when: {field: action, equals: allow}}\n"},
		{"sample", "filters:\n  - {name: f, action: sample, rate: 0.25, when: {field: action, equals: allow}}\n"},
		{"cap", "filters:\n  - {name: f, action: cap, per: source_namespace, max_per_sec: 1e9, when: {field: action, equals: allow}}\n"},
	} {
		s, err := Load([]byte(c.rules), "rules.yaml")
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) { judgeLoop(b, s, flows) })
	}
}

// judgeLoop judges the flows round-robin, one Verdict reused, and reports
// CPU ns/op besides wall ns/op (see processCPU).
func judgeLoop(b *testing.B, s *Set, flows []*codec.Flow) {
	var v Verdict
	b.ReportAllocs()
	i, n := 0, 0
	var cpu0 time.Duration
	for b.Loop() {
		if n == 0 {
			cpu0 = processCPU()
		}
		s.Judge(flows[i], &v)
		i++
		n++
		if i == len(flows) {
			i = 0
		}
	}
	if cpu := processCPU() - cpu0; cpu > 0 && n > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(n), "cpu-ns/op")
	}
}

// BenchmarkLoadFeed1M measures loading and compiling a rule file whose feed
// has 1,000,000 entries (the reload cost).
func BenchmarkLoadFeed1M(b *testing.B) {
	dir := b.TempDir()
	writeBigFeed(b, filepath.Join(dir, "big.txt"), 1_000_000)
	path := filepath.Join(dir, "rules.yaml")
	os.WriteFile(path, []byte(benchRules), 0o644)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := LoadFile(path); err != nil {
			b.Fatal(err)
		}
	}
}

func felixRecords(b *testing.B) []string {
	b.Helper()
	var out []string
	for _, l := range calicoreal.Lines(b, calicoreal.FelixExample) {
		out = append(out, string(l))
	}
	return out
}
