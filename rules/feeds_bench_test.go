package rules

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/flowsieve/flowsieve/rules/feeds"
)

// bigFeeds serves a 1,000,000-entry IPSet feed (random IPv4 hosts and
// /24s) and a 1,000,000-name DomainNameSet feed (three to five labels under
// a few hundred registrable domains), and writes rule files pulling them:
// DIR/ips.yaml, DIR/domains.yaml and DIR/both.yaml.
func bigFeeds(b *testing.B) string {
	b.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	var ips, names strings.Builder
	for i := range 1_000_000 {
		if i%10 == 0 {
			fmt.Fprintf(&ips, "%d.%d.%d.0/24\n", rng.IntN(223)+1, rng.IntN(256), rng.IntN(256))
		} else {
			fmt.Fprintf(&ips, "%d.%d.%d.%d\n", rng.IntN(223)+1, rng.IntN(256), rng.IntN(256), rng.IntN(256))
		}
		switch i % 3 {
		case 0:
			fmt.Fprintf(&names, "x%07d.bad%d.example\n", i, i%300)
		case 1:
			fmt.Fprintf(&names, "cdn-%d.x%07d.bad%d.example\n", i%17, i, i%300)
		default:
			fmt.Fprintf(&names, "a.b%d.x%07d.evil%d.test\n", i%5, i, i%200)
		}
	}
	bodies := map[string]string{"/ips.txt": ips.String(), "/domains.txt": names.String()}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, bodies[r.URL.Path])
	}))
	b.Cleanup(srv.Close)
	dir := b.TempDir()
	manifest := func(name, content, path string) string {
		return "apiVersion: projectcalico.org/v3\nkind: GlobalThreatFeed\nmetadata: {name: " + name + "}\n" +
			"spec: {content: " + content + ", pull: {period: 1h, http: {url: '" + srv.URL + path + "'}}}\n"
	}
	_ = os.WriteFile(filepath.Join(dir, "feeds.yaml"), []byte(manifest("ips", "IPSet", "/ips.txt")+"---\n"+manifest("domains", "DomainNameSet", "/domains.txt")), 0o644)
	rules := map[string]string{
		"both": `feeds:
  - globalthreatfeeds: feeds.yaml
threats:
  - {name: c2, severity: critical, when: {any: [{field: dest_ip, in_feed: ips}, {field: source_ip, in_feed: ips}]}}
  - {name: bad-domain, severity: high, when: {field: dest_domains, in_feed: domains}}
`,
		"ips":     "feeds:\n  - globalthreatfeeds: gtf-ips.yaml\nthreats:\n  - {name: c2, severity: critical, when: {field: dest_ip, in_feed: ips}}\n",
		"domains": "feeds:\n  - globalthreatfeeds: gtf-domains.yaml\nthreats:\n  - {name: d, severity: high, when: {field: dest_domains, in_feed: domains}}\n",
	}
	_ = os.WriteFile(filepath.Join(dir, "gtf-ips.yaml"), []byte(manifest("ips", "IPSet", "/ips.txt")), 0o644)
	_ = os.WriteFile(filepath.Join(dir, "gtf-domains.yaml"), []byte(manifest("domains", "DomainNameSet", "/domains.txt")), 0o644)
	for name, r := range rules {
		_ = os.WriteFile(filepath.Join(dir, name+".yaml"), []byte(r), 0o644)
	}
	return dir
}

func heapInUse() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// BenchmarkLoadPulledFeeds1M: one load of a rule file pulling a 1M-entry
// IP feed and a 1M-name domain feed from a local server (what rules check
// and filter do; run does it in the background): fetch, parse, build,
// compile. MB-retained is the heap the loaded Set keeps.
func BenchmarkLoadPulledFeeds1M(b *testing.B) {
	dir := bigFeeds(b)
	for _, which := range []string{"ips", "domains"} {
		b.Run(which, func(b *testing.B) {
			b.ReportAllocs()
			var retained uint64
			for b.Loop() {
				before := heapInUse()
				s, err := LoadFileContext(context.Background(), filepath.Join(dir, which+".yaml"))
				if err != nil {
					b.Fatal(err)
				}
				retained = heapInUse() - before
				runtime.KeepAlive(s)
			}
			b.ReportMetric(float64(retained)/(1<<20), "MB-retained")
		})
	}
}

// BenchmarkJudgePulledFeeds1M: the two threat rules on the 1M-entry feeds,
// on JSON records with three dest_domains each (none listed, so every
// suffix of every name is looked up) and addresses (a tenth listed).
func BenchmarkJudgePulledFeeds1M(b *testing.B) {
	s, err := LoadFileContext(context.Background(), filepath.Join(bigFeeds(b), "both.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	recs := []string{
		`{"source_ip":"10.1.2.3","dest_ip":"93.184.216.34","dest_port":443,"proto":"tcp","dest_domains":["www.example.com","api.eu-west-1.service.example.net","cdn.static.example.org"]}`,
		`{"source_ip":"10.1.2.4","dest_ip":"10.9.9.9","dest_port":443,"proto":"tcp","dest_domains":["cdn.x0000003.bad3.example"]}`,
		`{"source_ip":"10.1.2.5","dest_ip":"192.0.2.1","dest_port":53,"proto":"udp","dest_domains":null}`,
	}
	flows := benchFlows(b, recs)
	var v Verdict
	if s.Judge(flows[1], &v); len(v.Threats) != 1 || v.Threats[0].Feed != "domains" {
		b.Fatalf("the listed name: %+v", v.Threats)
	}
	judgeLoop(b, s, flows)
}

// BenchmarkDomainContains: one lookup of a 4-label name that is not
// listed (a probe per label), in sets of growing size: the cost grows with
// the query's labels, and with the set only through cache misses.
func BenchmarkDomainContains(b *testing.B) {
	for _, n := range []int{1_000, 1_000_000} {
		b.Run(fmt.Sprint(n), func(b *testing.B) {
			var body strings.Builder
			for i := range n {
				fmt.Fprintf(&body, "x%07d.bad%d.example\n", i, i%300)
			}
			t, err := feeds.Build(context.Background(), strings.NewReader(body.String()), feeds.DomainNameSet, feeds.Format{}, false, "bench", "d")
			if err != nil {
				b.Fatal(err)
			}
			qs := make([]string, 1024)
			for i := range qs {
				qs[i] = fmt.Sprintf("www.y%07d.bad%d.Example.", i*977%n, i%300)
			}
			b.ReportAllocs()
			i := 0
			cpu0 := processCPU()
			for b.Loop() {
				t.Domains.Contains(qs[i&1023])
				i++
			}
			if cpu := processCPU() - cpu0; cpu > 0 && i > 0 {
				b.ReportMetric(float64(cpu.Nanoseconds())/float64(i), "cpu-ns/op")
			}
		})
	}
}
