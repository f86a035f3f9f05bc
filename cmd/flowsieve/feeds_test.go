package main

import (
	"context"
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
