package main

import (
	"context"
	"fmt"
	"time"

	"go.uber.org/zap"

	"github.com/flowsieve/flowsieve/config"
	"github.com/flowsieve/flowsieve/rules/feeds"
)

// newFeedManager makes the manager that pulls the GlobalThreatFeeds the
// rule file names, in the background (run).
func newFeedManager(c config.Feeds, log *zap.Logger) (*feeds.Manager, error) {
	return feeds.NewManager(feeds.Options{
		CacheDir: c.CacheDir, Timeout: c.Timeout, MaxBytes: c.MaxBytes, CAFile: c.CAFile,
		SecretsDir: c.SecretsDir, ConfigMapsDir: c.ConfigMapsDir,
		Background: true, Logger: log,
	})
}

// firstPullWait bounds how long start-up waits for the feeds' first
// pulls before judging; a feed that has not answered by then swaps in
// when it does.
const firstPullWait = 10 * time.Second

// staleFeeds says which feeds are stale: no data, or data older than
// twice their period.
func staleFeeds(st []feeds.Status, now time.Time) []string {
	var out []string
	for _, s := range st {
		if !s.Stale(now) {
			continue
		}
		why := "no data yet"
		if !s.DataTime.IsZero() {
			why = fmt.Sprintf("data is %s old (period %s)", now.Sub(s.DataTime).Round(time.Second), shortDuration(s.Period))
		}
		if s.LastError != "" {
			why += "; last pull: " + s.LastError
		}
		out = append(out, fmt.Sprintf("feed %s is stale: %s", s.Name, why))
	}
	return out
}

// runFeeds runs the manager until ctx ends; the returned func waits for
// it to stop.
func runFeeds(ctx context.Context, fm *feeds.Manager) (wait func()) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		fm.Run(ctx)
	}()
	return func() { <-done }
}
