package e2e

import (
	"crypto/tls"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/flowsieve/flowsieve/codec"
	"github.com/flowsieve/flowsieve/ingest/goldmane"
	"github.com/flowsieve/flowsieve/internal/goldmanefake"
)

// goldmaneRules judge the fake's flows: the denied flows to the public
// network are threats, the dev namespace's flows are dropped.
const goldmaneRules = `threats:
  - name: denied-egress-public
    severity: medium
    when:
      all:
        - {field: action, equals: deny}
        - {field: dest_name_aggr, equals: pub}
filters:
  - name: drop-dev-namespace
    action: exclude
    when:
      any:
        - {field: source_namespace, equals: dev}
        - {field: dest_namespace, equals: dev}
`

// TestGoldmaneIngest: `flowsieve ingest goldmane` streams a Goldmane
// (the fake, over mutual TLS) into the raw topic; killed with SIGKILL
// mid-stream and started again it leaves every interval's flows on the
// topic, with repeats only from the interval it resumed and counted. The
// records match the mapping member by member, and `flowsieve run` judges
// them.
func TestGoldmaneIngest(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 3)
	dir := t.TempDir()
	const intervals = 8
	certs, tl, _, srv := startFakeGoldmane(t, dir, intervals, 700*time.Millisecond)
	defer srv.Stop()

	state := filepath.Join(dir, "state.json")
	metricsAddr := freePort(t)
	args := []string{"ingest", "goldmane", "--goldmane", srv.Addr(), "--server-name", goldmanefake.ServerName,
		"--ca", certs.CA, "--cert", certs.ClientCert, "--key", certs.ClientKey,
		"--brokers", e.addr, "--topic", rawTopic, "--state-file", state, "--initial-backfill", "30m",
		"--backoff-min", "50ms", "--metrics-listen", metricsAddr, "--log-format", "json"}

	first := startChild(t, args...)
	// Kill it once it has finished two intervals.
	waitUntil(t, 30*time.Second, "two intervals on the topic", func() bool {
		var s struct {
			ResumeFrom int64 `json:"resume_from"`
		}
		b, err := os.ReadFile(state)
		return err == nil && json.Unmarshal(b, &s) == nil && s.ResumeFrom >= tl.Start(2)
	})
	if err := first.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	first.wait(t, 10*time.Second)
	time.Sleep(tl.Tick) // an interval completes while it is down

	second := startChild(t, args...)
	want := map[string][]byte{}
	perInterval := 0
	for k := range intervals {
		flows := goldmanefake.Shapes(tl.Start(k))
		perInterval = len(flows)
		for _, f := range flows {
			rec, err := goldmane.Convert(f)
			if err != nil {
				t.Fatal(err)
			}
			want[goldmaneID(f.GetStartTime(), rec.Key)] = rec.Value
		}
	}
	var raw []*kgo.Record
	waitUntil(t, 60*time.Second, "every interval on the topic", func() bool {
		raw = e.readTopics(rawTopic)[rawTopic]
		have := map[string]bool{}
		for _, r := range raw {
			have[goldmaneID(startOf(t, r.Value), r.Key)] = true
		}
		return len(have) == len(want)
	})

	// Member by member, one partition per flow key, repeats bounded.
	seen := map[string]int{}
	partition := map[string]int32{}
	for _, r := range raw {
		id := goldmaneID(startOf(t, r.Value), r.Key)
		exp, ok := want[id]
		if !ok {
			t.Fatalf("unexpected record %s", r.Value)
		}
		seen[id]++
		var got, wantMembers map[string]any
		if err := json.Unmarshal(r.Value, &got); err != nil {
			t.Fatal(err)
		}
		if err := json.Unmarshal(exp, &wantMembers); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, wantMembers) {
			t.Errorf("record %s:\n got %s\nwant %s", id, r.Value, exp)
		}
		if p, ok := partition[string(r.Key)]; ok && p != r.Partition {
			t.Errorf("flow key %s on partitions %d and %d", r.Key, p, r.Partition)
		}
		partition[string(r.Key)] = r.Partition
	}
	repeats, repeated := 0, map[string]bool{}
	for id, n := range seen {
		if n > 1 {
			repeats += n - 1
			repeated[id[strings.IndexByte(id, '@')+1:]] = true
		}
	}
	mfs := scrape(t, http.DefaultClient, "http://"+metricsAddr+"/metrics")
	replayed := mfs["flowsieve_ingest_replayed_flows_total"].GetMetric()[0].GetCounter().GetValue()
	t.Logf("%d records, %d repeats (intervals %v), replayed counter %v", len(raw), repeats, repeated, replayed)
	if repeats > perInterval || len(repeated) > 1 {
		t.Errorf("%d repeats in intervals %v: want at most one interval's %d", repeats, repeated, perInterval)
	}
	if replayed < float64(repeats) || replayed > float64(perInterval) {
		t.Errorf("flowsieve_ingest_replayed_flows_total %v: want between the %d repeats and one interval (%d)", replayed, repeats, perInterval)
	}
	resp, err := http.Get("http://" + metricsAddr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/readyz %s while streaming", resp.Status)
	}
	if err := second.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := second.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("exit %d after SIGTERM", code)
	}

	// flowsieve run judges the records like any felix records.
	cfg := writeConfig(t, dir, e.addr, "goldmane", writeRules(t, dir, goldmaneRules))
	startChild(t, "run", "--config", cfg)
	e.waitCommitted("goldmane", 60*time.Second)
	outs := e.readTopics(keptTopic, threatsTopic, invalidTopic)
	if n := len(outs[invalidTopic]); n != 0 {
		t.Errorf("%d invalid records: %s", n, outs[invalidTopic][0].Value)
	}
	var wantKept, wantThreats int
	for _, r := range raw {
		var f codec.Flow
		if err := codec.Decode(r.Value, &f); err != nil {
			t.Fatal(err)
		}
		if f.Get(codec.SourceNamespace).Str != "dev" {
			wantKept++
		}
		if f.Get(codec.Action).Str == "deny" && f.Get(codec.DestNameAggr).Str == "pub" {
			wantThreats++
		}
	}
	if wantThreats == 0 || wantKept == len(raw) {
		t.Fatal("the fake's flows exercise neither rule")
	}
	if len(outs[keptTopic]) != wantKept || len(outs[threatsTopic]) != wantThreats {
		t.Errorf("kept %d, threats %d; want %d, %d", len(outs[keptTopic]), len(outs[threatsTopic]), wantKept, wantThreats)
	}
	for _, r := range outs[threatsTopic] {
		if !strings.Contains(string(r.Value), "denied-egress-public") {
			t.Errorf("threat record without its rule: %s", r.Value)
		}
	}
}

// TestGoldmaneIngestCertificateErrors: a wrong CA or a client certificate
// Goldmane does not trust stops the ingester at once with a message that
// names the certificate problem.
func TestGoldmaneIngestCertificateErrors(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 1)
	dir := t.TempDir()
	certs, err := goldmanefake.NewCerts(filepath.Join(dir, "calico"), "calico-ca")
	if err != nil {
		t.Fatal(err)
	}
	other, err := goldmanefake.NewCerts(filepath.Join(dir, "other"), "other-ca")
	if err != nil {
		t.Fatal(err)
	}
	srvTLS, err := certs.ServerTLS("")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := goldmanefake.Start("127.0.0.1:0", srvTLS, goldmanefake.Timeline{Epoch: time.Now(), Tick: time.Second, Base: 1764650000})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	for _, tc := range []struct {
		name          string
		ca, cert, key string
		want          string
	}{
		{"wrong CA", other.CA, certs.ClientCert, certs.ClientKey, "Goldmane's certificate is not signed by the CA in " + other.CA},
		{"untrusted client certificate", certs.CA, other.ClientCert, other.ClientKey, "Goldmane rejected the client certificate " + other.ClientCert},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := startChild(t, "ingest", "goldmane", "--goldmane", srv.Addr(), "--server-name", goldmanefake.ServerName,
				"--ca", tc.ca, "--cert", tc.cert, "--key", tc.key, "--brokers", e.addr, "--log-format", "json")
			if code := c.wait(t, 20*time.Second); code != exitFailureCode {
				t.Errorf("exit %d, want %d", code, exitFailureCode)
			}
			if !strings.Contains(c.out.String(), tc.want) {
				t.Errorf("output does not say %q:\n%s", tc.want, c.out.String())
			}
		})
	}
}

const exitFailureCode = 1

func goldmaneID(start int64, key []byte) string {
	return string(key) + "@" + time.Unix(start, 0).UTC().Format(time.TimeOnly)
}

func startOf(t *testing.T, value []byte) int64 {
	t.Helper()
	var v struct {
		Start int64 `json:"start_time"`
	}
	if err := json.Unmarshal(value, &v); err != nil {
		t.Fatalf("%s: %v", value, err)
	}
	return v.Start
}

func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestGoldmaneIngestServerRestart: Goldmane stops mid-stream and comes
// back on the same address; the running ingester reconnects, resumes
// from its position, and every interval is on the topic exactly once.
func TestGoldmaneIngestServerRestart(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 3)
	dir := t.TempDir()
	const intervals = 8
	certs, tl, srvTLS, srv := startFakeGoldmane(t, dir, intervals, 500*time.Millisecond)
	addr := srv.Addr()
	metricsAddr := freePort(t)
	c := startChild(t, "ingest", "goldmane", "--goldmane", addr, "--server-name", goldmanefake.ServerName,
		"--ca", certs.CA, "--cert", certs.ClientCert, "--key", certs.ClientKey,
		"--brokers", e.addr, "--initial-backfill", "30m", "--backoff-min", "50ms", "--backoff-max", "200ms",
		"--metrics-listen", metricsAddr, "--log-format", "json")
	metric := func(name string) float64 {
		resp, err := http.Get("http://" + metricsAddr + "/metrics")
		if err != nil {
			return -1
		}
		resp.Body.Close()
		mfs := scrape(t, http.DefaultClient, "http://"+metricsAddr+"/metrics")
		if m := mfs[name].GetMetric(); len(m) == 1 {
			if m[0].GetCounter() != nil {
				return m[0].GetCounter().GetValue()
			}
			return m[0].GetGauge().GetValue()
		}
		return -1
	}
	waitUntil(t, 30*time.Second, "two intervals", func() bool {
		return metric("flowsieve_ingest_position_seconds") >= float64(tl.Start(2))
	})
	srv.Stop()
	waitUntil(t, 10*time.Second, "the stream to break", func() bool {
		return metric("flowsieve_ingest_connected") == 0
	})
	time.Sleep(tl.Tick)
	for i := 0; ; i++ { // the port may linger for a moment
		var err error
		if srv, err = goldmanefake.Start(addr, srvTLS, tl); err == nil {
			break
		}
		if i == 50 {
			t.Fatal(err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	defer srv.Stop()

	perInterval := len(goldmanefake.Shapes(0))
	var raw []*kgo.Record
	waitUntil(t, 60*time.Second, "every interval on the topic", func() bool {
		raw = e.readTopics(rawTopic)[rawTopic]
		return len(raw) >= intervals*perInterval
	})
	seen := map[string]int{}
	for _, r := range raw {
		seen[goldmaneID(startOf(t, r.Value), r.Key)]++
	}
	if len(seen) != intervals*perInterval || len(raw) != len(seen) {
		t.Errorf("%d records, %d distinct; want %d, each once", len(raw), len(seen), intervals*perInterval)
	}
	if got := metric("flowsieve_ingest_reconnects_total"); got < 1 {
		t.Errorf("reconnects %v, want >= 1", got)
	}
	if got := metric("flowsieve_ingest_duplicates_skipped_total"); got < 1 {
		t.Errorf("duplicates skipped %v: Goldmane resent the resumed interval, the ingester should have skipped it", got)
	}
	if n := strings.Count(c.out.String(), "goldmane stream broken"); n != 1 {
		t.Errorf("%d 'stream broken' lines for one outage, want 1:\n%s", n, c.out.String())
	}
}

// startFakeGoldmane starts the stand-in Goldmane over mutual TLS, with
// certificates under dir/certs, serving intervals intervals tick apart.
func startFakeGoldmane(t *testing.T, dir string, intervals int, tick time.Duration) (goldmanefake.Certs, goldmanefake.Timeline, *tls.Config, *goldmanefake.Server) {
	t.Helper()
	certs, err := goldmanefake.NewCerts(filepath.Join(dir, "certs"), "calico-ca")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tl := goldmanefake.Timeline{Epoch: now, Tick: tick, Base: now.Unix() / 15 * 15, Intervals: intervals}
	srvTLS, err := certs.ServerTLS("")
	if err != nil {
		t.Fatal(err)
	}
	srv, err := goldmanefake.Start("127.0.0.1:0", srvTLS, tl)
	if err != nil {
		t.Fatal(err)
	}
	return certs, tl, srvTLS, srv
}
