package e2e

import (
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// TestRunPullsFeeds: `flowsieve run` with a GlobalThreatFeed whose server
// fails at first: it starts and is ready, /readyz names the stale feed and
// the metrics count the failures; once the server answers (pulled at once
// on SIGHUP), the feed swaps in, the warning goes, and a flow to a listed
// address is flagged naming the feed.
func TestRunPullsFeeds(t *testing.T) {
	t.Parallel()
	var up atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !up.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		_, _ = io.WriteString(w, "# pulled\n198.51.100.77\n")
	}))
	defer srv.Close()

	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "gtf.yaml"), []byte("apiVersion: projectcalico.org/v3\nkind: GlobalThreatFeed\n"+
		"metadata: {name: pulled-c2}\nspec: {pull: {period: 1h, http: {url: '"+srv.URL+"/c2.txt'}}}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	rulesFile := writeRules(t, dir, "feeds:\n  - globalthreatfeeds: gtf.yaml\nthreats:\n"+
		"  - {name: pulled-c2, severity: critical, when: {field: dest_ip, in_feed: pulled-c2}}\n")
	addr, metricsAddr := embFreeAddr(t), embFreeAddr(t)
	c := startChild(t, "run", "--rules.file", rulesFile, "--embedded.listen", addr,
		"--embedded.data_dir", filepath.Join(dir, "kafka"), "--embedded.partitions", "1",
		"--feeds.cache_dir", filepath.Join(dir, "feeds"), "--metrics.listen", metricsAddr, "--log.format=json")
	cl := embWaitBroker(t, addr)
	defer cl.Close()

	get := func(path string) (int, string) {
		resp, err := http.Get("http://" + metricsAddr + path)
		if err != nil {
			return 0, ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	eventually(t, 30*time.Second, "/readyz ready with a stale-feed warning", func() bool {
		code, body := get("/readyz")
		return code == http.StatusOK && strings.Contains(body, "warning: feed pulled-c2 is stale: no data yet; last pull: GET "+srv.URL+"/c2.txt: HTTP 503")
	})
	if _, m := get("/metrics"); !strings.Contains(m, `flowsieve_feed_pulls_total{feed="pulled-c2",result="http_status"}`) ||
		!strings.Contains(m, `flowsieve_feed_age_seconds{feed="pulled-c2"} +Inf`) {
		t.Errorf("feed metrics:\n%s", grepLines(m, "flowsieve_feed_"))
	}

	up.Store(true)
	if err := c.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the pulled feed serving, no warning", func() bool {
		code, body := get("/readyz")
		_, m := get("/metrics")
		return code == http.StatusOK && !strings.Contains(body, "warning") &&
			strings.Contains(m, `flowsieve_feed_entries{content="IPSet",feed="pulled-c2"} 1`)
	})
	rec := &kgo.Record{Topic: rawTopic, Partition: 0, Key: []byte("k1"),
		Value: []byte(`{"source_namespace":"shop","dest_ip":"198.51.100.77","dest_port":443,"proto":"tcp","action":"allow"}`)}
	if err := cl.ProduceSync(t.Context(), rec).FirstErr(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "the flow flagged by the pulled feed", func() bool {
		_, m := get("/metrics")
		return strings.Contains(m, `flowsieve_flows_flagged_total{rule="pulled-c2",severity="critical"} 1`)
	})
	if err := c.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := c.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("exit %d\n%s", code, c.out.String())
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}
