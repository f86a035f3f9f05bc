package processor

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/flowsieve/flowsieve/codec"
	"github.com/flowsieve/flowsieve/internal/calicoreal"
	"github.com/flowsieve/flowsieve/rules"
)

// shadowTestRules differs from routeTestRules: it keeps dev, drops qa, and
// flags only 198.51.100.9.
const shadowTestRules = `
threats:
  - {name: c2, severity: critical, when: {field: dest_ip, cidr: 198.51.100.9/32}}
filters:
  - {name: drop-qa, action: exclude, when: {field: source_namespace, equals: qa}}
`

func loadShadowTestRules(t *testing.T) *rules.Set {
	t.Helper()
	path := filepath.Join(t.TempDir(), "shadow.yaml")
	if err := os.WriteFile(path, []byte(shadowTestRules), 0o600); err != nil {
		t.Fatal(err)
	}
	set, err := rules.LoadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return set
}

// TestDecideShadow: the shadow rules extend the decision by one capped
// output and never change the live ones; it is there only when the two
// verdicts disagree and a shadow topic is set, and not when it is too
// large for the topic.
func TestDecideShadow(t *testing.T) {
	live, shadow := loadRouteTestRules(t), loadShadowTestRules(t)
	topics := [numOutputs]string{outKept: "kept", outThreats: "threats", outInvalid: "invalid", outShadow: "shadow"}
	for _, tc := range []struct {
		name           string
		value          []byte
		noTopic        bool
		limit          int // of the shadow topic
		judged         bool
		cmp            rules.Comparison
		liveKept       bool
		shadowKept     bool
		shadowOut      bool
		shadowOversize bool
	}{
		{name: "both keep", value: textFlow("prod", "10.1.1.1", 0), judged: true, liveKept: true, shadowKept: true},
		{name: "live drops dev, shadow keeps", value: textFlow("dev", "10.1.1.1", 0), judged: true,
			cmp: rules.Comparison{Keep: true}, shadowKept: true, shadowOut: true},
		{name: "shadow drops qa", value: textFlow("qa", "10.1.1.1", 0), judged: true,
			cmp: rules.Comparison{Keep: true}, liveKept: true, shadowOut: true},
		{name: "both flag", value: textFlow("prod", "198.51.100.9", 0), judged: true, liveKept: true, shadowKept: true},
		{name: "only live flags", value: textFlow("prod", "198.51.100.7", 0), judged: true,
			cmp: rules.Comparison{Threats: true}, liveKept: true, shadowKept: true, shadowOut: true},
		{name: "no shadow topic", value: textFlow("dev", "10.1.1.1", 0), noTopic: true, judged: true,
			cmp: rules.Comparison{Keep: true}, shadowKept: true},
		{name: "too large for the shadow topic", value: textFlow("dev", "10.1.1.1", 0), limit: 300, judged: true,
			cmp: rules.Comparison{Keep: true}, shadowKept: true, shadowOversize: true},
		{name: "invalid: not judged", value: []byte("garbage")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rt := router{topics: topics}
			if tc.noTopic {
				rt.topics[outShadow] = ""
			}
			rt.limit[outShadow] = tc.limit
			rec := routeTestRecord(tc.value)
			var (
				f       codec.Flow
				v, sv   rules.Verdict
				d, want decision
			)
			rt.decide(rec, live, nil, &f, &v, nil, &want)
			wantOuts := fmt.Sprint(want.outs[:want.n])
			rt.decide(rec, live, shadow, &f, &v, &sv, &d)

			n := d.n
			if tc.shadowOut {
				n--
				o := d.outs[n]
				if o.to != outShadow || !o.capped {
					t.Fatalf("last output %v (capped %v), want a capped shadow record", o.to, o.capped)
				}
				var got map[string]any
				if err := json.Unmarshal(o.value, &got); err != nil {
					t.Fatal(err)
				}
				if got["record"] != string(tc.value) || got["live"] != map[bool]string{true: "kept", false: "dropped"}[tc.liveKept] ||
					got["shadow"] != map[bool]string{true: "kept", false: "dropped"}[tc.shadowKept] {
					t.Errorf("shadow record %s", o.value)
				}
			}
			if got := fmt.Sprint(d.outs[:n]); got != wantOuts {
				t.Errorf("live outputs changed by the shadow rules:\n got %s\nwant %s", got, wantOuts)
			}
			if d.kept != want.kept || d.dropped != want.dropped || d.flagged != want.flagged || d.invalid != want.invalid {
				t.Errorf("live counts changed by the shadow rules")
			}
			if (d.shadow != nil) != tc.judged {
				t.Fatalf("judged by the shadow rules: %v, want %v", d.shadow != nil, tc.judged)
			}
			if !tc.judged {
				return
			}
			if d.cmp != tc.cmp || d.liveKept != tc.liveKept || d.shadowVerdict.Keep != tc.shadowKept || d.shadowOversize != tc.shadowOversize {
				t.Errorf("cmp %+v live kept %v shadow kept %v oversize %v", d.cmp, d.liveKept, d.shadowVerdict.Keep, d.shadowOversize)
			}
		})
	}
}

// TestDecideShadowAllocs: judging by shadow rules that agree costs no
// allocation (one more Judge on the decoded flow).
func TestDecideShadowAllocs(t *testing.T) {
	live := loadRouteTestRules(t)
	rt := router{topics: [numOutputs]string{outShadow: "shadow"}}
	rec := routeTestRecord(textFlow("prod", "10.1.1.1", 0))
	var (
		f     codec.Flow
		v, sv rules.Verdict
		d     decision
	)
	if n := testing.AllocsPerRun(100, func() { rt.decide(rec, live, live, &f, &v, &sv, &d) }); n != 0 {
		t.Errorf("%.0f allocations per decision with shadow rules, want 0", n)
	}
}

// BenchmarkDecideShadow measures what shadow rules cost per record: the
// sample rules live, and the same file again as the shadow rules (a
// shadow file as large as the live one), over the real felix records.
func BenchmarkDecideShadow(b *testing.B) {
	live, err := rules.LoadFile(filepath.Join("..", "config", "rules.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	shadow, err := rules.LoadFile(filepath.Join("..", "config", "rules.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	var recs []*kgo.Record
	for _, l := range calicoreal.Lines(b, calicoreal.FelixExample) {
		recs = append(recs, routeTestRecord(l))
	}
	for _, bc := range []struct {
		name   string
		shadow *rules.Set
	}{{"live", nil}, {"live+shadow", shadow}} {
		b.Run(bc.name, func(b *testing.B) {
			rt := router{topics: [numOutputs]string{outShadow: "shadow"}}
			var (
				f     codec.Flow
				v, sv rules.Verdict
				d     decision
			)
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				rt.decide(recs[i%len(recs)], live, bc.shadow, &f, &v, &sv, &d)
			}
		})
	}
	// One Judge alone, on flows decoded beforehand: what the shadow rules
	// add should be about this.
	b.Run("judge", func(b *testing.B) {
		flows := make([]codec.Flow, len(recs))
		for i, r := range recs {
			if err := codec.Decode(r.Value, &flows[i]); err != nil {
				b.Fatal(err)
			}
		}
		var v rules.Verdict
		b.ReportAllocs()
		for i := 0; b.Loop(); i++ {
			shadow.Judge(&flows[i%len(flows)], &v)
		}
	})
}

// TestShadowSeriesFollowTheShadowSet: when the shadow file changes, the
// per-rule series of shadow rules it no longer has are deleted (the same
// mechanism as the live rules'), and the version series moves.
func TestShadowSeriesFollowTheShadowSet(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	load := func(body string) *rules.Set {
		s, err := rules.Load([]byte(body), "shadow.yaml")
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	a := load("threats:\n  - {name: old-threat, severity: low, when: {field: dest_port, equals: 1}}\nfilters:\n  - {name: old-filter, action: exclude, when: {field: dest_port, equals: 2}}\n")
	b := load("filters:\n  - {name: new-filter, action: exclude, when: {field: dest_port, equals: 3}}\n")
	series := func() []string {
		mfs, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, mf := range mfs {
			if !strings.HasPrefix(mf.GetName(), "flowsieve_shadow_") || mf.GetName() == "flowsieve_shadow_decisions_total" ||
				mf.GetName() == "flowsieve_shadow_records_suppressed_total" || mf.GetName() == "flowsieve_shadow_rules_reloads_total" {
				continue
			}
			for _, s := range mf.GetMetric() {
				out = append(out, mf.GetName()+"{"+s.GetLabel()[0].GetValue()+"}")
			}
		}
		slices.Sort(out)
		return out
	}
	m.ShadowRulesLoaded(a, nil)
	want := []string{"flowsieve_shadow_dropped_total{old-filter}", "flowsieve_shadow_flagged_total{old-threat}",
		"flowsieve_shadow_rules_version_info{" + a.Version() + "}"}
	if got := series(); !slices.Equal(got, want) {
		t.Errorf("after the first load: %v, want %v", got, want)
	}
	m.ShadowRulesLoaded(nil, errors.New("broken"))
	if got := series(); !slices.Equal(got, want) {
		t.Errorf("a failed load changed the series: %v", got)
	}
	m.ShadowRulesLoaded(b, nil)
	want = []string{"flowsieve_shadow_dropped_total{new-filter}", "flowsieve_shadow_rules_version_info{" + b.Version() + "}"}
	if got := series(); !slices.Equal(got, want) {
		t.Errorf("after the change: %v, want %v", got, want)
	}
}
