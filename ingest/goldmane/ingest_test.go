package goldmane_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
	"go.uber.org/zap/zaptest"
	"go.uber.org/zap/zaptest/observer"

	"github.com/flowsieve/flowsieve/ingest/goldmane"
	"github.com/flowsieve/flowsieve/internal/embedkafka"
	"github.com/flowsieve/flowsieve/internal/goldmanefake"
)

const topic = "flows.raw"

// rig is a broker, a fake Goldmane's certificates and a timeline.
type rig struct {
	t      *testing.T
	broker *embedkafka.Broker
	certs  goldmanefake.Certs
	tl     goldmanefake.Timeline
}

func newRig(t *testing.T, tick time.Duration, intervals int) *rig {
	t.Helper()
	b, err := embedkafka.Start(embedkafka.Config{Listen: "127.0.0.1:0", Topics: []string{topic}, Partitions: 3})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	certs, err := goldmanefake.NewCerts(t.TempDir(), "calico-ca")
	if err != nil {
		t.Fatal(err)
	}
	base := time.Now().Unix() / goldmanefake.IntervalSeconds * goldmanefake.IntervalSeconds
	return &rig{t: t, broker: b, certs: certs,
		tl: goldmanefake.Timeline{Epoch: time.Now(), Tick: tick, Base: base, Intervals: intervals}}
}

func (r *rig) server(addr string) *goldmanefake.Server {
	r.t.Helper()
	cfg, err := r.certs.ServerTLS("")
	if err != nil {
		r.t.Fatal(err)
	}
	var s *goldmanefake.Server
	// A restarted server takes its predecessor's port, which the kernel
	// may hold for a moment.
	for i := 0; ; i++ {
		s, err = goldmanefake.Start(addr, cfg, r.tl)
		if err == nil || i == 50 {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		r.t.Fatal(err)
	}
	return s
}

func (r *rig) config(addr string) goldmane.Config {
	return goldmane.Config{
		Addr: addr, Topic: topic,
		TLS: goldmane.TLSFiles{CA: r.certs.CA, Cert: r.certs.ClientCert, Key: r.certs.ClientKey, ServerName: goldmanefake.ServerName},
		// The whole (short) timeline, whenever the ingester connects.
		InitialBackfill: 30 * time.Minute,
		BackoffMin:      50 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
		FlushTimeout: 10 * time.Second,
		Log:          zaptest.NewLogger(r.t),
	}
}

func (r *rig) producer() *kgo.Client {
	r.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(r.broker.Addr()), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		r.t.Fatal(err)
	}
	r.t.Cleanup(cl.Close)
	return cl
}

// running is an ingester in a goroutine.
type running struct {
	in     *goldmane.Ingester
	reg    *prometheus.Registry
	m      *goldmane.Metrics
	cancel context.CancelFunc
	done   chan error
}

func (r *rig) start(cfg goldmane.Config) *running {
	r.t.Helper()
	reg := prometheus.NewRegistry()
	cfg.Metrics = goldmane.NewMetrics(reg)
	in, err := goldmane.New(cfg, r.producer())
	if err != nil {
		r.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	run := &running{in: in, reg: reg, m: cfg.Metrics, cancel: cancel, done: make(chan error, 1)}
	go func() { run.done <- in.Run(ctx) }()
	r.t.Cleanup(func() { run.stop(r.t) })
	return run
}

func (run *running) stop(t *testing.T) {
	run.cancel()
	select {
	case err := <-run.done:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
		run.done <- nil
	case <-time.After(30 * time.Second):
		t.Fatal("ingester did not stop")
	}
}

// read returns the topic's records once every wanted one is there, or
// fails.
func (r *rig) read(want map[string]goldmane.Record, timeout time.Duration) []*kgo.Record {
	r.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(r.broker.Addr()), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxWait(100*time.Millisecond))
	if err != nil {
		r.t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var recs []*kgo.Record
	missing := len(want)
	have := map[string]bool{}
	for missing > 0 {
		f := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			r.t.Fatalf("%d records on %s, %d of the wanted ones missing", len(recs), topic, missing)
		}
		for _, rec := range f.Records() {
			recs = append(recs, rec)
			var v struct {
				Start int64 `json:"start_time"`
			}
			if json.Unmarshal(rec.Value, &v) == nil {
				id := recID(v.Start, rec.Key)
				if _, ok := want[id]; ok && !have[id] {
					have[id] = true
					missing--
				}
			}
		}
	}
	// Anything more that is already there.
	ctx2, cancel2 := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel2()
	recs = append(recs, cl.PollFetches(ctx2).Records()...)
	return recs
}

// want is every record the timeline's first n intervals make, by
// (start_time, key).
func (r *rig) want(n int) map[string]goldmane.Record {
	out := map[string]goldmane.Record{}
	for k := range n {
		for _, f := range goldmanefake.Shapes(r.tl.Start(k)) {
			rec, err := goldmane.Convert(f)
			if err != nil {
				r.t.Fatal(err)
			}
			out[recID(f.GetStartTime(), rec.Key)] = rec
		}
	}
	return out
}

func recID(start int64, key []byte) string {
	return string(key) + "@" + time.Unix(start, 0).UTC().Format(time.TimeOnly)
}

// check compares the records with want member by member and returns how
// many times each was seen.
func check(t *testing.T, recs []*kgo.Record, want map[string]goldmane.Record) map[string]int {
	t.Helper()
	seen := map[string]int{}
	partition := map[string]int32{}
	for _, rec := range recs {
		var got map[string]any
		if err := json.Unmarshal(rec.Value, &got); err != nil {
			t.Fatalf("record %s: %v", rec.Value, err)
		}
		id := recID(int64(got["start_time"].(float64)), rec.Key)
		w, ok := want[id]
		if !ok {
			t.Errorf("unexpected record %s: %s", id, rec.Value)
			continue
		}
		seen[id]++
		var exp map[string]any
		if err := json.Unmarshal(w.Value, &exp); err != nil {
			t.Fatal(err)
		}
		for k := range exp {
			if !reflect.DeepEqual(got[k], exp[k]) {
				t.Errorf("%s: %s = %v, want %v", id, k, got[k], exp[k])
			}
		}
		if len(got) != len(exp) {
			t.Errorf("%s: %d members, want %d", id, len(got), len(exp))
		}
		// One flow key, one partition.
		if p, ok := partition[string(rec.Key)]; ok && p != rec.Partition {
			t.Errorf("key %s on partitions %d and %d", rec.Key, p, rec.Partition)
		}
		partition[string(rec.Key)] = rec.Partition
	}
	for id := range want {
		if seen[id] == 0 {
			t.Errorf("record %s missing", id)
		}
	}
	return seen
}

func TestIngestEveryShape(t *testing.T) {
	const intervals = 3
	r := newRig(t, 150*time.Millisecond, intervals)
	srv := r.server("127.0.0.1:0")
	defer srv.Stop()
	cfg := r.config(srv.Addr())
	cfg.StateFile = filepath.Join(t.TempDir(), "state.json")
	run := r.start(cfg)

	want := r.want(intervals)
	recs := r.read(want, 30*time.Second)
	seen := check(t, recs, want)
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s produced %d times", id, n)
		}
	}
	perInterval := len(goldmanefake.Shapes(0))
	waitFor(t, "produced count", func() bool { return testutil.ToFloat64(run.m.Produced) == float64(len(want)) })
	if got := testutil.ToFloat64(run.m.Received); got != float64(len(want)) {
		t.Errorf("received %v, want %d", got, len(want))
	}
	// Each interval's flows carry one hit felix cannot write.
	if got := testutil.ToFloat64(run.m.HitsDropped); got != intervals {
		t.Errorf("policy hits dropped %v, want %d", got, intervals)
	}
	// The last interval is not known to be complete: it is the position.
	if got := testutil.ToFloat64(run.m.Position); got != float64(r.tl.Start(intervals-1)) {
		t.Errorf("position %v, want %d", got, r.tl.Start(intervals-1))
	}
	if got := testutil.ToFloat64(run.m.LastFlowTime); got != float64(r.tl.Start(intervals-1)+15) {
		t.Errorf("last flow time %v", got)
	}
	if err := run.in.Ready(); err != nil {
		t.Errorf("not ready while streaming: %v", err)
	}
	if perInterval < 8 {
		t.Fatalf("Shapes has %d flows", perInterval)
	}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// A Goldmane restart mid-stream: the ingester reconnects, resumes from the
// interval it was in, and skips what it already produced.
func TestServerRestartResumes(t *testing.T) {
	const intervals = 8
	r := newRig(t, 300*time.Millisecond, intervals)
	srv := r.server("127.0.0.1:0")
	addr := srv.Addr()
	cfg := r.config(addr)
	core, logs := observer.New(zap.InfoLevel)
	cfg.Log = zap.New(zapcore.NewTee(core, zaptest.NewLogger(t).Core()))
	run := r.start(cfg)

	waitFor(t, "two intervals", func() bool { return testutil.ToFloat64(run.m.Position) >= float64(r.tl.Start(2)) })
	srv.Stop()
	waitFor(t, "the stream to break", func() bool { return run.in.Ready() != nil })
	time.Sleep(400 * time.Millisecond) // an interval passes while Goldmane is down
	srv = r.server(addr)
	defer srv.Stop()

	want := r.want(intervals)
	recs := r.read(want, 30*time.Second)
	seen := check(t, recs, want)
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s produced %d times across the reconnect", id, n)
		}
	}
	if got := testutil.ToFloat64(run.m.Reconnects); got < 1 {
		t.Errorf("reconnects %v, want >= 1", got)
	}
	// Goldmane replays the position's interval; the ingester had produced it.
	if got := testutil.ToFloat64(run.m.DuplicatesSkipped); got < 1 {
		t.Errorf("duplicates skipped %v, want the resumed interval's", got)
	}
	waitFor(t, "ready again", func() bool { return run.in.Ready() == nil })
	// One episode: one warning however many attempts failed, one recovery.
	broken := logs.FilterMessageSnippet("goldmane stream broken").Len()
	resumed := logs.FilterMessageSnippet("goldmane stream resumed").Len()
	if reconnects := testutil.ToFloat64(run.m.Reconnects); broken != 1 || resumed != 1 || reconnects < 2 {
		t.Errorf("%d reconnect attempts logged %d broken and %d resumed lines; want one of each", int(reconnects), broken, resumed)
	}
}

// A stop mid-stream and a new ingester on the same state file: every
// interval is on the topic, repeats only from the resumed interval, and
// they are counted.
func TestRestartResumesFromStateFile(t *testing.T) {
	const intervals = 6
	r := newRig(t, 300*time.Millisecond, intervals)
	srv := r.server("127.0.0.1:0")
	defer srv.Stop()
	cfg := r.config(srv.Addr())
	cfg.StateFile = filepath.Join(t.TempDir(), "state.json")

	first := r.start(cfg)
	waitFor(t, "two intervals", func() bool { return testutil.ToFloat64(first.m.Position) >= float64(r.tl.Start(2)) })
	first.stop(t)
	time.Sleep(350 * time.Millisecond) // at least one interval while it is down
	second := r.start(cfg)

	want := r.want(intervals)
	recs := r.read(want, 30*time.Second)
	seen := check(t, recs, want)
	perInterval := len(goldmanefake.Shapes(0))
	repeats := 0
	repeatedIntervals := map[string]bool{}
	for id, n := range seen {
		repeats += n - 1
		if n > 1 {
			repeatedIntervals[id[strings.IndexByte(id, '@'):]] = true
		}
	}
	if repeats > perInterval || len(repeatedIntervals) > 1 {
		t.Errorf("%d repeats in intervals %v; want at most one interval's (%d)", repeats, repeatedIntervals, perInterval)
	}
	if got := testutil.ToFloat64(second.m.Replayed); got < float64(repeats) || got > float64(perInterval) {
		t.Errorf("replayed %v: want between the %d repeats and one interval (%d)", got, repeats, perInterval)
	}
}

func TestCertificateProblemsStopWithAClearError(t *testing.T) {
	r := newRig(t, time.Second, 0)
	other, err := goldmanefake.NewCerts(t.TempDir(), "some-other-ca")
	if err != nil {
		t.Fatal(err)
	}
	srv := r.server("127.0.0.1:0")
	defer srv.Stop()

	tests := []struct {
		name   string
		change func(c *goldmane.Config)
		want   []string
	}{
		{"wrong CA", func(c *goldmane.Config) { c.TLS.CA = other.CA }, []string{"not signed by the CA in " + other.CA, "x509"}},
		{"client certificate from another CA", func(c *goldmane.Config) {
			c.TLS.Cert, c.TLS.Key = other.ClientCert, other.ClientKey
		}, []string{"rejected the client certificate " + other.ClientCert}},
		{"wrong server name", func(c *goldmane.Config) { c.TLS.ServerName = "goldmane.example.com" }, []string{"--server-name", "goldmane.example.com"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := r.config(srv.Addr())
			cfg.Log = zaptest.NewLogger(t)
			tc.change(&cfg)
			in, err := goldmane.New(cfg, r.producer())
			if err != nil {
				t.Fatal(err)
			}
			done := make(chan error, 1)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			go func() { done <- in.Run(ctx) }()
			select {
			case err := <-done:
				var ce *goldmane.CertError
				if !errors.As(err, &ce) {
					t.Fatalf("Run = %v, want a CertError", err)
				}
				for _, w := range tc.want {
					if !strings.Contains(err.Error(), w) {
						t.Errorf("error %q does not say %q", err, w)
					}
				}
			case <-time.After(15 * time.Second):
				t.Fatal("no error within 15s: the ingester hangs on a certificate problem")
			}
		})
	}
}

func TestNewNamesTheBadSetting(t *testing.T) {
	r := newRig(t, time.Second, 1)
	dir := t.TempDir()
	tests := []struct {
		name   string
		change func(c *goldmane.Config)
		want   string
	}{
		{"no address", func(c *goldmane.Config) { c.Addr = "" }, "goldmane address"},
		{"no CA", func(c *goldmane.Config) { c.TLS.CA = "" }, "all required"},
		{"missing CA", func(c *goldmane.Config) { c.TLS.CA = filepath.Join(dir, "nope.crt") }, "CA file"},
		{"CA not PEM", func(c *goldmane.Config) { c.TLS.CA = r.certs.ClientKey }, "no PEM certificate"},
		{"key of another cert", func(c *goldmane.Config) {
			other, _ := goldmanefake.NewCerts(filepath.Join(dir, "o"), "x")
			c.TLS.Key = other.ClientKey
		}, "client certificate"},
		{"bad state file", func(c *goldmane.Config) {
			c.StateFile = r.certs.CA
		}, "state file"},
		{"state file in a missing directory", func(c *goldmane.Config) {
			c.StateFile = filepath.Join(dir, "missing", "state.json")
		}, "not writable"},
	}
	for _, tc := range tests {
		cfg := r.config("127.0.0.1:1")
		tc.change(&cfg)
		if _, err := goldmane.New(cfg, r.producer()); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: New = %v, want an error saying %q", tc.name, err, tc.want)
		}
	}
}

// Readiness follows the stream.
func TestReadyz(t *testing.T) {
	r := newRig(t, 200*time.Millisecond, 0)
	srv := r.server("127.0.0.1:0")
	run := r.start(r.config(srv.Addr()))
	waitFor(t, "ready", func() bool { return run.in.Ready() == nil })
	srv.Stop()
	waitFor(t, "not ready", func() bool { return run.in.Ready() != nil })
}
