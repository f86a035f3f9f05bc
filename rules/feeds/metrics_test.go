package feeds

import (
	"context"
	"math"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

func TestCollector(t *testing.T) {
	fs := newFeedServer(t, false)
	fs.set("/ips.txt", ipBody)
	m := mustManager(t, Options{})
	if _, err := m.Table(context.Background(), spec("good", fs.URL+"/ips.txt", IPSet, Format{}), false); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Table(context.Background(), spec("gone", fs.URL+"/nope.txt", IPSet, Format{}), false); err == nil {
		t.Fatal("a 404 loaded")
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(m.Collector())
	if err := testutil.GatherAndCompare(reg, strings.NewReader(`
# HELP flowsieve_feed_entries Entries of the threat feed data serving.
# TYPE flowsieve_feed_entries gauge
flowsieve_feed_entries{content="IPSet",feed="gone"} 0
flowsieve_feed_entries{content="IPSet",feed="good"} 2
# HELP flowsieve_feed_consecutive_failures Failed pulls of the feed since its last successful one.
# TYPE flowsieve_feed_consecutive_failures gauge
flowsieve_feed_consecutive_failures{feed="gone"} 1
flowsieve_feed_consecutive_failures{feed="good"} 0
# HELP flowsieve_feed_last_attempt_success 1 if the feed's last pull succeeded, 0 if it failed (the previous data keeps serving).
# TYPE flowsieve_feed_last_attempt_success gauge
flowsieve_feed_last_attempt_success{feed="gone"} 0
flowsieve_feed_last_attempt_success{feed="good"} 1
# HELP flowsieve_feed_fetched_bytes_total Feed body bytes read.
# TYPE flowsieve_feed_fetched_bytes_total counter
flowsieve_feed_fetched_bytes_total{feed="gone"} 0
flowsieve_feed_fetched_bytes_total{feed="good"} 40
# HELP flowsieve_feed_period_seconds How often the threat feed is pulled (spec.pull.period).
# TYPE flowsieve_feed_period_seconds gauge
flowsieve_feed_period_seconds{feed="gone"} 86400
flowsieve_feed_period_seconds{feed="good"} 86400
`), "flowsieve_feed_entries", "flowsieve_feed_consecutive_failures", "flowsieve_feed_last_attempt_success",
		"flowsieve_feed_fetched_bytes_total", "flowsieve_feed_period_seconds"); err != nil {
		t.Error(err)
	}
	fams, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range fams {
		if f.GetName() != "flowsieve_feed_age_seconds" {
			continue
		}
		for _, mt := range f.GetMetric() {
			v := mt.GetGauge().GetValue()
			if feed := mt.GetLabel()[0].GetValue(); (feed == "gone") != math.IsInf(v, 1) || v < 0 {
				t.Errorf("age of %s: %v", feed, v)
			}
		}
	}
}
