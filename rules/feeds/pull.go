package feeds

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/gaissmai/bart"
	"go.uber.org/zap"
)

// Defaults of Options.
const (
	DefaultTimeout  = 60 * time.Second
	DefaultMaxBytes = 256 << 20
	// minBackoff is the first retry delay after a failed pull; it doubles
	// per failure up to the feed's period, at most maxBackoff.
	minBackoff = 30 * time.Second
	maxBackoff = time.Hour
)

// Options configures a Manager.
type Options struct {
	// CacheDir keeps the last good body of every feed, so a restart while
	// a feed server is down starts with it. Empty: no cache.
	CacheDir string
	// Timeout bounds one pull, body included (default DefaultTimeout).
	Timeout time.Duration
	// MaxBytes is the largest body accepted, after decompression
	// (default DefaultMaxBytes). A larger one fails the pull.
	MaxBytes int64
	// CAFile is a PEM file of CA certificates trusted for https feeds, in
	// addition to the system's roots.
	CAFile string
	// SecretsDir and ConfigMapsDir hold header values named by
	// valueFrom: DIR/NAME/KEY (see KeyRef).
	SecretsDir, ConfigMapsDir string
	// Background: Table never pulls; Run pulls every registered feed at
	// once and then every period, and signals Updates. Without it (rules
	// check, filter) Table pulls a feed the first time it is asked for.
	Background bool
	Logger     *zap.Logger
	// Getenv reads header values from the environment (default
	// os.Getenv).
	Getenv func(string) string

	minBackoff time.Duration // tests shorten it
}

// Manager pulls GlobalThreatFeeds and keeps the last good table of each.
// Rule loads ask it for tables (Table); in the background (Run) it pulls
// each feed every period and says so on Updates, and the rule watcher
// then builds a new rule Set with the new tables and swaps it in whole,
// the way a rule file edit does: no record is judged half with the old
// table, and a pull never blocks judging.
//
// A pull that fails (network, timeout, HTTP status, truncated or oversize
// body, a bad entry) changes nothing that serves; it is retried with
// back-off and counted in Status.
type Manager struct {
	o       Options
	client  *http.Client
	log     *zap.Logger
	updates chan struct{}

	mu      sync.Mutex
	feeds   map[string]*pulled
	runCtx  context.Context // set while Run runs
	wg      sync.WaitGroup
	started time.Time
}

// pulled is one feed the manager keeps.
type pulled struct {
	name   string
	key    string // identity of what is pulled: URL, content, format
	stop   context.CancelFunc
	kick   chan struct{}
	pullMu sync.Mutex // one pull at a time

	mu       sync.Mutex // guards what follows
	spec     *Spec
	allowAny bool
	table    *Table
	etag     string
	lastMod  string
	st       Status
	tried    bool // a pull was attempted (or the cache read) since registration
}

// Status is one feed's health.
type Status struct {
	Name     string
	Source   string // the URL without userinfo, query and fragment
	Format   string
	Content  Content
	Period   time.Duration
	Disabled bool
	// Entries of the table serving; -1 while none is.
	Entries int
	// DataTime is when the serving table's body was fetched or last
	// confirmed unchanged (304); zero while none serves.
	DataTime            time.Time
	LastSuccess         time.Time
	LastAttempt         time.Time
	LastResult          string // updated, not_modified, cached, or the failure's class
	LastError           string // never holds a header value or the URL's query
	ConsecutiveFailures int
	BytesFetched        int64 // bodies read, in total
	Pulls               map[string]int64
}

// Stale reports whether the feed's data is older than twice its period
// (or it has none), as of now.
func (s Status) Stale(now time.Time) bool {
	if s.Disabled {
		return false
	}
	return s.DataTime.IsZero() || now.Sub(s.DataTime) > 2*s.Period
}

// The classes of LastResult.
const (
	ResultUpdated     = "updated"
	ResultNotModified = "not_modified"
	ResultCached      = "cached"
	ResultHTTPStatus  = "http_status"
	ResultTimeout     = "timeout"
	ResultTooLarge    = "too_large"
	ResultTruncated   = "truncated"
	ResultNetwork     = "network"
	ResultParse       = "parse"
	ResultHeader      = "header"
)

// NewManager makes a Manager; it reads Options.CAFile now.
func NewManager(o Options) (*Manager, error) {
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	if o.minBackoff <= 0 {
		o.minBackoff = minBackoff
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	if o.CAFile != "" {
		pem, err := os.ReadFile(o.CAFile)
		if err != nil {
			return nil, fmt.Errorf("feeds.ca_file: %w", err)
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("feeds.ca_file %s: no PEM certificate in it", o.CAFile)
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	return &Manager{o: o, log: o.Logger, client: &http.Client{Transport: tr, CheckRedirect: checkRedirect},
		updates: make(chan struct{}, 1), feeds: map[string]*pulled{}, started: time.Now()}, nil
}

// Updates receives a value after a feed's table changed (coalesced): the
// rule watcher reloads then.
func (m *Manager) Updates() <-chan struct{} { return m.updates }

func (m *Manager) notify() {
	select {
	case m.updates <- struct{}{}:
	default:
	}
}

// specKey identifies what is pulled: a change to it starts the feed
// afresh (and its cache no longer applies); header changes do not.
func specKey(s *Spec) string {
	h := sha256.Sum256([]byte(s.URL + "\x00" + s.Content.String() + "\x00" + s.Format.String() + "\x00" + s.Format.JSONPath + fmt.Sprintf("\x00%+v", s.Format.CSV)))
	return hex.EncodeToString(h[:12])
}

// Table returns the table serving for spec, registering the feed (or
// updating its spec) first. A disabled feed has an empty table. Without
// Background, a feed asked for the first time is read from the cache and
// pulled (within ctx); the pull's error is returned when neither gave a
// table. In the background, a feed without data yet has an empty table
// (its Status says so) until Run's first pull ends.
func (m *Manager) Table(ctx context.Context, spec *Spec, allowAny bool) (*Table, error) {
	if spec.Disabled {
		m.mu.Lock()
		if p := m.feeds[spec.Name]; p != nil {
			m.dropLocked(p)
		}
		m.mu.Unlock()
		return emptyTable(spec.Content), nil
	}
	key := specKey(spec)
	m.mu.Lock()
	p := m.feeds[spec.Name]
	if p != nil && (p.key != key || p.allowAnyChanged(allowAny)) {
		m.dropLocked(p)
		p = nil
	}
	fresh := p == nil
	if fresh {
		p = &pulled{name: spec.Name, key: key, kick: make(chan struct{}, 1)}
		p.st.Pulls = map[string]int64{}
		m.feeds[spec.Name] = p
	}
	p.mu.Lock()
	p.spec, p.allowAny = spec, allowAny
	p.mu.Unlock()
	if fresh {
		m.readCache(ctx, p)
		if m.runCtx != nil {
			m.startLocked(p)
		}
	}
	m.mu.Unlock()
	if fresh && !m.o.Background {
		err := m.pull(ctx, p)
		p.mu.Lock()
		t := p.table
		p.mu.Unlock()
		if t == nil {
			return nil, err
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.table == nil {
		return emptyTable(spec.Content), nil
	}
	return p.table, nil
}

func (p *pulled) allowAnyChanged(allowAny bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.allowAny != allowAny
}

func emptyTable(c Content) *Table {
	t := &Table{Content: c, Hash: "empty"}
	if c == IPSet {
		t.IPs = new(bart.Lite)
	}
	return t
}

// dropLocked forgets a feed (its loop stops); m.mu is held.
func (m *Manager) dropLocked(p *pulled) {
	if p.stop != nil {
		p.stop()
	}
	delete(m.feeds, p.name)
}

// Retain forgets every feed not named: the rule file no longer uses them.
func (m *Manager) Retain(names []string) {
	keep := map[string]bool{}
	for _, n := range names {
		keep[n] = true
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for name, p := range m.feeds {
		if !keep[name] {
			m.dropLocked(p)
		}
	}
}

// Run pulls every registered feed at once and then every period (sooner,
// with back-off, after a failure) until ctx ends; feeds registered later
// start when they are. It returns when every pulling goroutine stopped.
func (m *Manager) Run(ctx context.Context) {
	m.mu.Lock()
	m.runCtx = ctx
	for _, p := range m.feeds {
		m.startLocked(p)
	}
	m.mu.Unlock()
	<-ctx.Done()
	m.mu.Lock()
	m.runCtx = nil
	m.mu.Unlock()
	m.wg.Wait()
}

func (m *Manager) startLocked(p *pulled) {
	ctx, cancel := context.WithCancel(m.runCtx)
	p.stop = cancel
	m.wg.Add(1)
	go func() {
		defer m.wg.Done()
		m.loop(ctx, p)
	}()
}

// WaitFirst waits until every registered feed had its first pull (or ctx
// ends), so start-up judges with pulled feeds when they answer in time.
func (m *Manager) WaitFirst(ctx context.Context) {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for {
		m.mu.Lock()
		waiting := 0
		for _, p := range m.feeds {
			p.mu.Lock()
			if !p.tried {
				waiting++
			}
			p.mu.Unlock()
		}
		m.mu.Unlock()
		if waiting == 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func (m *Manager) loop(ctx context.Context, p *pulled) {
	backoff := time.Duration(0)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-p.kick:
		}
		err := m.pull(ctx, p)
		if ctx.Err() != nil {
			return
		}
		p.mu.Lock()
		period := p.spec.Period
		p.mu.Unlock()
		next := period
		if err != nil {
			backoff = max(2*backoff, m.o.minBackoff)
			backoff = min(backoff, period, maxBackoff)
			// ±10% so that replicas restarted together spread out.
			next = backoff + time.Duration((rand.Float64()-0.5)*0.2*float64(backoff))
		} else {
			backoff = 0
		}
		timer.Reset(next)
	}
}

// PullNow asks Run's loop to pull the feed now, whatever its back-off.
func (m *Manager) PullNow(name string) {
	m.mu.Lock()
	p := m.feeds[name]
	m.mu.Unlock()
	if p != nil {
		p.kickNow()
	}
}

// PullAll asks Run's loops to pull every feed now (SIGHUP).
func (m *Manager) PullAll() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, p := range m.feeds {
		p.kickNow()
	}
}

func (p *pulled) kickNow() {
	select {
	case p.kick <- struct{}{}:
	default:
	}
}

// pullError is a failed pull: its class (a Result*) and a message that
// holds no secret.
type pullError struct {
	class string
	msg   string
}

func (e *pullError) Error() string { return e.msg }

// pull fetches the feed once and, when the body is good, swaps its table.
func (m *Manager) pull(ctx context.Context, p *pulled) error {
	p.pullMu.Lock()
	defer p.pullMu.Unlock()
	p.mu.Lock()
	spec, allowAny, etag, lastMod, have := p.spec, p.allowAny, p.etag, p.lastMod, p.table != nil
	p.mu.Unlock()
	start := time.Now()
	t, body, newEtag, newLastMod, err := m.fetch(ctx, spec, allowAny, etag, lastMod, have)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.tried = true
	p.st.LastAttempt = start
	p.st.BytesFetched += int64(len(body))
	if err != nil {
		var pe *pullError
		if !errors.As(err, &pe) {
			pe = &pullError{class: ResultNetwork, msg: err.Error()}
		}
		p.st.LastResult, p.st.LastError = pe.class, pe.msg
		p.st.ConsecutiveFailures++
		p.st.Pulls[pe.class]++
		m.log.Warn("feed pull failed; the last good data keeps serving", zap.String("feed", p.name),
			zap.String("source", Redact(spec.URL)), zap.String("result", pe.class), zap.String("error", pe.msg),
			zap.Int("consecutive_failures", p.st.ConsecutiveFailures))
		return pe
	}
	now := time.Now()
	p.st.LastSuccess, p.st.ConsecutiveFailures, p.st.LastError = now, 0, ""
	p.st.DataTime = now
	if t == nil { // 304
		p.st.LastResult = ResultNotModified
		p.st.Pulls[ResultNotModified]++
		m.touchCache(p.name)
		return nil
	}
	t.Fetched = now
	p.table, p.etag, p.lastMod = t, newEtag, newLastMod
	p.st.LastResult = ResultUpdated
	p.st.Pulls[ResultUpdated]++
	m.log.Info("feed pulled", zap.String("feed", p.name), zap.String("source", Redact(spec.URL)),
		zap.Int("entries", t.Entries), zap.Int64("bytes", t.Bytes), zap.Duration("took", time.Since(start)))
	m.writeCache(p, body)
	m.notify()
	return nil
}

// fetch GETs the feed and builds its table; a nil table and no error
// means 304 Not Modified.
func (m *Manager) fetch(ctx context.Context, spec *Spec, allowAny bool, etag, lastMod string, conditional bool) (*Table, []byte, string, string, error) {
	ctx, cancel := context.WithTimeout(ctx, m.o.Timeout)
	defer cancel()
	src := Redact(spec.URL)
	names := make([]string, len(spec.Headers))
	for i, h := range spec.Headers {
		names[i] = h.Name
	}
	req, err := http.NewRequestWithContext(context.WithValue(ctx, headerNamesKey{}, names), http.MethodGet, spec.URL, nil)
	if err != nil {
		return nil, nil, "", "", &pullError{ResultNetwork, "GET " + src + ": not a valid request"}
	}
	for _, h := range spec.Headers {
		v, ok, err := m.headerValue(h, spec.Name)
		if err != nil {
			return nil, nil, "", "", &pullError{ResultHeader, err.Error()}
		}
		if ok {
			req.Header.Set(h.Name, v)
		}
	}
	if conditional {
		if etag != "" {
			req.Header.Set("If-None-Match", etag)
		}
		if lastMod != "" {
			req.Header.Set("If-Modified-Since", lastMod)
		}
	}
	resp, err := m.client.Do(req)
	if err != nil {
		return nil, nil, "", "", transportError(ctx, src, err)
	}
	defer resp.Body.Close()
	switch {
	case resp.StatusCode == http.StatusNotModified && conditional:
		return nil, nil, "", "", nil
	case resp.StatusCode != http.StatusOK:
		// The body is not shown: an error page may echo the request.
		return nil, nil, "", "", &pullError{ResultHTTPStatus, fmt.Sprintf("GET %s: HTTP %s", src, resp.Status)}
	case resp.ContentLength > m.o.MaxBytes:
		return nil, nil, "", "", &pullError{ResultTooLarge, fmt.Sprintf("GET %s: the body is %d bytes, over feeds.max_bytes (%d)", src, resp.ContentLength, m.o.MaxBytes)}
	}
	// Sized from Content-Length when there is one: a 30 MB body read
	// by doubling would allocate twice that.
	var buf bytes.Buffer
	if resp.ContentLength > 0 {
		buf.Grow(int(resp.ContentLength) + bytes.MinRead)
	}
	_, err = buf.ReadFrom(io.LimitReader(resp.Body, m.o.MaxBytes+1))
	body := buf.Bytes()
	if err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, body, "", "", &pullError{ResultTruncated, fmt.Sprintf("GET %s: the body ended early after %d bytes (truncated)", src, len(body))}
		}
		return nil, body, "", "", transportError(ctx, src, err)
	}
	if int64(len(body)) > m.o.MaxBytes {
		return nil, body, "", "", &pullError{ResultTooLarge, fmt.Sprintf("GET %s: the body is over feeds.max_bytes (%d bytes)", src, m.o.MaxBytes)}
	}
	t, err := Build(ctx, bytes.NewReader(body), spec.Content, spec.Format, allowAny, src, spec.Name)
	if err != nil {
		return nil, body, "", "", &pullError{ResultParse, err.Error()}
	}
	return t, body, resp.Header.Get("ETag"), resp.Header.Get("Last-Modified"), nil
}

// headerNamesKey carries a pull's own header names to checkRedirect.
type headerNamesKey struct{}

// checkRedirect follows up to 10 redirects, as Go's default does, but a
// redirect to another host or scheme drops the feed's own headers: Go
// forwards every header but Authorization and cookies, and an API key in
// an APIKey header must not reach whatever host a feed server names.
func checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 10 {
		return errors.New("stopped after 10 redirects")
	}
	first := via[0].URL
	if req.URL.Host != first.Host || req.URL.Scheme != first.Scheme {
		names, _ := req.Context().Value(headerNamesKey{}).([]string)
		for _, n := range names {
			req.Header.Del(n)
		}
	}
	return nil
}

// transportError describes a failed request without the URL's query (a
// *url.Error quotes the whole URL).
func transportError(ctx context.Context, src string, err error) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) || errors.Is(err, context.DeadlineExceeded) {
		return &pullError{ResultTimeout, "GET " + src + ": timed out (feeds.timeout)"}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return &pullError{ResultNetwork, "GET " + src + ": " + err.Error()}
}

// headerValue reads a header's value; ok is false for an optional value
// that is missing. Errors name where the value was looked for, never it.
func (m *Manager) headerValue(h Header, feed string) (string, bool, error) {
	if h.From == nil {
		return h.Value, true, nil
	}
	r := h.From
	dir, env := m.o.ConfigMapsDir, "FEED_CONFIGMAP_"
	if r.Secret {
		dir, env = m.o.SecretsDir, "FEED_SECRET_"
	}
	env += envPart(r.Name) + "_" + envPart(r.Key)
	var tried []string
	if dir != "" {
		path := filepath.Join(dir, r.Name, r.Key)
		b, err := os.ReadFile(path)
		if err == nil {
			v := strings.TrimRight(string(b), "\r\n")
			if strings.ContainsAny(v, "\r\n\x00") {
				return "", false, fmt.Errorf("header %s: %s holds a line break or NUL", h.Name, path)
			}
			return v, true, nil
		}
		if !errors.Is(err, os.ErrNotExist) {
			return "", false, fmt.Errorf("header %s: %w", h.Name, err)
		}
		tried = append(tried, path)
	}
	if v := m.o.Getenv(env); v != "" {
		return v, true, nil
	}
	tried = append(tried, "$"+env)
	if r.Optional {
		return "", false, nil
	}
	return "", false, fmt.Errorf("header %s: %s %s key %s not found (looked in %s)", h.Name, r.kind(), r.Name, r.Key, strings.Join(tried, " and "))
}

func envPart(s string) string {
	b := []byte(strings.ToUpper(s))
	for i, c := range b {
		if !('A' <= c && c <= 'Z' || '0' <= c && c <= '9') {
			b[i] = '_'
		}
	}
	return string(b)
}

// Redact returns a URL fit for logs and errors: no userinfo, no query
// (API keys travel there), no fragment.
func Redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(an unparsable URL)"
	}
	q := ""
	if u.RawQuery != "" {
		q = "?…"
	}
	u.User, u.RawQuery, u.Fragment, u.RawFragment = nil, "", "", ""
	return u.String() + q
}

// Status reports every feed's health, by name.
func (m *Manager) Status() []Status {
	m.mu.Lock()
	ps := make([]*pulled, 0, len(m.feeds))
	for _, p := range m.feeds {
		ps = append(ps, p)
	}
	m.mu.Unlock()
	out := make([]Status, 0, len(ps))
	for _, p := range ps {
		p.mu.Lock()
		s := p.st
		s.Pulls = make(map[string]int64, len(p.st.Pulls))
		for k, v := range p.st.Pulls {
			s.Pulls[k] = v
		}
		s.Name, s.Source, s.Format = p.name, Redact(p.spec.URL), p.spec.Format.String()
		s.Content, s.Period, s.Disabled = p.spec.Content, p.spec.Period, p.spec.Disabled
		s.Entries = -1
		if p.table != nil {
			s.Entries = p.table.Entries
		}
		p.mu.Unlock()
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// The cache: one file per feed, DIR/NAME.feed, a JSON header line then
// the body as fetched. It is written to a temporary file and renamed over
// the old one, so a crash leaves the old copy or the new, never half; its
// modification time is when the body was last confirmed (a 304 touches
// it).
type cacheHeader struct {
	Version      int    `json:"v"`
	Key          string `json:"key"`
	ETag         string `json:"etag,omitempty"`
	LastModified string `json:"last_modified,omitempty"`
}

func (m *Manager) cachePath(name string) string {
	return filepath.Join(m.o.CacheDir, name+".feed")
}

// readCache loads the cached body of a feed just registered; m.mu is held.
func (m *Manager) readCache(ctx context.Context, p *pulled) {
	if m.o.CacheDir == "" {
		return
	}
	path := m.cachePath(p.name)
	data, err := os.ReadFile(path)
	if err != nil {
		if !errors.Is(err, os.ErrNotExist) {
			m.log.Warn("feed cache unreadable; pulling afresh", zap.String("feed", p.name), zap.Error(err))
		}
		return
	}
	st, err := os.Stat(path)
	if err != nil {
		return
	}
	nl := bytes.IndexByte(data, '\n')
	var h cacheHeader
	if nl < 0 || json.Unmarshal(data[:nl], &h) != nil || h.Version != 1 {
		m.log.Warn("feed cache is not a flowsieve cache file; ignored", zap.String("feed", p.name), zap.String("file", path))
		return
	}
	if h.Key != p.key {
		return // the feed's URL or format changed since
	}
	spec, allowAny := p.spec, p.allowAny
	t, err := Build(ctx, bytes.NewReader(data[nl+1:]), spec.Content, spec.Format, allowAny, path, p.name)
	if err != nil {
		m.log.Warn("feed cache does not load; ignored", zap.String("feed", p.name), zap.Error(err))
		return
	}
	t.Fetched = st.ModTime()
	p.mu.Lock()
	p.table, p.etag, p.lastMod = t, h.ETag, h.LastModified
	p.st.DataTime, p.st.LastResult = st.ModTime(), ResultCached
	p.st.Pulls[ResultCached]++
	p.mu.Unlock()
	m.log.Info("feed loaded from the cache", zap.String("feed", p.name), zap.Int("entries", t.Entries),
		zap.Time("fetched", st.ModTime()))
}

// writeCache stores a good body; p.mu is held. A failure is logged: the
// feed serves regardless, only a restart would miss the copy.
func (m *Manager) writeCache(p *pulled, body []byte) {
	if m.o.CacheDir == "" {
		return
	}
	err := func() error {
		if err := os.MkdirAll(m.o.CacheDir, 0o700); err != nil {
			return err
		}
		f, err := os.CreateTemp(m.o.CacheDir, "."+p.name+".*.tmp")
		if err != nil {
			return err
		}
		defer os.Remove(f.Name()) // fails once renamed
		hdr, _ := json.Marshal(cacheHeader{Version: 1, Key: p.key, ETag: p.etag, LastModified: p.lastMod})
		_, err = f.Write(append(hdr, '\n'))
		if err == nil {
			_, err = f.Write(body)
		}
		if err == nil {
			err = f.Sync()
		}
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
		return os.Rename(f.Name(), m.cachePath(p.name))
	}()
	if err != nil {
		m.log.Warn("feed cache not written; a restart while the feed server is down would start without this feed",
			zap.String("feed", p.name), zap.Error(err))
	}
}

func (m *Manager) touchCache(name string) {
	if m.o.CacheDir == "" {
		return
	}
	now := time.Now()
	_ = os.Chtimes(m.cachePath(name), now, now)
}
