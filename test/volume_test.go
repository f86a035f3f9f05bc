package e2e

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/flowsieve/flowsieve/codec"
	"github.com/flowsieve/flowsieve/codec/flowgen"
	"github.com/flowsieve/flowsieve/internal/calicoreal"
	"github.com/flowsieve/flowsieve/processor"
	"github.com/flowsieve/flowsieve/rules"
)

// volumeRules flag the flowgen threat addresses and sample the allowed
// flows at 0.25.
func volumeRules() string {
	var cidrs []string
	for _, a := range flowgen.DefaultThreatIPs {
		cidrs = append(cidrs, a.String())
	}
	return fmt.Sprintf(`
threats:
  - name: c2
    severity: critical
    when:
      any:
        - {field: dest_ip, cidr: [%[1]s]}
        - {field: source_ip, cidr: [%[1]s]}
filters:
  - name: sample-allowed
    action: sample
    rate: 0.25
    when: {field: action, equals: allow}
`, strings.Join(cidrs, ", "))
}

func withMetrics(reg *prometheus.Registry) pipelineOpt {
	return func(c *processor.Config) { c.Metrics = processor.NewMetrics(reg) }
}

// TestSampleHonestTotals runs 20,000 mixed records (text and JSON) through
// the pipeline with a sample rule at 0.25: the kept sampled records carry
// the rate (header, and member in JSON), their scaled num_flows and bytes
// sum to within 5 % of the true sums over the flows the rule saw, every
// flagged flow is in the threats topic unscaled, and the metrics show the
// rule's seen, kept, true and estimated bytes and the bytes in and out.
func TestSampleHonestTotals(t *testing.T) {
	e := newEnv(t, 4)
	dir := t.TempDir()
	rulesPath := writeRules(t, dir, volumeRules())
	set, err := rules.LoadFile(rulesPath)
	if err != nil {
		t.Fatal(err)
	}
	const n = 20000
	g := flowgen.New(11, flowgen.Options{})
	ins := make([]input, n)
	var f codec.Flow
	var v rules.Verdict
	var inBytes float64
	var seen, trueFlows, trueBytes float64
	var wantKept, wantFlagged int
	sampledByKey := map[string]bool{}
	for i := range ins {
		format := codec.FormatText
		if i%2 == 1 {
			format = codec.FormatJSON
		}
		ins[i] = input{key: fmt.Sprintf("k%d", i), value: g.Append(nil, format), partition: int32(i % 4)}
		inBytes += float64(len(ins[i].value))
		if err := codec.Decode(ins[i].value, &f); err != nil {
			t.Fatal(err)
		}
		set.Judge(&f, &v)
		if v.Flagged() {
			wantFlagged++
		}
		if v.Keep {
			wantKept++
		}
		if len(v.Samples) > 0 {
			seen++
			trueFlows += float64(f.Get(codec.NumFlows).Int)
			trueBytes += float64(rules.FlowBytes(&f))
			sampledByKey[ins[i].key] = true
		}
	}
	reg := prometheus.NewRegistry()
	pl := e.startPipeline("volume", rulesPath, withMetrics(reg))
	e.produce(ins)
	e.waitCommitted("volume", 60*time.Second)
	outs := e.readTopics(keptTopic, threatsTopic, invalidTopic)
	if len(outs[invalidTopic]) != 0 {
		t.Fatalf("%d invalid records", len(outs[invalidTopic]))
	}
	if len(outs[keptTopic]) != wantKept || len(outs[threatsTopic]) != wantFlagged {
		t.Fatalf("kept %d (want %d), flagged %d (want %d)", len(outs[keptTopic]), wantKept, len(outs[threatsTopic]), wantFlagged)
	}
	byKey := map[string][]byte{}
	for _, in := range ins {
		byKey[in.key] = in.value
	}
	var estFlows, estBytes, outBytes float64
	var sampledKept int
	var in codec.Flow
	for _, r := range outs[keptTopic] {
		outBytes += float64(len(r.Value))
		rate := headers(r)[processor.HeaderSampleRate]
		if !sampledByKey[string(r.Key)] {
			if rate != "" || string(r.Value) != string(byKey[string(r.Key)]) {
				t.Fatalf("a flow no sample rule saw came out changed or marked: %s %q", r.Value, rate)
			}
			continue
		}
		sampledKept++
		if rate != "0.25" {
			t.Fatalf("sampled kept record %s: header %q", r.Value, rate)
		}
		if err := codec.Decode(r.Value, &f); err != nil {
			t.Fatal(err)
		}
		if err := codec.Decode(byKey[string(r.Key)], &in); err != nil {
			t.Fatal(err)
		}
		if f.Format() != in.Format() {
			t.Fatalf("format changed: %s", r.Value)
		}
		if m, ok := f.Lookup(codec.SampleRateMember); (f.Format() == codec.FormatJSON) != ok || ok && m.Str != "0.25" {
			t.Fatalf("%s: sample-rate member %v %q", r.Value, ok, m.Str)
		}
		if got, want := f.Get(codec.NumFlows).Int, 4*in.Get(codec.NumFlows).Int; got != want {
			t.Fatalf("num_flows %d, want %d: %s", got, want, r.Value)
		}
		estFlows += float64(f.Get(codec.NumFlows).Int)
		estBytes += float64(rules.FlowBytes(&f))
	}
	for name, p := range map[string][2]float64{"num_flows": {trueFlows, estFlows}, "bytes": {trueBytes, estBytes}} {
		if e := math.Abs(p[1]-p[0]) / p[0]; e > 0.05 {
			t.Errorf("%s: scaled sum %v, true %v: off by %.1f %%", name, p[1], p[0], 100*e)
		}
	}
	// Threat records: the flow whole and unscaled.
	for _, r := range outs[threatsTopic] {
		var rec struct {
			NumFlows *int64 `json:"num_flows"`
			Rate     any    `json:"flowsieve_sample_rate"`
		}
		if err := json.Unmarshal(r.Value, &rec); err != nil {
			t.Fatal(err)
		}
		if err := codec.Decode(byKey[string(r.Key)], &in); err != nil {
			t.Fatal(err)
		}
		if rec.NumFlows == nil || *rec.NumFlows != in.Get(codec.NumFlows).Int || rec.Rate != nil || headers(r)[processor.HeaderSampleRate] != "" {
			t.Fatalf("threat record scaled or marked: %s", r.Value)
		}
	}
	if err := pl.stop(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name, labels string
		want         float64
	}{
		{"flowsieve_sample_seen_total", "rule=sample-allowed", seen},
		{"flowsieve_sample_kept_total", "rule=sample-allowed", float64(sampledKept)},
		{"flowsieve_sample_bytes_total", "rule=sample-allowed", trueBytes},
		{"flowsieve_bytes_consumed_total", "topic=" + rawTopic, inBytes},
		{"flowsieve_bytes_produced_total", "topic=" + keptTopic, outBytes},
	} {
		if got := gatherOf(t, reg, c.name)[c.labels]; got != c.want {
			t.Errorf("%s{%s} = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	est := gatherOf(t, reg, "flowsieve_sample_bytes_estimated_total")["rule=sample-allowed"]
	if e := math.Abs(est-trueBytes) / trueBytes; e > 0.05 {
		t.Errorf("estimated bytes %v, true %v", est, trueBytes)
	}
	t.Logf("seen %v, kept %d; num_flows true %v estimated %v; bytes true %v estimated %v (metric %v); bytes in %v, kept out %v",
		seen, sampledKept, trueFlows, estFlows, trueBytes, estBytes, est, inBytes, outBytes)
}

// TestCapFloodE2E: one namespace floods among steady ones under a cap
// rule. The steady namespaces' flows come out whole, unscaled; the flood
// is cut to a fraction and its scaled bytes stay within 5 % of the truth.
// The clock is the wall clock here (the per-second arithmetic is tested
// with an injected clock in rules' TestCapFlood).
func TestCapFloodE2E(t *testing.T) {
	e := newEnv(t, 1)
	dir := t.TempDir()
	rulesPath := writeRules(t, dir, `
filters:
  - name: cap-per-namespace
    action: cap
    per: source_namespace
    max_per_sec: 500
    when: {field: action, equals: allow}
`)
	const flood, steady = 30000, 100
	var ins []input
	var floodBytes float64
	for i := range flood {
		if i%(flood/steady) == 0 {
			for _, ns := range []string{"a", "b", "c"} {
				ins = append(ins, input{key: "steady-" + ns, value: fmt.Appendf(nil,
					"1700000000 1700000300 wep %s web-* - wep prod db-* - - - 6 - %d 1 1 0 src 10 10 1000 2000 allow", ns, 1024+i)})
			}
		}
		v := fmt.Appendf(nil, "1700000000 1700000300 wep scan web-* - wep prod db-* - - - 6 - %d 1 1 0 src 10 10 1000 %d allow", 1024+i, 500+i%97)
		floodBytes += float64(1000 + 500 + i%97)
		ins = append(ins, input{key: "flood", value: v})
	}
	reg := prometheus.NewRegistry()
	pl := e.startPipeline("cap", rulesPath, withMetrics(reg))
	e.produce(ins)
	e.waitCommitted("cap", 120*time.Second)
	outs := e.readTopics(keptTopic)
	var floodKept int
	var floodEst float64
	steadyKept := map[string]int{}
	var f codec.Flow
	for _, r := range outs[keptTopic] {
		if strings.HasPrefix(string(r.Key), "steady-") {
			if headers(r)[processor.HeaderSampleRate] != "" || !strings.HasSuffix(string(r.Value), " 1000 2000 allow") {
				t.Fatalf("steady flow changed: %s", r.Value)
			}
			steadyKept[string(r.Key)]++
			continue
		}
		floodKept++
		if err := codec.Decode(r.Value, &f); err != nil {
			t.Fatal(err)
		}
		floodEst += float64(rules.FlowBytes(&f))
	}
	for _, ns := range []string{"a", "b", "c"} {
		if steadyKept["steady-"+ns] != steady {
			t.Errorf("steady namespace %s: %d of %d kept", ns, steadyKept["steady-"+ns], steady)
		}
	}
	if floodKept >= flood/2 {
		t.Errorf("kept %d of %d flood flows", floodKept, flood)
	}
	if e := math.Abs(floodEst-floodBytes) / floodBytes; e > 0.05 {
		t.Errorf("flood bytes: scaled %v, true %v: off by %.1f %%", floodEst, floodBytes, 100*e)
	}
	if err := pl.stop(); err != nil {
		t.Fatal(err)
	}
	if got := gatherOf(t, reg, "flowsieve_sample_seen_total")["rule=cap-per-namespace"]; got != flood+3*steady {
		t.Errorf("cap seen %v, want %d", got, flood+3*steady)
	}
	t.Logf("flood: kept %d of %d; bytes true %v, estimated %v", floodKept, flood, floodBytes, floodEst)
}

// TestProjectionFelixE2E: output.fields on the real felix records: the
// kept records hold only the listed fields and parse as JSON, the threats
// topic gets whole records, and the bytes-out metric shows the cut.
func TestProjectionFelixE2E(t *testing.T) {
	e := newEnv(t, 2)
	dir := t.TempDir()
	rulesPath := writeRules(t, dir, `
threats:
  - name: default-ns
    severity: low
    when: {field: source_namespace, equals: default}
filters: []
`)
	keep := []string{"start_time", "end_time", "source_namespace", "source_name_aggr", "dest_namespace", "dest_name_aggr",
		"dest_port", "proto", "action", "reporter", "bytes_in", "bytes_out", "num_flows"}
	proj, err := rules.ParseFields(keep)
	if err != nil {
		t.Fatal(err)
	}
	lines := calicoreal.Lines(t, calicoreal.FelixExample)
	var ins []input
	var inBytes float64
	for i, l := range lines {
		ins = append(ins, input{key: fmt.Sprint(i), value: l, partition: int32(i % 2)})
		inBytes += float64(len(l))
	}
	reg := prometheus.NewRegistry()
	pl := e.startPipeline("project", rulesPath, withMetrics(reg), func(c *processor.Config) { c.Fields = proj })
	e.produce(ins)
	e.waitCommitted("project", 60*time.Second)
	outs := e.readTopics(keptTopic, threatsTopic)
	if len(outs[keptTopic]) != len(lines) {
		t.Fatalf("kept %d of %d", len(outs[keptTopic]), len(lines))
	}
	for _, r := range outs[keptTopic] {
		var m map[string]any
		if err := json.Unmarshal(r.Value, &m); err != nil {
			t.Fatalf("%s: %v", r.Value, err)
		}
		for k := range m {
			if !slices.Contains(keep, k) {
				t.Fatalf("member %q not listed: %s", k, r.Value)
			}
		}
		if m["bytes_in"] == nil || m["action"] == nil {
			t.Fatalf("listed members missing: %s", r.Value)
		}
	}
	if len(outs[threatsTopic]) == 0 {
		t.Fatal("no threat records")
	}
	for _, r := range outs[threatsTopic] {
		if !strings.Contains(string(r.Value), `"source_labels"`) || !strings.Contains(string(r.Value), `"policies"`) {
			t.Fatalf("threat record not whole: %.300s", r.Value)
		}
	}
	if err := pl.stop(); err != nil {
		t.Fatal(err)
	}
	in := gatherOf(t, reg, "flowsieve_bytes_consumed_total")["topic="+rawTopic]
	out := gatherOf(t, reg, "flowsieve_bytes_produced_total")["topic="+keptTopic]
	if in != inBytes || out <= 0 || out*3 > in {
		t.Errorf("bytes consumed %v (want %v), produced to kept %v: want under a third", in, inBytes, out)
	}
	t.Logf("%d felix records: %v bytes in, %v bytes kept out", len(lines), in, out)
}
