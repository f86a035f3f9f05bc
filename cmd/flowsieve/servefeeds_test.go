package main

import (
	"context"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/flowsieve/flowsieve/rules/feeds"
)

// TestServeFeeds: the feed server answers a GlobalThreatFeed pull, and an
// unchanged file costs a 304.
func TestServeFeeds(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "c2.txt"), []byte("198.51.100.7\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serveFeeds(ctx, ln, dir) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	url := "http://" + ln.Addr().String() + "/c2.txt"
	m, err := feeds.NewManager(feeds.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tb, err := m.Table(ctx, &feeds.Spec{Name: "c2", URL: url, Period: time.Hour}, false)
	if err != nil || tb.Entries != 1 {
		t.Fatalf("%v, %+v", err, tb)
	}
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Header.Set("If-Modified-Since", time.Now().UTC().Add(time.Minute).Format(http.TimeFormat))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotModified {
		t.Errorf("conditional GET: %s", resp.Status)
	}
	resp, err = http.Post(url, "text/plain", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST: %s", resp.Status)
	}
}
