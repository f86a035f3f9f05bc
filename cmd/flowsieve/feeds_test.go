package main

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/flowsieve/flowsieve/rules/feeds"
)

func TestStaleFeeds(t *testing.T) {
	now := time.Date(2026, 12, 2, 12, 0, 0, 0, time.UTC)
	st := []feeds.Status{
		{Name: "fresh", Period: time.Hour, DataTime: now.Add(-90 * time.Minute)},
		{Name: "old", Period: time.Hour, DataTime: now.Add(-150 * time.Minute), LastError: "GET http://x/: HTTP 500 Internal Server Error"},
		{Name: "never", Period: 24 * time.Hour, LastError: "GET http://x/: timed out (feeds.timeout)"},
		{Name: "off", Period: time.Hour, Disabled: true},
	}
	want := []string{
		"feed old is stale: data is 2h30m0s old (period 1h); last pull: GET http://x/: HTTP 500 Internal Server Error",
		"feed never is stale: no data yet; last pull: GET http://x/: timed out (feeds.timeout)",
	}
	if got := staleFeeds(st, now); !reflect.DeepEqual(got, want) {
		t.Errorf("got %q\nwant %q", got, want)
	}
}

// TestConfigPrintHasNoFeedSecret: feed header values come from files or
// the environment (FEED_SECRET_*), never from the config, so config print
// cannot show them; the feeds keys it shows name where they are.
func TestConfigPrintHasNoFeedSecret(t *testing.T) {
	const secret = "hdr-s3cr3t-value"
	t.Setenv("FEED_SECRET_GTF_KEYS_APIKEY", secret)
	var out, errOut strings.Builder
	if code := configCmd(context.Background(), []string{"print", "--feeds.secrets_dir=/etc/flowsieve/feed-secrets"}, &out, &errOut); code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut.String())
	}
	if strings.Contains(out.String()+errOut.String(), secret) {
		t.Error("config print shows a feed header secret")
	}
	if !strings.Contains(out.String(), "/etc/flowsieve/feed-secrets") {
		t.Errorf("config print lacks feeds.secrets_dir:\n%s", out.String())
	}
}

// TestFilterAndCheckPullFeeds: rules check and filter pull a
// GlobalThreatFeed once at start, as run does, so a feed can be tried
// offline against records.
func TestFilterAndCheckPullFeeds(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"domains": ["evil.example"]}`))
	}))
	defer srv.Close()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "gtf.yaml"), []byte("apiVersion: projectcalico.org/v3\nkind: GlobalThreatFeed\nmetadata: {name: bad-domains}\n"+
		"spec: {content: DomainNameSet, pull: {period: 1h, http: {url: '"+srv.URL+"/d.json?key=k', format: {json: {path: $.domains}}}}}\n"), 0o644)
	rulesPath := filepath.Join(dir, "rules.yaml")
	os.WriteFile(rulesPath, []byte("feeds:\n  - globalthreatfeeds: gtf.yaml\nthreats:\n  - {name: bad-domain, severity: high, when: {field: dest_domains, in_feed: bad-domains}}\n"), 0o644)

	code, out, _ := runRules(t, "", "check", rulesPath)
	want := "  feed bad-domains: DomainNameSet from " + srv.URL + "/d.json?…, json (path $.domains), pulled every 1h, 1 entries\n"
	if code != exitOK || !strings.Contains(out, want) {
		t.Errorf("rules check: exit %d\n%s\nwant %s", code, out, want)
	}
	threats := filepath.Join(dir, "threats.jsonl")
	rec := `{"dest_ip":"192.0.2.1","dest_domains":["www.EVIL.example"]}` + "\n"
	if code, _, errOut := runFilter(t, rec, "--rules", rulesPath, "--threats-out", threats); code != exitOK {
		t.Fatalf("filter: exit %d: %s", code, errOut)
	}
	if data, _ := os.ReadFile(threats); !strings.Contains(string(data), `"feed":"bad-domains"`) {
		t.Errorf("threats: %s", data)
	}
	srv.Close()
	if code, out, _ := runRules(t, "", "check", rulesPath); code != exitFailure || !strings.Contains(out, `feed "bad-domains" (gtf.yaml:1): GET `+srv.URL+`/d.json?…: `) {
		t.Errorf("rules check with the server down: exit %d\n%s", code, out)
	}
}
