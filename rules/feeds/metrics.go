package feeds

import (
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Collector exports each feed's health (Status) to Prometheus, read at
// scrape time:
//
//	flowsieve_feed_entries{feed,content}                 entries serving
//	flowsieve_feed_age_seconds{feed}                     age of the data serving (+Inf: none yet)
//	flowsieve_feed_period_seconds{feed}                  spec.pull.period
//	flowsieve_feed_last_success_timestamp_seconds{feed}  last pull that got or confirmed data (0: never)
//	flowsieve_feed_last_attempt_timestamp_seconds{feed}  last pull attempt (0: none)
//	flowsieve_feed_last_attempt_success{feed}            1 if the last attempt succeeded
//	flowsieve_feed_consecutive_failures{feed}            failed pulls since the last success
//	flowsieve_feed_fetched_bytes_total{feed}             body bytes read
//	flowsieve_feed_pulls_total{feed,result}              pulls by result (updated, not_modified, cached, or the failure's class)
func (m *Manager) Collector() prometheus.Collector { return collector{m} }

type collector struct{ m *Manager }

var (
	descEntries     = prometheus.NewDesc("flowsieve_feed_entries", "Entries of the threat feed data serving.", []string{"feed", "content"}, nil)
	descAge         = prometheus.NewDesc("flowsieve_feed_age_seconds", "Age of the threat feed data serving: since it was fetched or last confirmed unchanged; +Inf while none serves.", []string{"feed"}, nil)
	descPeriod      = prometheus.NewDesc("flowsieve_feed_period_seconds", "How often the threat feed is pulled (spec.pull.period).", []string{"feed"}, nil)
	descLastSuccess = prometheus.NewDesc("flowsieve_feed_last_success_timestamp_seconds", "When a pull last got or confirmed the feed's data (0: never).", []string{"feed"}, nil)
	descLastAttempt = prometheus.NewDesc("flowsieve_feed_last_attempt_timestamp_seconds", "When the feed was last pulled, successfully or not (0: not yet).", []string{"feed"}, nil)
	descLastOK      = prometheus.NewDesc("flowsieve_feed_last_attempt_success", "1 if the feed's last pull succeeded, 0 if it failed (the previous data keeps serving).", []string{"feed"}, nil)
	descFailures    = prometheus.NewDesc("flowsieve_feed_consecutive_failures", "Failed pulls of the feed since its last successful one.", []string{"feed"}, nil)
	descBytes       = prometheus.NewDesc("flowsieve_feed_fetched_bytes_total", "Feed body bytes read.", []string{"feed"}, nil)
	descPulls       = prometheus.NewDesc("flowsieve_feed_pulls_total", "Feed pulls by result: updated, not_modified, cached (read from feeds.cache_dir), or why it failed (http_status, timeout, too_large, truncated, network, parse, header).", []string{"feed", "result"}, nil)
)

func (c collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descEntries, descAge, descPeriod, descLastSuccess, descLastAttempt, descLastOK, descFailures, descBytes, descPulls} {
		ch <- d
	}
}

func (c collector) Collect(ch chan<- prometheus.Metric) {
	now := time.Now()
	g := func(d *prometheus.Desc, v float64, lv ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, lv...)
	}
	ts := func(t time.Time) float64 {
		if t.IsZero() {
			return 0
		}
		return float64(t.UnixNano()) / 1e9
	}
	for _, s := range c.m.Status() {
		g(descEntries, float64(max(s.Entries, 0)), s.Name, s.Content.String())
		age := math.Inf(1)
		if !s.DataTime.IsZero() {
			age = now.Sub(s.DataTime).Seconds()
		}
		g(descAge, age, s.Name)
		g(descPeriod, s.Period.Seconds(), s.Name)
		g(descLastSuccess, ts(s.LastSuccess), s.Name)
		g(descLastAttempt, ts(s.LastAttempt), s.Name)
		if !s.LastAttempt.IsZero() {
			ok := 0.0
			if s.ConsecutiveFailures == 0 {
				ok = 1
			}
			g(descLastOK, ok, s.Name)
		}
		g(descFailures, float64(s.ConsecutiveFailures), s.Name)
		ch <- prometheus.MustNewConstMetric(descBytes, prometheus.CounterValue, float64(s.BytesFetched), s.Name)
		for r, n := range s.Pulls {
			ch <- prometheus.MustNewConstMetric(descPulls, prometheus.CounterValue, float64(n), s.Name, r)
		}
	}
}
