package feeds

import (
	"context"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// feedServer is a real HTTP server serving feed bodies, with switches for
// the ways a feed server fails.
type feedServer struct {
	*httptest.Server
	mu      sync.Mutex
	bodies  map[string]string
	mode    string // "", "500", "slow", "truncated", "oversize-length"
	headers []http.Header
	hits    atomic.Int64
}

func newFeedServer(t *testing.T, tls bool) *feedServer {
	fs := &feedServer{bodies: map[string]string{}}
	h := http.HandlerFunc(fs.serve)
	if tls {
		fs.Server = httptest.NewTLSServer(h)
	} else {
		fs.Server = httptest.NewServer(h)
	}
	t.Cleanup(fs.Close)
	return fs
}

func (fs *feedServer) set(path, body string) {
	fs.mu.Lock()
	fs.bodies[path] = body
	fs.mu.Unlock()
}

func (fs *feedServer) setMode(m string) {
	fs.mu.Lock()
	fs.mode = m
	fs.mu.Unlock()
}

func (fs *feedServer) serve(w http.ResponseWriter, r *http.Request) {
	fs.hits.Add(1)
	fs.mu.Lock()
	fs.headers = append(fs.headers, r.Header.Clone())
	body, ok := fs.bodies[r.URL.Path]
	mode := fs.mode
	fs.mu.Unlock()
	switch mode {
	case "500":
		http.Error(w, "internal error; your key was "+r.Header.Get("Apikey"), http.StatusInternalServerError)
		return
	case "slow":
		time.Sleep(500 * time.Millisecond)
	case "truncated":
		w.Header().Set("Content-Length", strconv.Itoa(len(body)+100))
		_, _ = w.Write([]byte(body))
		return // the server closes the connection short of the length
	}
	if !ok {
		http.NotFound(w, r)
		return
	}
	etag := fmt.Sprintf(`"%x"`, len(body)*7919+int(body[0]))
	w.Header().Set("ETag", etag)
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return
	}
	_, _ = w.Write([]byte(body))
}

func (fs *feedServer) lastHeader() http.Header {
	fs.mu.Lock()
	defer fs.mu.Unlock()
	return fs.headers[len(fs.headers)-1]
}

func spec(name, url string, c Content, f Format) *Spec {
	return &Spec{Name: name, URL: url, Content: c, Format: f, Period: DefaultPeriod}
}

func pullOnce(m *Manager, name string) error {
	m.mu.Lock()
	p := m.feeds[name]
	m.mu.Unlock()
	return m.pull(context.Background(), p)
}

func status(t *testing.T, m *Manager, name string) Status {
	t.Helper()
	for _, s := range m.Status() {
		if s.Name == name {
			return s
		}
	}
	t.Fatalf("no status for %s", name)
	return Status{}
}

func mustManager(t *testing.T, o Options) *Manager {
	t.Helper()
	m, err := NewManager(o)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

const ipBody = "# test feed\n198.51.100.7\n203.0.113.0/24\n"

func TestPullFormats(t *testing.T) {
	fs := newFeedServer(t, false)
	fs.set("/ips.txt", ipBody)
	fs.set("/ips.json", `{"data": {"ips": ["198.51.100.7", "203.0.113.0/24"]}}`)
	fs.set("/ips.csv", "ip,score\n198.51.100.7,9\n203.0.113.0/24,3\n")
	fs.set("/domains.txt", "evil.example\nc2.test.\n")
	m := mustManager(t, Options{})
	for _, tc := range []struct {
		path string
		f    Format
	}{
		{"/ips.txt", Format{}},
		{"/ips.json", Format{Kind: JSON, JSONPath: "$.data.ips"}},
		{"/ips.csv", Format{Kind: CSV, CSV: CSVFormat{FieldNum: 0, Header: true}}},
	} {
		tb, err := m.Table(context.Background(), spec("f"+strings.ReplaceAll(tc.path, ".", "-")[1:], fs.URL+tc.path, IPSet, tc.f), false)
		if err != nil {
			t.Fatalf("%s: %v", tc.path, err)
		}
		if tb.Entries != 2 || !tb.ContainsAddr(netip.MustParseAddr("203.0.113.9")) {
			t.Errorf("%s: %d entries", tc.path, tb.Entries)
		}
	}
	tb, err := m.Table(context.Background(), spec("d", fs.URL+"/domains.txt", DomainNameSet, Format{}), false)
	if err != nil {
		t.Fatal(err)
	}
	if !tb.Domains.Contains("x.C2.test") || tb.Domains.Contains("test") {
		t.Error("domain set wrong")
	}
}

func TestPullTLS(t *testing.T) {
	fs := newFeedServer(t, true)
	fs.set("/ips.txt", ipBody)
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: fs.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	m := mustManager(t, Options{CAFile: ca})
	if tb, err := m.Table(context.Background(), spec("f", fs.URL+"/ips.txt", IPSet, Format{}), false); err != nil || tb.Entries != 2 {
		t.Fatalf("with the CA: %v", err)
	}
	// Without it the server's certificate is not trusted.
	m = mustManager(t, Options{})
	_, err := m.Table(context.Background(), spec("f", fs.URL+"/ips.txt", IPSet, Format{}), false)
	if err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("without the CA: %v", err)
	}
	if got := status(t, m, "f"); got.LastResult != ResultNetwork || got.ConsecutiveFailures != 1 {
		t.Errorf("%+v", got)
	}
}

func TestPullHeadersAndSecrets(t *testing.T) {
	const secret, fromEnv = "s3cr3t-api-key", "cfg-value-from-env"
	fs := newFeedServer(t, false)
	fs.set("/ips.txt", ipBody)
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "gtf-keys"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "gtf-keys", "apikey"), []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	core, logs := observer.New(zap.DebugLevel)
	env := map[string]string{"FEED_CONFIGMAP_FEED_SETTINGS_TENANT": fromEnv}
	m := mustManager(t, Options{SecretsDir: dir, Logger: zap.New(core), Getenv: func(k string) string { return env[k] }})
	s := spec("f", fs.URL+"/ips.txt?token=query-secret", IPSet, Format{})
	s.Headers = []Header{
		{Name: "Accept", Value: "text/plain"},
		{Name: "APIKey", From: &KeyRef{Secret: true, Name: "gtf-keys", Key: "apikey"}},
		{Name: "X-Tenant", From: &KeyRef{Name: "feed-settings", Key: "tenant"}},
		{Name: "X-Optional", From: &KeyRef{Secret: true, Name: "gtf-keys", Key: "absent", Optional: true}},
	}
	if _, err := m.Table(context.Background(), s, false); err != nil {
		t.Fatal(err)
	}
	h := fs.lastHeader()
	if h.Get("Accept") != "text/plain" || h.Get("Apikey") != secret || h.Get("X-Tenant") != fromEnv || h.Values("X-Optional") != nil {
		t.Errorf("headers sent: %v", h)
	}
	// A failing pull: the server's error page echoes the key.
	fs.setMode("500")
	if err := pullOnce(m, "f"); err == nil || strings.Contains(err.Error(), secret) {
		t.Fatalf("pull error %v", err)
	}
	// A missing secret fails the pull, saying where it looked.
	s2 := spec("g", fs.URL+"/ips.txt", IPSet, Format{})
	s2.Headers = []Header{{Name: "APIKey", From: &KeyRef{Secret: true, Name: "gtf-keys", Key: "nope"}}}
	fs.setMode("")
	_, err := m.Table(context.Background(), s2, false)
	want := "header APIKey: secret gtf-keys key nope not found (looked in " + filepath.Join(dir, "gtf-keys", "nope") + " and $FEED_SECRET_GTF_KEYS_NOPE)"
	if err == nil || err.Error() != want {
		t.Errorf("missing secret: %v\nwant %s", err, want)
	}
	for _, e := range logs.All() {
		line := e.Message + fmt.Sprint(e.ContextMap())
		for _, leak := range []string{secret, fromEnv, "query-secret"} {
			if strings.Contains(line, leak) {
				t.Errorf("log line leaks %q: %s", leak, line)
			}
		}
	}
	for _, st := range m.Status() {
		if strings.Contains(fmt.Sprintf("%+v", st), "query-secret") || strings.Contains(st.LastError, secret) {
			t.Errorf("status leaks: %+v", st)
		}
	}
}

func TestPullNotModified(t *testing.T) {
	fs := newFeedServer(t, false)
	fs.set("/ips.txt", ipBody)
	m := mustManager(t, Options{})
	t1, err := m.Table(context.Background(), spec("f", fs.URL+"/ips.txt", IPSet, Format{}), false)
	if err != nil {
		t.Fatal(err)
	}
	if err := pullOnce(m, "f"); err != nil {
		t.Fatal(err)
	}
	if h := fs.lastHeader(); h.Get("If-None-Match") == "" {
		t.Errorf("no conditional request: %v", h)
	}
	st := status(t, m, "f")
	if st.LastResult != ResultNotModified || st.Pulls[ResultNotModified] != 1 || st.BytesFetched != int64(len(ipBody)) {
		t.Errorf("%+v", st)
	}
	t2, _ := m.Table(context.Background(), spec("f", fs.URL+"/ips.txt", IPSet, Format{}), false)
	if t1 != t2 {
		t.Error("a 304 replaced the table")
	}
}

func TestPullFailuresKeepLastGood(t *testing.T) {
	fs := newFeedServer(t, false)
	fs.set("/ips.txt", ipBody)
	m := mustManager(t, Options{Timeout: 200 * time.Millisecond, MaxBytes: 1000})
	good, err := m.Table(context.Background(), spec("f", fs.URL+"/ips.txt", IPSet, Format{}), false)
	if err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		mode, body, class string
	}{
		{"500", ipBody, ResultHTTPStatus},
		{"slow", ipBody, ResultTimeout},
		{"truncated", ipBody, ResultTruncated},
		{"", strings.Repeat("198.51.100.1\n", 100), ResultTooLarge},
		{"", "198.51.100.9\n<html>not a feed</html>\n", ResultParse},
		{"", "", ResultHTTPStatus}, // 404: the path is gone
	}
	for i, st := range steps {
		fs.setMode(st.mode)
		if st.body != "" {
			fs.set("/ips.txt", st.body)
		} else {
			fs.mu.Lock()
			delete(fs.bodies, "/ips.txt")
			fs.mu.Unlock()
		}
		err := pullOnce(m, "f")
		s := status(t, m, "f")
		if err == nil || s.LastResult != st.class || s.ConsecutiveFailures != i+1 || s.Pulls[st.class] == 0 {
			t.Errorf("step %d (%s): err %v, status %+v", i, st.class, err, s)
		}
		tb, _ := m.Table(context.Background(), spec("f", fs.URL+"/ips.txt", IPSet, Format{}), false)
		if tb != good {
			t.Fatalf("step %d (%s): the table changed", i, st.class)
		}
	}
	fs.setMode("")
	fs.set("/ips.txt", "192.0.2.1\n")
	if err := pullOnce(m, "f"); err != nil {
		t.Fatal(err)
	}
	if s := status(t, m, "f"); s.ConsecutiveFailures != 0 || s.LastResult != ResultUpdated || s.Entries != 1 {
		t.Errorf("after recovery %+v", s)
	}
}

func TestRestartServesCache(t *testing.T) {
	fs := newFeedServer(t, false)
	fs.set("/ips.txt", ipBody)
	dir := t.TempDir()
	s := spec("f", fs.URL+"/ips.txt", IPSet, Format{})
	m := mustManager(t, Options{CacheDir: dir})
	if _, err := m.Table(context.Background(), s, false); err != nil {
		t.Fatal(err)
	}
	fs.Close()
	for _, bg := range []bool{false, true} {
		m2 := mustManager(t, Options{CacheDir: dir, Background: bg, Timeout: time.Second})
		tb, err := m2.Table(context.Background(), s, false)
		if err != nil {
			t.Fatalf("background %v: %v", bg, err)
		}
		if tb.Entries != 2 || !tb.ContainsAddr(netip.MustParseAddr("198.51.100.7")) {
			t.Errorf("background %v: %d entries from the cache", bg, tb.Entries)
		}
		if st := status(t, m2, "f"); st.DataTime.IsZero() || st.Pulls[ResultCached] != 1 {
			t.Errorf("background %v: %+v", bg, st)
		}
	}
	// Another URL: the cache is not that feed's any more.
	m3 := mustManager(t, Options{CacheDir: dir, Timeout: time.Second})
	if _, err := m3.Table(context.Background(), spec("f", fs.URL+"/other.txt", IPSet, Format{}), false); err == nil {
		t.Error("a cache of another URL served")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != "f.feed" {
		t.Errorf("cache dir holds %v (a temporary file left?)", entries)
	}
}

func TestBackgroundPullsAndBacksOff(t *testing.T) {
	fs := newFeedServer(t, false)
	fs.set("/ips.txt", ipBody)
	m := mustManager(t, Options{Background: true, minBackoff: 20 * time.Millisecond})
	s := spec("f", fs.URL+"/ips.txt", IPSet, Format{})
	tb, err := m.Table(context.Background(), s, false)
	if err != nil || tb.Entries != 0 {
		t.Fatalf("before Run: %v, %d entries", err, tb.Entries)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()
	select {
	case <-m.Updates():
	case <-time.After(5 * time.Second):
		t.Fatal("no update after the first pull")
	}
	wctx, wcancel := context.WithTimeout(context.Background(), 5*time.Second)
	m.WaitFirst(wctx)
	wcancel()
	if tb, _ := m.Table(context.Background(), s, false); tb.Entries != 2 {
		t.Fatalf("%d entries after the first pull", tb.Entries)
	}
	// Failing: retried at back-off pace (20ms, 40ms, 80ms...), not once a day.
	fs.setMode("500")
	before := fs.hits.Load()
	m.PullNow("f")
	deadline := time.Now().Add(5 * time.Second)
	for fs.hits.Load() < before+4 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if st := status(t, m, "f"); st.ConsecutiveFailures < 3 || st.Entries != 2 {
		t.Errorf("%+v", st)
	}
	// Retain drops a feed the rules no longer use; its loop stops.
	m.Retain(nil)
	if len(m.Status()) != 0 {
		t.Error("retained")
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"https://user:pw@feeds.example/x.txt?key=1#f": "https://feeds.example/x.txt?…",
		"http://feeds.example/x.txt":                  "http://feeds.example/x.txt",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q", in, got)
		}
	}
}

// TestRedirectDropsHeadersAcrossHosts: a feed server redirecting to
// another host does not get the feed's API key sent there.
func TestRedirectDropsHeadersAcrossHosts(t *testing.T) {
	other := newFeedServer(t, false)
	other.set("/ips.txt", ipBody)
	redir := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/same" {
			http.Redirect(w, r, "/final", http.StatusFound)
			return
		}
		if r.URL.Path == "/final" {
			if r.Header.Get("Apikey") != "k" {
				http.Error(w, "no key", http.StatusForbidden)
				return
			}
			_, _ = w.Write([]byte(ipBody))
			return
		}
		http.Redirect(w, r, other.URL+"/ips.txt", http.StatusFound)
	}))
	defer redir.Close()
	m := mustManager(t, Options{})
	s := spec("f", redir.URL+"/away", IPSet, Format{})
	s.Headers = []Header{{Name: "APIKey", Value: "k"}, {Name: "Accept", Value: "text/plain"}}
	if _, err := m.Table(context.Background(), s, false); err != nil {
		t.Fatal(err)
	}
	if h := other.lastHeader(); h.Get("Apikey") != "" || h.Get("Accept") != "" {
		t.Errorf("the other host got the feed's headers: %v", h)
	}
	s2 := spec("g", redir.URL+"/same", IPSet, Format{})
	s2.Headers = []Header{{Name: "APIKey", Value: "k"}}
	if tb, err := m.Table(context.Background(), s2, false); err != nil || tb.Entries != 2 {
		t.Errorf("a redirect on the same host lost the header: %v", err)
	}
}
