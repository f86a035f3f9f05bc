package e2e

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// scrape reads a /metrics page with client.
func scrape(t *testing.T, client *http.Client, url string) map[string]*dto.MetricFamily {
	t.Helper()
	resp, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	mfs, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return mfs
}

// counterOf is the value of name's series with the given rule label, and
// whether it is there.
func counterOf(mfs map[string]*dto.MetricFamily, name, rule string) (float64, bool) {
	for _, m := range mfs[name].GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "rule" && l.GetValue() == rule {
				return m.GetCounter().GetValue(), true
			}
		}
	}
	return 0, false
}

// renamedRules is generation gen of a rule file that has, besides two
// rules kept throughout (testRules' threat rule c2 and the filter
// drop-kube-system), one filter (testRules' drop-dev) and one threat rule
// renamed in every generation, as a GitOps repository does over months.
func renamedRules(gen int) string {
	r := strings.Replace(testRules, "filters:\n", fmt.Sprintf(`  - name: odd-port-%d
    severity: low
    when: {field: source_port, equals: 30007}
filters:
`, gen), 1)
	r = strings.Replace(r, "name: drop-dev\n", fmt.Sprintf("name: drop-dev-%d\n", gen), 1)
	return r + `  - name: drop-kube-system
    action: exclude
    when: {field: source_namespace, equals: kube-system}
`
}

// TestRuleSeriesFollowRenames: `flowsieve run` under load while the rule
// file is saved 150 times, each time with two rules renamed. After every
// reload /metrics holds one per-rule series per live rule (no ghost of a
// renamed rule), and the rules present throughout counted every record
// they judged, across all the reloads.
func TestRuleSeriesFollowRenames(t *testing.T) {
	t.Parallel()
	const generations = 150
	e := newEnv(t, 4)
	dir := t.TempDir()
	rulesFile := writeRules(t, dir, renamedRules(0))
	cfg := writeConfig(t, dir, e.addr, "renames", rulesFile)
	listen := freePort(t)
	startChild(t, "run", "--config", cfg, "--metrics.listen="+listen, "--rules.debounce=20ms")
	url := "http://" + listen + "/metrics"
	client := &http.Client{Timeout: 5 * time.Second}

	// Load: batches of records until the renames are done.
	ctx, stop := context.WithCancel(context.Background())
	var (
		wg  sync.WaitGroup
		ins []input
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		seqs := map[int32]int{}
		for batch := 0; ctx.Err() == nil; batch++ {
			b := makeInputs(fmt.Sprintf("r%04d", batch), 200, e.parts, seqs)
			e.produce(b)
			ins = append(ins, b...)
			time.Sleep(20 * time.Millisecond)
		}
	}()
	defer func() {
		stop()
		wg.Wait()
	}()

	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, err := client.Get(url); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("/metrics not served within 30s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.waitProgress("renames", 30*time.Second)
	var lastKube float64
	for gen := 1; gen <= generations; gen++ {
		writeFileAtomic(t, filepath.Join(dir, "rules.yaml"), renamedRules(gen))
		// One scrape is no snapshot (the registry collects each family
		// on its own), so wait until both families show the new rules,
		// then no series of an older rule may be left in either.
		var (
			mfs   map[string]*dto.MetricFamily
			names []string
		)
		deadline := time.Now().Add(20 * time.Second)
		for {
			mfs = scrape(t, client, url)
			names = ruleLabels(mfs, "flowsieve_records_dropped_total", "flowsieve_flows_flagged_total")
			if slices.Contains(names, fmt.Sprint("drop-dev-", gen)) && slices.Contains(names, fmt.Sprint("odd-port-", gen)) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("generation %d: not serving within 20s (per-rule series of %v)", gen, names)
			}
			time.Sleep(10 * time.Millisecond)
		}
		want := fmt.Sprintf("[c2 drop-dev-%[1]d drop-kube-system odd-port-%[1]d]", gen)
		if got := fmt.Sprint(names); got != want {
			t.Fatalf("generation %d: per-rule series of rules %s, want the 4 live rules %s", gen, got, want)
		}
		kube, _ := counterOf(mfs, "flowsieve_records_dropped_total", "drop-kube-system")
		if kube < lastKube {
			t.Fatalf("generation %d: drop-kube-system went back from %v to %v", gen, lastKube, kube)
		}
		lastKube = kube
	}
	stop()
	wg.Wait()
	e.waitCommitted("renames", 60*time.Second)

	mfs := scrape(t, client, url)
	kube, _ := counterOf(mfs, "flowsieve_records_dropped_total", "drop-kube-system")
	c2, _ := counterOf(mfs, "flowsieve_flows_flagged_total", "c2")
	wantKube := countWhere(ins, func(in input) bool {
		return !in.invalid && namespaces[keyIndex(in.key)%len(namespaces)] == "kube-system"
	})
	wantC2 := countWhere(ins, func(in input) bool { return in.threat })
	if int(kube) != wantKube || int(c2) != wantC2 {
		t.Errorf("rules live throughout: drop-kube-system dropped %v, c2 flagged %v; want %d and %d (of %d records)",
			kube, c2, wantKube, wantC2, len(ins))
	}
	series := 0
	for name, mf := range mfs {
		if strings.HasPrefix(name, "flowsieve_") {
			series += len(mf.GetMetric())
		}
	}
	t.Logf("%d records over %d reloads; %d flowsieve_* series at the end", len(ins), generations, series)
}

// ruleLabels returns the rule label of every series of the families,
// sorted.
func ruleLabels(mfs map[string]*dto.MetricFamily, families ...string) []string {
	var names []string
	for _, family := range families {
		for _, m := range mfs[family].GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "rule" {
					names = append(names, l.GetValue())
				}
			}
		}
	}
	slices.Sort(names)
	return names
}
