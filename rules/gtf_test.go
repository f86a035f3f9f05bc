package rules

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowsieve/flowsieve/codec"
	"github.com/flowsieve/flowsieve/rules/feeds"
)

// feedHTTP serves feed bodies that a test changes.
type feedHTTP struct {
	*httptest.Server
	mu     sync.Mutex
	bodies map[string]string
}

func newFeedHTTP(t *testing.T, bodies map[string]string) *feedHTTP {
	f := &feedHTTP{bodies: bodies}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		b, ok := f.bodies[r.URL.Path]
		f.mu.Unlock()
		if !ok {
			http.NotFound(w, r)
			return
		}
		_, _ = w.Write([]byte(b))
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *feedHTTP) set(path, body string) {
	f.mu.Lock()
	f.bodies[path] = body
	f.mu.Unlock()
}

// gtfRules writes the Tigera sample manifest (its URL pointed at srv), a
// DomainNameSet manifest and a rule file using both; it returns the rule
// file.
func gtfRules(t *testing.T, srv string) string {
	t.Helper()
	dir := t.TempDir()
	sample, err := os.ReadFile("feeds/testdata/tigera-sample.yaml")
	if err != nil {
		t.Fatal(err)
	}
	m := strings.Replace(string(sample), "https://an.example.threat.feed/deny-list", srv+"/deny-list", 1)
	// The sample's APIKey header comes from a Secret; it is optional here.
	m = strings.Replace(m, `key: "apikey"`, `key: "apikey"`+"\n              optional: true", 1)
	m += `---
apiVersion: projectcalico.org/v3
kind: GlobalThreatFeed
metadata: {name: bad-domains}
spec:
  content: DomainNameSet
  pull:
    http:
      url: ` + srv + `/domains.json
      format: {json: {path: $.domains}}
`
	writeFile(t, filepath.Join(dir, "feeds", "calico.yaml"), m)
	rules := `feeds:
  - globalthreatfeeds: feeds/calico.yaml
threats:
  - name: c2
    severity: critical
    when: {any: [{field: dest_ip, in_feed: sample-global-threat-feed}, {field: source_ip, in_feed: sample-global-threat-feed}]}
  - name: c2-src
    severity: high
    when: {field: source_ip, in_feed: sample-global-threat-feed}
  - name: bad-domain
    severity: high
    when: {field: dest_domains, in_feed: bad-domains}
`
	path := filepath.Join(dir, "rules.yaml")
	writeFile(t, path, rules)
	return path
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

const domainFeed = `{"domains": ["evil.example", "C2.Test."]}`

func TestGlobalThreatFeedsImportAndJudge(t *testing.T) {
	srv := newFeedHTTP(t, map[string]string{"/deny-list": "198.51.100.0/24\n", "/domains.json": domainFeed})
	s, err := LoadFileContext(context.Background(), gtfRules(t, srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	fi := s.Feeds()
	if len(fi) != 2 || fi[0].Name != "sample-global-threat-feed" || fi[0].Entries != 1 || fi[0].Period != 24*time.Hour ||
		fi[0].Format != "newlineDelimited" || fi[0].Source != srv.URL+"/deny-list" ||
		fi[1].Content != "DomainNameSet" || fi[1].Entries != 2 || fi[1].Format != "json (path $.domains)" {
		t.Errorf("%+v", fi)
	}
	var v Verdict
	s.Judge(decode(t, `{"source_ip":"10.0.0.1","dest_ip":"198.51.100.9","dest_domains":["www.EVIL.example."]}`), &v)
	var names []string
	for _, h := range v.Threats {
		names = append(names, s.ThreatRules()[h.Rule].Name+"/"+h.Feed+"/"+h.Field.String())
	}
	if got := strings.Join(names, " "); got != "c2/sample-global-threat-feed/dest_ip bad-domain/bad-domains/dest_domains" {
		t.Errorf("hits %s", got)
	}
	s.Judge(decode(t, `{"dest_ip":"10.0.0.1","dest_domains":["notevil.example","example"]}`), &v)
	if v.Flagged() {
		t.Errorf("flagged: %+v", v.Threats)
	}
	if n := testing.AllocsPerRun(200, func() {
		s.Judge(decode2, &v)
	}); n != 0 {
		t.Errorf("judging allocates %v", n)
	}
}

var decode2 = func() *codec.Flow {
	f := new(codec.Flow)
	if err := codec.Decode([]byte(`{"source_ip":"10.0.0.1","dest_ip":"198.51.100.9","dest_domains":["a.b","www.c2.test"]}`), f); err != nil {
		panic(err)
	}
	return f
}()

func TestGlobalThreatFeedsErrors(t *testing.T) {
	srv := newFeedHTTP(t, map[string]string{"/deny-list": "198.51.100.0/24\nnot-an-ip\n"})
	dir := t.TempDir()
	writeFile(t, filepath.Join(dir, "m.yaml"), `apiVersion: projectcalico.org/v3
kind: GlobalThreatFeed
metadata: {name: f}
spec: {pull: {http: {url: '`+srv.URL+`/deny-list'}}}
---
apiVersion: projectcalico.org/v3
kind: GlobalThreatFeed
metadata: {name: off}
spec: {mode: Disabled}
`)
	writeFile(t, filepath.Join(dir, "bad.yaml"), "apiVersion: projectcalico.org/v3\nkind: GlobalThreatFeed\nmetadata: {name: g}\nspec: {content: IPs}\n")
	writeFile(t, filepath.Join(dir, "rules.yaml"), `feeds:
  - {globalthreatfeeds: m.yaml, name: x}
  - {globalthreatfeeds: bad.yaml}
threats:
  - {name: t, severity: low, when: {field: dest_ip, in_feed: f}}
  - {name: u, severity: low, when: {field: dest_port, in_feed: off}}
`)
	_, err := LoadFile(filepath.Join(dir, "rules.yaml"))
	want := []string{
		`rules.yaml:2:39: name does not go with globalthreatfeeds (each feed's name is its metadata.name)`,
		`rules.yaml:2:25: feed "f" (m.yaml:1): ` + srv.URL + `/deny-list:2: feed "f": "not-"… (9 bytes): not an IP address or CIDR (unable to parse IP)`,
		`rules.yaml:3:25: BAD:4:17: globalthreatfeed "g": spec.content "IPs" is not one of IPSet, DomainNameSet`,
		`rules.yaml:3:25: BAD:4:7: globalthreatfeed "g": missing spec.pull: flowsieve pulls feeds over HTTP; a push feed (written into Elasticsearch) cannot reach it`,
		`rules.yaml:6:64: rule "u": dest_port does not hold IP addresses`,
	}
	var got []string
	for _, e := range Errors(err) {
		msg := strings.ReplaceAll(e.Error(), filepath.Join(dir, "bad.yaml"), "BAD")
		got = append(got, strings.TrimPrefix(msg, dir+"/"))
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestFeedSwapUnderLoad: judging goroutines run while pulled feed data
// changes under them; two rules test the same feed, so a record judged
// half with the old data and half with the new would hit one rule and
// not the other.
func TestFeedSwapUnderLoad(t *testing.T) {
	srv := newFeedHTTP(t, map[string]string{"/deny-list": "198.51.100.9\n", "/domains.json": domainFeed})
	fm, err := feeds.NewManager(feeds.Options{Background: true})
	if err != nil {
		t.Fatal(err)
	}
	w, err := NewWatcher(gtfRules(t, srv.URL), WatcherOptions{Feeds: fm})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); fm.Run(ctx) }()
	go func() { defer wg.Done(); _ = w.Run(ctx) }()
	defer func() { cancel(); wg.Wait() }()

	// Records from and to one address: c2 and c2-src both hit, or neither.
	a := decode(t, `{"source_ip":"198.51.100.9","dest_ip":"198.51.100.9"}`)
	b := decode(t, `{"source_ip":"203.0.113.5","dest_ip":"203.0.113.5"}`)
	var stop atomic.Bool
	var judged, mixed atomic.Int64
	var jg sync.WaitGroup
	for range 4 {
		jg.Add(1)
		go func() {
			defer jg.Done()
			var v Verdict
			for !stop.Load() {
				for _, f := range []*codec.Flow{a, b} {
					w.Current().Judge(f, &v)
					if n := len(v.Threats); n != 0 && n != 2 {
						mixed.Add(1)
					}
					judged.Add(1)
				}
			}
		}()
	}
	versions := map[string]bool{}
	for i := range 20 {
		body := "198.51.100.9\n"
		if i%2 == 0 {
			body = "203.0.113.5\n"
		}
		srv.set("/deny-list", body)
		fm.PullNow("sample-global-threat-feed")
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			var v Verdict
			w.Current().Judge(a, &v)
			if (len(v.Threats) == 0) == (i%2 == 0) {
				break
			}
			time.Sleep(2 * time.Millisecond)
		}
		versions[w.Current().Version()] = true
	}
	stop.Store(true)
	jg.Wait()
	if mixed.Load() != 0 {
		t.Errorf("%d of %d records judged with a mix of feed versions", mixed.Load(), judged.Load())
	}
	if len(versions) < 2 {
		t.Errorf("%d rule versions seen, want one per feed content", len(versions))
	}
}
