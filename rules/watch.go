package rules

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fsnotify/fsnotify"
	"go.uber.org/zap"

	"github.com/flowsieve/flowsieve/rules/feeds"
)

// Watcher keeps the current Set of a rule file and reloads it when the file
// or any feed it names changes. Readers call Current, which is one atomic
// load; a reload compiles a whole new Set and swaps it in with one store,
// or, when the new content does not load, keeps the old Set serving.
//
// It watches the directories holding the files, not the files: editors save
// by writing a temporary file and renaming it over the old one, and a
// Kubernetes ConfigMap volume swaps a "..data" symlink in the mount
// directory (rules.yaml -> ..data/rules.yaml), so the file's own inode never
// changes. Any event in a watched directory schedules a reload after the
// debounce delay; a reload that finds the same content (same Version) is a
// no-op.
type Watcher struct {
	path string
	opts WatcherOptions
	cur  atomic.Pointer[Set]
	mu   sync.Mutex // serialises reloads
	// tried lists the files the last load attempt read (also a failed
	// one), so a feed the new file names starts being watched before it
	// loads.
	tried []string
	// failing is set while the last attempt failed: a good load after it
	// reports success even when it brings back the version still serving
	// (the user reverted the bad edit), so "last reload failed" clears.
	failing bool

	// The audit trail (History), under a lock of its own: a reload holds
	// mu for as long as the files take to read.
	histMu   sync.Mutex
	history  []LoadRecord // oldest first, at most HistoryLen
	loadedAt time.Time    // when the Set in force was loaded
}

// HistoryLen is how many load attempts a Watcher remembers.
const HistoryLen = 20

// LoadRecord is one load attempt of a rule file, for the audit trail.
type LoadRecord struct {
	Version string    `json:"version,omitempty"` // the version loaded; empty when the load failed
	Time    time.Time `json:"time"`
	OK      bool      `json:"ok"`
	Error   string    `json:"error,omitempty"`
	// Diff summarises what changed against the version serving before
	// (DiffSets); empty for a failure or the first load.
	Diff string `json:"diff,omitempty"`
}

// Status is what a Watcher serves now and what it tried, for GET /rules.
type Status struct {
	File     string       `json:"file"`
	Version  string       `json:"version,omitempty"` // empty while nothing serves
	LoadedAt *time.Time   `json:"loaded_at,omitempty"`
	History  []LoadRecord `json:"history"` // newest first
}

// WatcherOptions configures a Watcher.
type WatcherOptions struct {
	// Debounce is how long the files must be quiet before a reload, so a
	// file written in several pieces is read once, whole. Default 250ms.
	Debounce time.Duration
	// Logger receives one line per reload and per failed reload (with every
	// error, file:line:col). Default: no logging.
	Logger *zap.Logger
	// OnReload is called after each reload attempt: (new Set, nil) when a
	// new version is in place (or Reload was called, or a good load follows
	// a failed one, even with the version still serving), (nil, err) when the
	// content did not load and the old Set stays. It runs on the reloading
	// goroutine and must not block.
	OnReload func(s *Set, err error)
	// Name is what the logs call the file: "rules" (the default) or
	// "shadow rules", so one reloader serves both files.
	Name string
	// Optional lets NewWatcher succeed when the first load fails: Current
	// is nil until a load succeeds, the first load's outcome goes to
	// OnReload (and a failure to the log), and Run watches for the file to
	// be mended. The shadow
	// rules are optional: a bad candidate must not stop the pipeline.
	Optional bool
	// ReadTimeout bounds one load of the rule file and its feeds
	// (default DefaultReadTimeout). A load that takes longer (a file on a
	// hung mount) fails like a bad edit: the old Set keeps serving,
	// OnReload gets the error, and the next change or Reload tries again.
	ReadTimeout time.Duration
	// Feeds pulls the GlobalThreatFeeds the rule file names. A new table
	// it pulls (Updates) makes a reload, so the new feed data swaps in as
	// a whole new Set, as an edit does. Nil: such feeds are pulled once
	// per load, without a cache. A Manager serves one Watcher: Retain
	// forgets the feeds its rule file stops naming.
	Feeds *feeds.Manager
}

// NewWatcher loads the rule file once; it fails if that load fails, unless
// opts.Optional. Call Run to start watching.
func NewWatcher(path string, opts WatcherOptions) (*Watcher, error) {
	if opts.Debounce <= 0 {
		opts.Debounce = 250 * time.Millisecond
	}
	if opts.Logger == nil {
		opts.Logger = zap.NewNop()
	}
	if opts.ReadTimeout <= 0 {
		opts.ReadTimeout = DefaultReadTimeout
	}
	if opts.Name == "" {
		opts.Name = "rules"
	}
	w := &Watcher{path: path, opts: opts}
	if opts.Optional {
		// The file itself is watched even when it could not be read.
		abs, err := filepath.Abs(path)
		if err != nil {
			return nil, fmt.Errorf("%s file %s: %w", opts.Name, path, err)
		}
		w.tried = []string{abs}
		w.reload(true)
		return w, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), opts.ReadTimeout)
	defer cancel()
	s, err := LoadFileWith(ctx, path, LoadOptions{Feeds: opts.Feeds})
	if err != nil {
		return nil, err
	}
	if opts.Feeds != nil {
		opts.Feeds.Retain(s.PulledFeeds())
	}
	w.tried = s.Files()
	w.cur.Store(s)
	w.record(LoadRecord{Version: s.Version(), Time: time.Now(), OK: true})
	return w, nil
}

// record adds a load attempt to the history; a success also dates the
// Set in force.
func (w *Watcher) record(r LoadRecord) {
	w.histMu.Lock()
	defer w.histMu.Unlock()
	if len(w.history) == HistoryLen {
		w.history = append(w.history[:0], w.history[1:]...)
	}
	w.history = append(w.history, r)
	if r.OK {
		w.loadedAt = r.Time
	}
}

// Status reports the Set in force and the last HistoryLen load attempts.
func (w *Watcher) Status() Status {
	w.histMu.Lock()
	defer w.histMu.Unlock()
	st := Status{File: w.path, History: make([]LoadRecord, 0, len(w.history))}
	if s := w.cur.Load(); s != nil {
		at := w.loadedAt
		st.Version, st.LoadedAt = s.Version(), &at
	}
	for i := len(w.history) - 1; i >= 0; i-- {
		st.History = append(st.History, w.history[i])
	}
	return st
}

// Current returns the Set in force (nil for an Optional watcher whose file
// has not loaded yet). It never blocks.
func (w *Watcher) Current() *Set { return w.cur.Load() }

// Reload loads the rule file now (SIGHUP). On success the new Set is in
// force, even if its content did not change; on failure the old one stays
// and the error is returned.
func (w *Watcher) Reload() error {
	_, err := w.reload(true)
	return err
}

// reload loads and, if it succeeds and the content changed (or force),
// swaps. It reports whether the watched directories may have changed.
func (w *Watcher) reload(force bool) (bool, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	old := w.cur.Load()
	ctx, cancel := context.WithTimeout(context.Background(), w.opts.ReadTimeout)
	s, files, err := loadFileTried(ctx, w.path, w.opts.Feeds)
	cancel()
	if files != nil {
		w.tried = files
	}
	if err != nil {
		errs := Errors(err)
		msg := w.opts.Name + " reload failed; the previous " + w.opts.Name + " keep serving"
		if old == nil {
			msg = w.opts.Name + " did not load; none serve until the file loads"
		}
		w.opts.Logger.Error(msg,
			zap.String("file", w.path), zap.String("version", versionOf(old)),
			zap.Int("errors", len(errs)), zap.Errors("problems", errs))
		w.failing = true
		w.record(LoadRecord{Time: time.Now(), Error: err.Error()})
		if w.opts.OnReload != nil {
			w.opts.OnReload(nil, err)
		}
		return true, err
	}
	if w.opts.Feeds != nil {
		w.opts.Feeds.Retain(s.PulledFeeds())
	}
	if !force && !w.failing && s.Version() == versionOf(old) {
		return false, nil
	}
	w.failing = false
	w.cur.Store(s)
	fields := []zap.Field{zap.String("file", w.path),
		zap.String("version", s.Version()), zap.String("previous", versionOf(old)),
		zap.Int("filters", len(s.filters)), zap.Int("threat_rules", len(s.threats)),
		zap.Int("feeds", len(s.feeds))}
	rec := LoadRecord{Version: s.Version(), Time: time.Now(), OK: true}
	if old != nil {
		d := DiffSets(old, s)
		rec.Diff = d.Summary()
		fields = append(fields, zap.String("diff", rec.Diff), zap.Strings("changes", d.Lines()))
	}
	w.record(rec)
	w.opts.Logger.Info(w.opts.Name+" reloaded", fields...)
	if w.opts.OnReload != nil {
		w.opts.OnReload(s, nil)
	}
	return true, nil
}

// Run watches until ctx is done. It returns an error only if watching
// cannot start.
func (w *Watcher) Run(ctx context.Context) error {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watching %s files: %w", w.opts.Name, err)
	}
	defer fw.Close()
	watched := map[string]bool{}
	names := map[string]bool{} // base names whose events matter
	sync := func() {
		w.mu.Lock()
		var files []string
		if s := w.cur.Load(); s != nil {
			files = append(files, s.Files()...)
		}
		files = append(files, w.tried...)
		w.mu.Unlock()
		want := map[string]bool{}
		clear(names)
		for _, f := range files {
			want[filepath.Dir(f)] = true
			names[filepath.Base(f)] = true
			// A file that is a symlink to somewhere else: watch where it
			// points too, so writes there are seen.
			if r, err := filepath.EvalSymlinks(f); err == nil && r != f {
				want[filepath.Dir(r)] = true
				names[filepath.Base(r)] = true
			}
		}
		for d := range want {
			if !watched[d] {
				if err := fw.Add(d); err != nil {
					w.opts.Logger.Warn("cannot watch directory", zap.String("dir", d), zap.Error(err))
					continue
				}
				watched[d] = true
			}
		}
		for d := range watched {
			if !want[d] {
				_ = fw.Remove(d)
				delete(watched, d)
			}
		}
	}
	// relevant: an event on one of the files, or on kubelet's ..data
	// machinery; other files sharing the directories are ignored.
	relevant := func(name string) bool {
		base := filepath.Base(name)
		return names[base] || strings.HasPrefix(base, "..")
	}
	sync()
	var feedUpdates <-chan struct{}
	if w.opts.Feeds != nil {
		feedUpdates = w.opts.Feeds.Updates()
	}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case <-ctx.Done():
			timer.Stop()
			return nil
		case ev, ok := <-fw.Events:
			if !ok {
				return nil
			}
			if ev.Op == fsnotify.Chmod || !relevant(ev.Name) {
				continue
			}
			timer.Reset(w.opts.Debounce)
		case err, ok := <-fw.Errors:
			if !ok {
				return nil
			}
			w.opts.Logger.Warn("file watcher error", zap.Error(err))
			timer.Reset(w.opts.Debounce)
		case <-feedUpdates:
			// A pulled feed changed: the same reload as an edit, at once.
			if changed, _ := w.reload(false); changed {
				sync()
			}
		case <-timer.C:
			if changed, _ := w.reload(false); changed {
				sync()
			}
		}
	}
}
