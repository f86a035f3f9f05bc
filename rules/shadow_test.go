package rules

import (
	"encoding/json"
	"reflect"
	"testing"

	"github.com/flowsieve/flowsieve/codec"
)

// Two sets whose threat rules share names at different indexes.
var (
	shadowLive = &Set{version: "live1", filterNames: []string{"drop-dev", "drop-qa"},
		threatInfo: []ThreatRule{{Name: "c2"}, {Name: "scan"}}}
	shadowCand = &Set{version: "cand1", filterNames: []string{"drop-qa", "drop-prod"},
		threatInfo: []ThreatRule{{Name: "exfil"}, {Name: "scan"}, {Name: "c2"}}}
)

func kept(threats ...int) *Verdict {
	return &Verdict{Keep: true, DropRule: -1, Threats: hitsOf(threats)}
}
func dropped(rule int, threats ...int) *Verdict {
	return &Verdict{DropRule: rule, Threats: hitsOf(threats)}
}
func hitsOf(rules []int) []Hit {
	var hs []Hit
	for _, r := range rules {
		hs = append(hs, Hit{Rule: r, Field: codec.NumFields})
	}
	return hs
}

func TestCompare(t *testing.T) {
	for _, tc := range []struct {
		name           string
		live, shadow   *Set
		lv, sv         *Verdict
		want           Comparison
		liveR, shadowR string
	}{
		{"both keep, no threats", shadowLive, shadowCand, kept(), kept(), Comparison{}, "", ""},
		{"both drop, same rule name", shadowLive, shadowCand, dropped(1), dropped(0), Comparison{}, "drop-qa", "drop-qa"},
		{"both drop, different rules: same outputs", shadowLive, shadowCand, dropped(0), dropped(1), Comparison{}, "drop-dev", "drop-prod"},
		{"live keeps, shadow drops", shadowLive, shadowCand, kept(), dropped(1), Comparison{Keep: true}, "", "drop-prod"},
		{"live drops, shadow keeps", shadowLive, shadowCand, dropped(0), kept(), Comparison{Keep: true}, "drop-dev", ""},
		{"same threats at other indexes", shadowLive, shadowCand, kept(0, 1), kept(1, 2), Comparison{}, "", ""},
		{"same threats, other order", shadowLive, shadowCand, kept(1, 0), kept(2, 1), Comparison{}, "", ""},
		{"shadow flags one more", shadowLive, shadowCand, kept(0), kept(2, 0), Comparison{Threats: true}, "", ""},
		{"shadow flags one fewer", shadowLive, shadowCand, kept(0, 1), kept(1), Comparison{Threats: true}, "", ""},
		{"same count, other rule", shadowLive, shadowCand, kept(0), kept(0), Comparison{Threats: true}, "", ""},
		{"only live flags", shadowLive, shadowCand, dropped(0, 1), dropped(1), Comparison{Threats: true}, "drop-dev", "drop-prod"},
		{"both differ", shadowLive, shadowCand, kept(0), dropped(0), Comparison{Keep: true, Threats: true}, "", "drop-qa"},
		{"no shadow set keeps and flags nothing", shadowLive, nil, kept(), dropped(0, 0), Comparison{}, "", ""},
		{"no shadow set vs a drop", shadowLive, nil, dropped(1, 0), dropped(0), Comparison{Keep: true, Threats: true}, "drop-qa", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Compare(tc.live, tc.lv, tc.shadow, tc.sv)
			if got != tc.want {
				t.Errorf("Compare = %+v, want %+v", got, tc.want)
			}
			if got.Disagree() != (tc.want.Keep || tc.want.Threats) {
				t.Errorf("Disagree = %v", got.Disagree())
			}
			// The comparison is symmetric.
			if back := Compare(tc.shadow, tc.sv, tc.live, tc.lv); back != tc.want {
				t.Errorf("Compare reversed = %+v, want %+v", back, tc.want)
			}
			if r := DecidingRule(tc.live, tc.lv); r != tc.liveR {
				t.Errorf("live rule %q, want %q", r, tc.liveR)
			}
			if r := DecidingRule(tc.shadow, tc.sv); r != tc.shadowR {
				t.Errorf("shadow rule %q, want %q", r, tc.shadowR)
			}
		})
	}
}

func TestAppendShadowJSON(t *testing.T) {
	rec := []byte("a \"quoted\"\tline é")
	for _, tc := range []struct {
		name         string
		shadow       *Set
		lv, sv       *Verdict
		want         map[string]any
		wantRecordIn string
	}{
		{"keep vs drop", shadowCand, kept(1), dropped(1, 0), map[string]any{
			"record": string(rec), "live": "kept", "shadow": "dropped",
			"live_rule": nil, "shadow_rule": "drop-prod",
			"live_threats": []any{"scan"}, "shadow_threats": []any{"exfil"},
			"live_version": "live1", "shadow_version": "cand1",
		}, ""},
		{"no shadow set", nil, dropped(0, 0, 1), kept(), map[string]any{
			"record": string(rec), "live": "dropped", "shadow": "kept",
			"live_rule": "drop-dev", "shadow_rule": nil,
			"live_threats": []any{"c2", "scan"}, "shadow_threats": []any{},
			"live_version": "live1", "shadow_version": nil,
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out := AppendShadowJSON([]byte("prefix"), rec, shadowLive, tc.lv, tc.shadow, tc.sv)
			var got map[string]any
			if err := json.Unmarshal(out[len("prefix"):], &got); err != nil {
				t.Fatalf("%s: %v", out, err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Errorf("got  %v\nwant %v", got, tc.want)
			}
		})
	}
}

// TestShadowNoAllocs: judging a flow by a second set, comparing and writing
// the disagreement into a reused buffer allocate nothing, so shadow rules
// cost the pipeline no garbage per record.
func TestShadowNoAllocs(t *testing.T) {
	live, err := Load([]byte(rulesDropDev+"threats:\n  - {name: c2, severity: high, when: {field: dest_ip, cidr: 10.0.0.0/8}}\n"), "live.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cand, err := Load([]byte(rulesKeepAll), "cand.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var f codec.Flow
	rec := []byte(textRec)
	if err := codec.Decode(rec, &f); err != nil {
		t.Fatal(err)
	}
	var lv, sv Verdict
	buf := make([]byte, 0, 4096)
	live.Judge(&f, &lv)
	cand.Judge(&f, &sv)
	if !Compare(live, &lv, cand, &sv).Disagree() {
		t.Fatal("the two sets should disagree on textRec")
	}
	allocs := testing.AllocsPerRun(200, func() {
		live.Judge(&f, &lv)
		cand.Judge(&f, &sv)
		if Compare(live, &lv, cand, &sv).Disagree() {
			buf = AppendShadowJSON(buf[:0], rec, live, &lv, cand, &sv)
		}
	})
	if allocs != 0 {
		t.Errorf("%v allocations per record, want 0", allocs)
	}
}
