package deploy

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/flowsieve/flowsieve/config"
)

// Labels Prometheus adds to every scraped series (static config: job,
// instance; the Prometheus Operator's PodMonitor: namespace, pod,
// container, endpoint too).
var targetLabels = []string{"job", "instance", "namespace", "pod", "container", "endpoint"}

// syncBuffer collects a child process's output for failure messages.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freeAddr(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	_ = l.Close()
	return addr
}

// cleanEnv is the test's environment without FLOWSIEVE_* variables, which
// would reach the child's config.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "FLOWSIEVE_") {
			env = append(env, kv)
		}
	}
	return append(env, extra...)
}

// scrape gathers /metrics as metric families.
func scrape(url string) (map[string]*dto.MetricFamily, error) {
	resp, err := http.Get(url)
	if err != nil {
		return nil, err
	}
	defer func() { _ = resp.Body.Close() }()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	return p.TextToMetricFamilies(resp.Body)
}

// exported maps each series name flowsieve's /metrics serves to the label
// names seen on it (a histogram family serves _bucket, _sum and _count, a
// summary the family name, _sum and _count).
func exported(fams map[string]*dto.MetricFamily) map[string][]string {
	out := map[string][]string{}
	for name, f := range fams {
		var lbls []string
		for _, m := range f.GetMetric() {
			for _, lp := range m.GetLabel() {
				if !slices.Contains(lbls, lp.GetName()) {
					lbls = append(lbls, lp.GetName())
				}
			}
		}
		switch f.GetType() {
		case dto.MetricType_HISTOGRAM:
			out[name+"_bucket"] = append(slices.Clone(lbls), "le")
			out[name+"_sum"] = lbls
			out[name+"_count"] = lbls
		case dto.MetricType_SUMMARY:
			out[name] = append(slices.Clone(lbls), "quantile")
			out[name+"_sum"] = lbls
			out[name+"_count"] = lbls
		default:
			out[name] = lbls
		}
	}
	return out
}

func gaugeValue(fams map[string]*dto.MetricFamily, name string) (float64, bool) {
	f, ok := fams[name]
	if !ok || len(f.GetMetric()) == 0 {
		return 0, false
	}
	return f.GetMetric()[0].GetGauge().GetValue(), true
}

func counterValue(fams map[string]*dto.MetricFamily, name string, lbls map[string]string) float64 {
	var sum float64
	for _, m := range fams[name].GetMetric() {
		match := true
		for k, v := range lbls {
			found := false
			for _, lp := range m.GetLabel() {
				if lp.GetName() == k && lp.GetValue() == v {
					found = true
				}
			}
			match = match && found
		}
		if match {
			sum += m.GetCounter().GetValue()
		}
	}
	return sum
}

// TestQueriesUseExportedMetrics runs the real pipeline (the binary the
// Dockerfile builds, on its embedded broker), feeds it records through the
// generator the compose file runs and a few made to hit every path (kept,
// dropped, flagged, invalid, a failed reload), and checks that every metric
// and label the dashboard and the alert rules read is on its /metrics.
func TestQueriesUseExportedMetrics(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the pipeline")
	}
	bin := buildLikeDockerfile(t)
	m := decodeManifests(t)
	dir := t.TempDir()

	// The rules of the Kubernetes ConfigMap: they have a filter, threat
	// rules and a feed, and belong to this package (the sample rules in
	// config/ may change under other tests' feet). They are laid out as
	// the kubelet lays out a ConfigMap volume, and changed as it changes
	// one, so the test also shows that a ConfigMap update reaches the
	// running process.
	rulesDir := filepath.Join(dir, "rules")
	cmData := maps.Clone(m.configMaps["flowsieve-rules"].Data)
	// Plus a GlobalThreatFeed pulled from a local server, for the feed
	// metrics the stale-feed alert reads.
	feedSrv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("198.51.100.0/24\n"))
	}))
	defer feedSrv.Close()
	cmData["feeds.yaml"] = "apiVersion: projectcalico.org/v3\nkind: GlobalThreatFeed\nmetadata: {name: pulled}\n" +
		"spec: {pull: {http: {url: '" + feedSrv.URL + "/ips.txt'}}}\n"
	cmData["rules.yaml"] = strings.Replace(cmData["rules.yaml"], "feeds:\n", "feeds:\n  - globalthreatfeeds: feeds.yaml\n", 1)
	writeConfigMapVolume(t, rulesDir, cmData)
	rulesFile := filepath.Join(rulesDir, "rules.yaml")

	broker, metricsAddr := freeAddr(t), freeAddr(t)
	cfgFile := filepath.Join(repoRoot, "config", "flowsieve.yaml")
	cfg, err := config.Load(config.Sources{File: cfgFile})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	startRun(t, ctx, bin, cfgFile,
		"FLOWSIEVE_EMBEDDED_LISTEN="+broker,
		"FLOWSIEVE_EMBEDDED_DATA_DIR="+filepath.Join(dir, "kafka"),
		"FLOWSIEVE_FEEDS_CACHE_DIR="+filepath.Join(dir, "feeds"),
		"FLOWSIEVE_EMBEDDED_PARTITIONS=2",
		"FLOWSIEVE_METRICS_LISTEN="+metricsAddr,
		"FLOWSIEVE_RULES_FILE="+rulesFile,
		"FLOWSIEVE_RULES_DEBOUNCE=50ms",
		"FLOWSIEVE_LOG_FORMAT=json",
	)

	metricsURL := "http://" + metricsAddr + "/metrics"
	waitFor(t, ctx, "/readyz to answer 200", func() (bool, error) {
		resp, err := http.Get("http://" + metricsAddr + "/readyz")
		if err != nil {
			return false, nil
		}
		_ = resp.Body.Close()
		return resp.StatusCode == http.StatusOK, nil
	})

	// The generator, with the compose file's arguments; only the broker
	// address, the feed path (the same feed, from the ConfigMap) and the
	// count differ.
	args := []string{"gen"}
	for name, value := range genFlags(t, loadCompose(t).Services["gen"].Command) {
		switch name {
		case "brokers":
			value = broker
		case "threat-ips":
			value = filepath.Join(rulesDir, "c2-sample.txt")
		case "count":
			value = "300"
		case "rate":
			value = "0"
		}
		args = append(args, "--"+name+"="+value)
	}
	if gen, err := exec.CommandContext(ctx, bin, args...).CombinedOutput(); err != nil {
		t.Fatalf("flowsieve %s: %v\n%s", strings.Join(args, " "), err, gen)
	}

	// Records for the paths the generator may not take.
	cl, err := kgo.NewClient(kgo.SeedBrokers(broker), kgo.DefaultProduceTopic(cfg.Input.Topics[0]))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for _, v := range []string{
		`{"source_namespace":"dev","dest_namespace":"shop","action":"allow","proto":"tcp","dest_port":443}`,
		`{"source_namespace":"shop","dest_ip":"198.51.100.7","dest_port":443,"action":"allow","proto":"tcp"}`,
		`{"source_namespace":"shop","dest_ip":"10.0.0.9","dest_port":4444,"action":"allow","proto":"tcp"}`,
		`this is not a flow log`,
	} {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	waitFor(t, ctx, "drops, flags, parse errors, kept records and latencies on /metrics", func() (bool, error) {
		fams, err := scrape(metricsURL)
		if err != nil {
			return false, err
		}
		return counterValue(fams, "flowsieve_records_dropped_total", nil) > 0 &&
			counterValue(fams, "flowsieve_flows_flagged_total", map[string]string{"severity": "critical"}) > 0 &&
			counterValue(fams, "flowsieve_parse_errors_total", nil) > 0 &&
			counterValue(fams, "flowsieve_records_produced_total", map[string]string{"topic": cfg.Output.KeptTopic}) > 0 &&
			fams["flowsieve_processing_latency_seconds"].GetMetric() != nil &&
			counterValue(fams, "flowsieve_feed_pulls_total", map[string]string{"feed": "pulled", "result": "updated"}) > 0, nil
	})

	versionOf := func(fams map[string]*dto.MetricFamily) string {
		for _, m := range fams["flowsieve_rules_version_info"].GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "version" {
					return lp.GetValue()
				}
			}
		}
		return ""
	}
	fams, err := scrape(metricsURL)
	if err != nil {
		t.Fatal(err)
	}
	firstVersion := versionOf(fams)

	// A ConfigMap update whose rules do not load: the reload fails, and
	// the metric the FlowsieveRulesReloadFailing alert reads says so.
	broken := maps.Clone(cmData)
	broken["rules.yaml"] = "filters: [ {name: broken\n"
	writeConfigMapVolume(t, rulesDir, broken)
	waitFor(t, ctx, "a failed reload on /metrics", func() (bool, error) {
		fams, err := scrape(metricsURL)
		if err != nil {
			return false, err
		}
		v, ok := gaugeValue(fams, "flowsieve_rules_last_reload_successful")
		return ok && v == 0 && counterValue(fams, "flowsieve_rules_reloads_total", map[string]string{"result": "failure"}) > 0, nil
	})

	// Repaired, with a new comment so the content (and version) differs
	// from the rules still serving: the watcher skips a reload to the
	// version in force without reporting it.
	repaired := maps.Clone(cmData)
	repaired["rules.yaml"] += "\n# repaired\n"
	writeConfigMapVolume(t, rulesDir, repaired)
	waitFor(t, ctx, "the repaired rules to reload", func() (bool, error) {
		fams, err = scrape(metricsURL)
		if err != nil {
			return false, err
		}
		v, ok := gaugeValue(fams, "flowsieve_rules_last_reload_successful")
		return ok && v == 1 && versionOf(fams) != firstVersion, nil
	})

	have := exported(fams)
	d := readDashboard(t)
	_, alertQueries := readAlerts(t)
	uses := append(parseQueries(t, d.queries, d.variables), parseQueries(t, alertQueries, nil)...)
	for _, u := range uses {
		lbls, ok := have[u.metric]
		if !ok {
			t.Errorf("%s reads %s, which flowsieve does not export", u.where, u.metric)
			continue
		}
		for _, l := range u.labels {
			if !slices.Contains(lbls, l) && !slices.Contains(targetLabels, l) {
				t.Errorf("%s: %s has no label %q (it has %v)", u.where, u.metric, l, lbls)
			}
		}
	}
}

// startRun starts `bin run --config cfgFile` in the repository with env
// (FLOWSIEVE_* settings) over a clean environment. It is interrupted, as
// a container is stopped, when ctx ends or the test does; its output is
// logged if the test failed.
func startRun(t *testing.T, ctx context.Context, bin, cfgFile string, env ...string) {
	t.Helper()
	out := &syncBuffer{}
	run := exec.CommandContext(ctx, bin, "run", "--config", cfgFile)
	run.Dir = repoRoot
	run.Env = cleanEnv(env...)
	run.Stdout, run.Stderr = out, out
	run.Cancel = func() error { return run.Process.Signal(os.Interrupt) }
	run.WaitDelay = 10 * time.Second
	if err := run.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = run.Process.Signal(os.Interrupt)
		_ = run.Wait()
		if t.Failed() {
			t.Logf("flowsieve run output:\n%s", out.String())
		}
	})
}

// writeConfigMapVolume writes data into dir the way the kubelet updates a
// ConfigMap volume: the files go to a new hidden directory, the "..data"
// symlink is replaced by rename to point at it, each key is a symlink
// through "..data", and the previous directory is removed.
func writeConfigMapVolume(t *testing.T, dir string, data map[string]string) {
	t.Helper()
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	old, _ := os.Readlink(filepath.Join(dir, "..data"))
	ts := ".." + time.Now().UTC().Format("2006_01_02_15_04_05.000000000")
	if err := os.Mkdir(filepath.Join(dir, ts), 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range data {
		if err := os.WriteFile(filepath.Join(dir, ts, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tmp := filepath.Join(dir, "..data_tmp")
	if err := os.Symlink(ts, tmp); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, "..data")); err != nil {
		t.Fatal(err)
	}
	for name := range data {
		link := filepath.Join(dir, name)
		if _, err := os.Lstat(link); err == nil {
			continue
		}
		if err := os.Symlink(filepath.Join("..data", name), link); err != nil {
			t.Fatal(err)
		}
	}
	if old != "" {
		if err := os.RemoveAll(filepath.Join(dir, old)); err != nil {
			t.Fatal(err)
		}
	}
}

// waitFor polls cond until it holds or ctx ends.
func waitFor(t *testing.T, ctx context.Context, what string, cond func() (bool, error)) {
	t.Helper()
	var lastErr error
	for {
		ok, err := cond()
		if ok {
			return
		}
		lastErr = err
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s (last error: %v)", what, lastErr)
		case <-time.After(100 * time.Millisecond):
		}
	}
}
