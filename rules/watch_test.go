package rules

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// Two rule versions that judge textRec (namespace dev) differently.
const (
	rulesDropDev = "filters:\n  - {name: drop-dev, action: exclude, when: {field: source_namespace, equals: dev}}\n"
	rulesKeepAll = "filters:\n  - {name: drop-qa, action: exclude, when: {field: source_namespace, equals: qa}}\n"
	rulesBroken  = "filters:\n  - {name: drop-dev, action: exclude, when: {field: source_namespce, equals: dev}}\n"
	rulesFeed    = "feeds:\n  - {name: c2, file: c2.txt}\nthreats:\n  - {name: c2, severity: high, when: {field: dest_ip, in_feed: c2}}\n"
)

type watchHarness struct {
	t       *testing.T
	w       *Watcher
	reloads atomic.Int64
	fails   atomic.Int64
	logs    *observer.ObservedLogs
	cancel  context.CancelFunc
	done    chan error
}

func startWatcher(t *testing.T, path string) *watchHarness {
	t.Helper()
	return startWatcherWith(t, path, WatcherOptions{})
}

// startWatcherWith starts a watcher with opts, its debounce, logger and
// OnReload set by the harness.
func startWatcherWith(t *testing.T, path string, opts WatcherOptions) *watchHarness {
	t.Helper()
	core, logs := observer.New(zap.InfoLevel)
	h := &watchHarness{t: t, logs: logs, done: make(chan error, 1)}
	opts.Debounce = 30 * time.Millisecond
	opts.Logger = zap.New(core)
	opts.OnReload = func(s *Set, err error) {
		if err != nil {
			h.fails.Add(1)
		} else {
			h.reloads.Add(1)
		}
	}
	w, err := NewWatcher(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	h.w = w
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	go func() { h.done <- w.Run(ctx) }()
	// Let the watches be set up before the test writes anything.
	time.Sleep(50 * time.Millisecond)
	t.Cleanup(func() {
		cancel()
		if err := <-h.done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return h
}

// waitFor polls until cond holds or 5 s pass.
func (h *watchHarness) waitFor(what string, cond func() bool) {
	h.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			h.t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (h *watchHarness) drops(rec string) bool {
	var v Verdict
	h.w.Current().Judge(decode(h.t, rec), &v)
	return !v.Keep
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestWatcherGoodAndBadChanges(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rules.yaml")
	write(t, path, rulesDropDev)
	h := startWatcher(t, path)
	if !h.drops(textRec) {
		t.Fatal("initial rules do not drop dev")
	}
	v0 := h.w.Current().Version()

	// Good change, written in place.
	write(t, path, rulesKeepAll)
	h.waitFor("the new rules", func() bool { return !h.drops(textRec) })
	if h.reloads.Load() != 1 {
		t.Errorf("OnReload success calls = %d, want 1", h.reloads.Load())
	}

	// Bad change: the old rules keep serving, the error is logged with its
	// position and reported.
	v1 := h.w.Current().Version()
	write(t, path, rulesBroken)
	h.waitFor("the failed reload", func() bool { return h.fails.Load() >= 1 })
	if h.w.Current().Version() != v1 || h.drops(textRec) {
		t.Error("a broken file replaced the rules")
	}
	entries := h.logs.FilterMessage("rules reload failed; the previous rules keep serving").All()
	if len(entries) == 0 {
		t.Fatal("no log line for the failed reload")
	}
	found := false
	for _, f := range entries[0].Context {
		if f.Key == "problems" {
			found = strings.Contains(fmt.Sprint(f.Interface), `rules.yaml:2:53: rule "drop-dev": unknown field "source_namespce"`)
		}
	}
	if !found {
		t.Errorf("log line lacks the positioned error: %+v", entries[0].Context)
	}

	// The next good write is picked up.
	write(t, path, rulesDropDev)
	h.waitFor("recovery", func() bool { return h.drops(textRec) })
	if h.w.Current().Version() != v0 {
		t.Errorf("version %s, want %s (same content as the first)", h.w.Current().Version(), v0)
	}

	// Reverting a bad edit to the content still serving is a successful
	// reload too, or "last reload failed" would stay set until some other
	// content loads.
	fails, reloads := h.fails.Load(), h.reloads.Load()
	write(t, path, rulesBroken)
	h.waitFor("the second failed reload", func() bool { return h.fails.Load() > fails })
	write(t, path, rulesDropDev)
	h.waitFor("the revert reported as a success", func() bool { return h.reloads.Load() > reloads })
	if h.w.Current().Version() != v0 {
		t.Errorf("version %s after the revert, want %s", h.w.Current().Version(), v0)
	}
}

func TestWatcherRenameWrite(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rules.yaml")
	write(t, path, rulesDropDev)
	h := startWatcher(t, path)
	// As editors save: write a temporary file, rename it over the old one.
	tmp := filepath.Join(dir, ".rules.yaml.swp")
	write(t, tmp, rulesKeepAll)
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	h.waitFor("the renamed file", func() bool { return !h.drops(textRec) })
	// And a second time, now that the watched inode is gone.
	write(t, tmp, rulesDropDev)
	os.Rename(tmp, path)
	h.waitFor("the second rename", func() bool { return h.drops(textRec) })
}

func TestWatcherPartialWriteDebounced(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rules.yaml")
	write(t, path, rulesDropDev)
	h := startWatcher(t, path)
	// Write the new content in pieces, faster than the debounce delay: the
	// half-written file must never be loaded.
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(rulesKeepAll); i += 10 {
		fh.Write([]byte(rulesKeepAll[i:min(i+10, len(rulesKeepAll))]))
		time.Sleep(2 * time.Millisecond)
	}
	fh.Close()
	h.waitFor("the complete file", func() bool { return !h.drops(textRec) })
	if h.fails.Load() != 0 {
		t.Errorf("%d reloads of a half-written file", h.fails.Load())
	}
}

// TestWatcherConfigMapSymlinkSwap reproduces a kubelet ConfigMap volume:
//
//	rules.yaml -> ..data/rules.yaml
//	c2.txt     -> ..data/c2.txt
//	..data     -> ..2026_11_25_10_00_00.000000001
//
// An update writes a new timestamped directory, points ..data_tmp at it,
// renames ..data_tmp over ..data and removes the old directory.
func TestWatcherConfigMapSymlinkSwap(t *testing.T) {
	mount := t.TempDir()
	gen := 0
	publish := func(files map[string]string) {
		gen++
		ts := fmt.Sprintf("..2026_11_25_10_00_00.%09d", gen)
		if err := os.Mkdir(filepath.Join(mount, ts), 0o755); err != nil {
			t.Fatal(err)
		}
		for name, body := range files {
			write(t, filepath.Join(mount, ts, name), body)
		}
		old, _ := os.Readlink(filepath.Join(mount, "..data"))
		if err := os.Symlink(ts, filepath.Join(mount, "..data_tmp")); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(filepath.Join(mount, "..data_tmp"), filepath.Join(mount, "..data")); err != nil {
			t.Fatal(err)
		}
		for name := range files {
			link := filepath.Join(mount, name)
			if _, err := os.Lstat(link); os.IsNotExist(err) {
				if err := os.Symlink(filepath.Join("..data", name), link); err != nil {
					t.Fatal(err)
				}
			}
		}
		if old != "" {
			os.RemoveAll(filepath.Join(mount, old))
		}
	}
	publish(map[string]string{"rules.yaml": rulesFeed + rulesDropDev, "c2.txt": "203.0.113.0/24\n"})
	h := startWatcher(t, filepath.Join(mount, "rules.yaml"))
	flagged := func() bool {
		var v Verdict
		h.w.Current().Judge(decode(t, textRec), &v) // dest_ip 198.51.100.7
		return v.Flagged()
	}
	if flagged() || !h.drops(textRec) {
		t.Fatal("initial rules wrong")
	}
	publish(map[string]string{"rules.yaml": rulesFeed + rulesKeepAll, "c2.txt": "198.51.100.0/24\n"})
	h.waitFor("the swapped ConfigMap", func() bool { return flagged() && !h.drops(textRec) })
	if h.reloads.Load() != 1 {
		t.Errorf("OnReload success calls = %d, want 1 (one swap)", h.reloads.Load())
	}
}

func TestWatcherFeedChange(t *testing.T) {
	dir := t.TempDir()
	feeds := filepath.Join(dir, "feeds")
	os.Mkdir(feeds, 0o755)
	path := filepath.Join(dir, "rules.yaml")
	write(t, filepath.Join(feeds, "c2.txt"), "203.0.113.0/24\n")
	write(t, path, "feeds:\n  - {name: c2, file: feeds/c2.txt}\nthreats:\n  - {name: c2, severity: high, when: {field: dest_ip, in_feed: c2}}\n")
	h := startWatcher(t, path)
	flagged := func() bool {
		var v Verdict
		h.w.Current().Judge(decode(t, textRec), &v)
		return v.Flagged()
	}
	if flagged() {
		t.Fatal("flagged before the feed change")
	}
	// The feed lives in another directory; it is watched too.
	write(t, filepath.Join(feeds, "c2.txt"), "203.0.113.0/24\n198.51.100.7\n")
	h.waitFor("the feed change", flagged)

	// A feed the new rule file names, in a new directory, is watched
	// from then on.
	other := filepath.Join(dir, "other")
	os.Mkdir(other, 0o755)
	write(t, filepath.Join(other, "x.txt"), "192.0.2.1\n")
	write(t, path, "feeds:\n  - {name: x, file: other/x.txt}\nthreats:\n  - {name: x, severity: high, when: {field: dest_ip, in_feed: x}}\n")
	h.waitFor("the new rule file", func() bool { return !flagged() })
	write(t, filepath.Join(other, "x.txt"), "198.51.100.7\n")
	h.waitFor("the new feed's change", flagged)
}

func TestWatcherReloadSIGHUPPath(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rules.yaml")
	write(t, path, rulesDropDev)
	var calls []error
	w, err := NewWatcher(path, WatcherOptions{OnReload: func(s *Set, err error) { calls = append(calls, err) }})
	if err != nil {
		t.Fatal(err)
	}
	// Without Run: Reload is what SIGHUP calls.
	if err := w.Reload(); err != nil {
		t.Fatal(err)
	}
	write(t, path, rulesBroken)
	if err := w.Reload(); err == nil || !strings.Contains(err.Error(), "unknown field") {
		t.Errorf("Reload of a broken file: %v", err)
	}
	write(t, path, rulesKeepAll)
	if err := w.Reload(); err != nil {
		t.Fatal(err)
	}
	if len(calls) != 3 || calls[0] != nil || calls[1] == nil || calls[2] != nil {
		t.Errorf("OnReload calls %v", calls)
	}
	var v Verdict
	w.Current().Judge(decode(t, textRec), &v)
	if !v.Keep {
		t.Error("Reload did not install the new rules")
	}
	if _, err := NewWatcher(filepath.Join(dir, "missing.yaml"), WatcherOptions{}); err == nil {
		t.Error("NewWatcher on a missing file succeeded")
	}
}

// TestWatcherConcurrentReloads judges flows from several goroutines while
// the rules are reloaded 100 times (run with -race). Each judgement must be
// consistent with exactly one version.
func TestWatcherConcurrentReloads(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rules.yaml")
	write(t, path, rulesDropDev)
	h := startWatcher(t, path)
	dropVersion := h.w.Current().Version()
	f := decode(t, textRec)
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var judged, bad atomic.Int64
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var v Verdict
			for {
				select {
				case <-stop:
					return
				default:
				}
				s := h.w.Current()
				s.Judge(f, &v)
				if (s.Version() == dropVersion) == v.Keep {
					bad.Add(1)
				}
				judged.Add(1)
			}
		}()
	}
	for i := 0; i < 100; i++ {
		content := rulesKeepAll
		if i%2 == 1 {
			content = rulesDropDev
		}
		write(t, path, content)
		if err := h.w.Reload(); err != nil {
			t.Fatal(err)
		}
	}
	close(stop)
	wg.Wait()
	if bad.Load() != 0 {
		t.Errorf("%d of %d judgements disagree with their rules version", bad.Load(), judged.Load())
	}
	if judged.Load() == 0 {
		t.Error("nothing judged")
	}
}

func TestWatcherSymlinkElsewhere(t *testing.T) {
	real := t.TempDir()
	link := t.TempDir()
	write(t, filepath.Join(real, "rules.yaml"), rulesDropDev)
	if err := os.Symlink(filepath.Join(real, "rules.yaml"), filepath.Join(link, "rules.yaml")); err != nil {
		t.Fatal(err)
	}
	h := startWatcher(t, filepath.Join(link, "rules.yaml"))
	// Unrelated files in the watched directories change nothing.
	write(t, filepath.Join(real, "notes.txt"), "x")
	write(t, filepath.Join(real, "rules.yaml"), rulesKeepAll)
	h.waitFor("the write through the symlink's target", func() bool { return !h.drops(textRec) })
}

// TestWatcherOptional: the shadow rules' watcher starts without its file
// (or with a broken one), serves nothing until the file loads, then keeps
// the last good version through a broken edit, and says "shadow rules" in
// its logs.
func TestWatcherOptional(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "shadow.yaml")
	h := startWatcherWith(t, path, WatcherOptions{Name: "shadow rules", Optional: true})
	if h.w.Current() != nil {
		t.Fatal("a missing optional file serves a Set")
	}
	if h.fails.Load() != 1 || h.logs.FilterMessage("shadow rules did not load; none serve until the file loads").Len() != 1 {
		t.Errorf("the first failure was not reported: %d failures, logs %v", h.fails.Load(), h.logs.All())
	}

	write(t, path, rulesBroken)
	h.waitFor("the broken file's failure", func() bool { return h.fails.Load() >= 2 })
	if h.w.Current() != nil {
		t.Fatal("a broken optional file serves a Set")
	}

	write(t, path, rulesDropDev)
	h.waitFor("the file to load", func() bool { return h.w.Current() != nil })
	if !h.drops(textRec) {
		t.Error("the loaded shadow rules do not drop dev")
	}
	if h.logs.FilterMessage("shadow rules reloaded").Len() != 1 {
		t.Errorf("no reload line naming the shadow rules: %v", h.logs.All())
	}

	fails := h.fails.Load()
	v := h.w.Current().Version()
	write(t, path, rulesBroken)
	h.waitFor("the failed reload", func() bool { return h.fails.Load() > fails })
	if h.w.Current().Version() != v {
		t.Error("a broken edit replaced the shadow rules")
	}
	if h.logs.FilterMessage("shadow rules reload failed; the previous shadow rules keep serving").Len() != 1 {
		t.Errorf("no failure line naming the shadow rules: %v", h.logs.All())
	}
}

// TestWatcherHistory: each load attempt is remembered, newest first, with
// the diff against the version before; a reload's log line carries it.
func TestWatcherHistory(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "rules.yaml")
	write(t, path, rulesDropDev)
	h := startWatcher(t, path)
	v0 := h.w.Current().Version()
	write(t, path, rulesKeepAll)
	h.waitFor("the new rules", func() bool { return h.reloads.Load() == 1 })
	v1 := h.w.Current().Version()
	write(t, path, rulesBroken)
	h.waitFor("the failed reload", func() bool { return h.fails.Load() == 1 })

	st := h.w.Status()
	if st.File != path || st.Version != v1 || st.LoadedAt == nil || len(st.History) != 3 {
		t.Fatalf("status %+v", st)
	}
	got := st.History
	if got[0].OK || got[0].Version != "" || !strings.Contains(got[0].Error, "source_namespce") ||
		!got[1].OK || got[1].Version != v1 || got[1].Diff != "filters +1 -1 ~0" || !got[1].Time.Equal(*st.LoadedAt) ||
		!got[2].OK || got[2].Version != v0 || got[2].Diff != "" {
		t.Errorf("history %+v", got)
	}
	lines := h.logs.FilterMessage("rules reloaded").All()
	if len(lines) != 1 {
		t.Fatalf("%d reload lines", len(lines))
	}
	ctx := lines[0].ContextMap()
	if ctx["diff"] != "filters +1 -1 ~0" || fmt.Sprint(ctx["changes"]) != "[filter + drop-qa filter - drop-dev]" {
		t.Errorf("reload line %v", ctx)
	}

	// The history keeps the last HistoryLen attempts.
	for i := range HistoryLen {
		h.w.record(LoadRecord{Version: fmt.Sprint(i), OK: true})
	}
	if st := h.w.Status(); len(st.History) != HistoryLen || st.History[0].Version != fmt.Sprint(HistoryLen-1) {
		t.Errorf("after %d more: %d records, newest %+v", HistoryLen, len(st.History), st.History[0])
	}
}
