package goldmane

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/flowsieve/flowsieve/codec"
	api "github.com/flowsieve/flowsieve/internal/goldmaneapi"
	"github.com/flowsieve/flowsieve/rules"
)

// base is a workload-to-workload flow with every field set; the cases
// change one thing each.
func base() *api.Flow {
	return &api.Flow{
		Key: &api.FlowKey{
			SourceName: "frontend-755cdc7957-*", SourceNamespace: "shop", SourceType: api.EndpointType_WorkloadEndpoint,
			DestName: "cartservice-7d4899b484-*", DestNamespace: "shop", DestType: api.EndpointType_WorkloadEndpoint,
			DestPort: 7070, DestServiceName: "cartservice", DestServiceNamespace: "shop",
			DestServicePortName: "grpc", DestServicePort: 7070,
			Proto: "tcp", Reporter: api.Reporter_Src, Action: api.Action_Allow,
			Policies: &api.PolicyTrace{
				EnforcedPolicies: []*api.PolicyHit{{Kind: api.PolicyKind_Profile, Name: "kns.shop", Action: api.Action_Allow}},
			},
		},
		StartTime: 1764650000, EndTime: 1764650015,
		SourceLabels: []string{"app=frontend", "pod-template-hash=755cdc7957"},
		DestLabels:   []string{"app=cartservice"},
		PacketsIn:    1417, PacketsOut: 2418, BytesIn: 133612, BytesOut: 196245,
		NumConnectionsStarted: 3, NumConnectionsCompleted: 2, NumConnectionsLive: 1,
	}
}

// baseWant is base's record, member by member as JSON values.
func baseWant() map[string]any {
	return map[string]any{
		"start_time": 1764650000.0, "end_time": 1764650015.0,
		"source_name": "-", "source_name_aggr": "frontend-755cdc7957-*", "source_namespace": "shop", "source_type": "wep",
		"source_labels": map[string]any{"labels": []any{"app=frontend", "pod-template-hash=755cdc7957"}},
		"dest_name":     "-", "dest_name_aggr": "cartservice-7d4899b484-*", "dest_namespace": "shop", "dest_port": 7070.0, "dest_type": "wep",
		"dest_labels":            map[string]any{"labels": []any{"app=cartservice"}},
		"dest_service_namespace": "shop", "dest_service_name": "cartservice", "dest_service_port": "grpc", "dest_service_port_num": 7070.0,
		"proto": "tcp", "action": "allow", "reporter": "src",
		"policies": map[string]any{
			"enforced_policies": []any{"0|__PROFILE__|pro:kns.shop|allow|0"},
			"pending_policies":  []any{},
		},
		"bytes_in": 133612.0, "bytes_out": 196245.0,
		"num_flows": 1.0, "num_flows_started": 3.0, "num_flows_completed": 2.0,
		"packets_in": 1417.0, "packets_out": 2418.0,
	}
}

func TestConvertFieldByField(t *testing.T) {
	hits := func(h ...*api.PolicyHit) []any {
		var out []any
		for _, x := range h {
			s, err := PolicyHitString(x)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, s)
		}
		return out
	}
	gnpDeny := &api.PolicyHit{Kind: api.PolicyKind_GlobalNetworkPolicy, Tier: "security", Name: "block-egress", Action: api.Action_Deny, PolicyIndex: 0, RuleIndex: 2}
	npPass := &api.PolicyHit{Kind: api.PolicyKind_CalicoNetworkPolicy, Tier: "platform", Namespace: "shop", Name: "platform.allow-dns", Action: api.Action_Pass, PolicyIndex: 1, RuleIndex: 0}
	staged := &api.PolicyHit{Kind: api.PolicyKind_StagedNetworkPolicy, Tier: "default", Namespace: "shop", Name: "lockdown", Action: api.Action_Deny, PolicyIndex: 0, RuleIndex: 1}

	tests := []struct {
		name   string
		change func(f *api.Flow)
		want   map[string]any // members that differ from baseWant; nil deletes
	}{
		{"workload to workload", func(*api.Flow) {}, nil},
		{"host endpoint source", func(f *api.Flow) {
			f.Key.SourceType, f.Key.SourceName, f.Key.SourceNamespace = api.EndpointType_HostEndpoint, "node-1-eth0", ""
		}, map[string]any{"source_type": "hep", "source_name_aggr": "node-1-eth0", "source_namespace": "-"}},
		{"network set source", func(f *api.Flow) {
			f.Key.SourceType, f.Key.SourceName, f.Key.SourceNamespace = api.EndpointType_NetworkSet, "trusted-partners", "shop"
		}, map[string]any{"source_type": "ns", "source_name_aggr": "trusted-partners"}},
		{"public network destination", func(f *api.Flow) {
			f.Key.DestType, f.Key.DestName, f.Key.DestNamespace = api.EndpointType_Network, "pub", ""
			f.Key.DestServiceName, f.Key.DestServiceNamespace, f.Key.DestServicePortName, f.Key.DestServicePort = "", "", "", 0
			f.DestLabels = nil
		}, map[string]any{"dest_type": "net", "dest_name_aggr": "pub", "dest_namespace": "-",
			"dest_labels":            map[string]any{"labels": []any{}},
			"dest_service_namespace": "-", "dest_service_name": "-", "dest_service_port": "-", "dest_service_port_num": nil}},
		{"private network source", func(f *api.Flow) {
			f.Key.SourceType, f.Key.SourceName, f.Key.SourceNamespace = api.EndpointType_Network, "pvt", ""
			f.SourceLabels = nil
		}, map[string]any{"source_type": "net", "source_name_aggr": "pvt", "source_namespace": "-",
			"source_labels": map[string]any{"labels": []any{}}}},
		{"unspecified endpoint types are left out", func(f *api.Flow) {
			f.Key.SourceType, f.Key.DestType = api.EndpointType_EndpointTypeUnspecified, 99
		}, map[string]any{"source_type": nil, "dest_type": nil}},
		{"deny at the destination", func(f *api.Flow) {
			f.Key.Action, f.Key.Reporter = api.Action_Deny, api.Reporter_Dst
			f.Key.Policies.EnforcedPolicies = []*api.PolicyHit{gnpDeny}
		}, map[string]any{"action": "deny", "reporter": "dst",
			"policies": map[string]any{"enforced_policies": []any{"0|security|gnp:block-egress|deny|2"}, "pending_policies": []any{}}}},
		{"pass", func(f *api.Flow) { f.Key.Action = api.Action_Pass }, map[string]any{"action": "pass"}},
		{"unspecified action and reporter are left out", func(f *api.Flow) {
			f.Key.Action, f.Key.Reporter = api.Action_ActionUnspecified, api.Reporter_ReporterUnspecified
		}, map[string]any{"action": nil, "reporter": nil}},
		{"proto is lower case; empty is left out", func(f *api.Flow) { f.Key.Proto = "UDP" }, map[string]any{"proto": "udp"}},
		{"no proto", func(f *api.Flow) { f.Key.Proto = "" }, map[string]any{"proto": nil}},
		{"enforced and pending traces", func(f *api.Flow) {
			f.Key.Policies = &api.PolicyTrace{
				EnforcedPolicies: []*api.PolicyHit{npPass, gnpDeny},
				PendingPolicies:  []*api.PolicyHit{npPass, staged},
			}
		}, map[string]any{"policies": map[string]any{
			"enforced_policies": hits(npPass, gnpDeny),
			"pending_policies":  []any{"1|platform|np:shop/platform.allow-dns|pass|0", "0|default|snp:shop/lockdown|deny|1"},
		}}},
		{"no trace", func(f *api.Flow) { f.Key.Policies = nil },
			map[string]any{"policies": map[string]any{"enforced_policies": []any{}, "pending_policies": []any{}}}},
		{"a hit felix cannot write is left out", func(f *api.Flow) {
			f.Key.Policies.EnforcedPolicies = append(f.Key.Policies.EnforcedPolicies, &api.PolicyHit{Kind: 42, Name: "x", Action: api.Action_Allow})
		}, nil},
		{"labels keep Goldmane's order and escape", func(f *api.Flow) {
			f.SourceLabels = []string{"z=1", `quote="x"`}
		}, map[string]any{"source_labels": map[string]any{"labels": []any{"z=1", `quote="x"`}}}},
		{"counters", func(f *api.Flow) {
			f.NumConnectionsLive, f.NumConnectionsStarted, f.NumConnectionsCompleted = 7, 8, 9
			f.PacketsIn, f.PacketsOut, f.BytesIn, f.BytesOut = 1, 2, 3, 4
		}, map[string]any{"num_flows": 7.0, "num_flows_started": 8.0, "num_flows_completed": 9.0,
			"packets_in": 1.0, "packets_out": 2.0, "bytes_in": 3.0, "bytes_out": 4.0}},
		{"no destination port (icmp)", func(f *api.Flow) { f.Key.Proto, f.Key.DestPort = "icmp", 0 },
			map[string]any{"proto": "icmp", "dest_port": 0.0}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fl := base()
			tc.change(fl)
			rec, err := Convert(fl)
			if err != nil {
				t.Fatal(err)
			}
			var got map[string]any
			if err := json.Unmarshal(rec.Value, &got); err != nil {
				t.Fatalf("%s: %v", rec.Value, err)
			}
			want := baseWant()
			for k, v := range tc.want {
				if v == nil && k != "dest_service_port_num" {
					delete(want, k)
					continue
				}
				want[k] = v
			}
			for k := range want {
				if !reflect.DeepEqual(got[k], want[k]) {
					t.Errorf("%s = %#v, want %#v", k, got[k], want[k])
				}
			}
			for k := range got {
				if _, ok := want[k]; !ok {
					t.Errorf("unexpected member %s = %#v", k, got[k])
				}
			}
			// Goldmane carries no addresses, source ports or process data.
			for _, k := range []string{"source_ip", "dest_ip", "source_port"} {
				if _, ok := got[k]; ok {
					t.Errorf("%s present; Goldmane does not carry it", k)
				}
			}
		})
	}
}

func TestConvertMemberOrderIsFelixs(t *testing.T) {
	rec, err := Convert(base())
	if err != nil {
		t.Fatal(err)
	}
	v := string(rec.Value)
	order := []string{`"start_time"`, `"end_time"`, `"source_name"`, `"source_name_aggr"`, `"source_namespace"`, `"source_type"`,
		`"source_labels"`, `"dest_name"`, `"dest_port"`, `"dest_service_namespace"`, `"proto"`, `"action"`, `"reporter"`,
		`"policies"`, `"bytes_in"`, `"num_flows"`, `"packets_out"`}
	last := -1
	for _, m := range order {
		i := strings.Index(v, m+":")
		if i <= last {
			t.Fatalf("%s out of felix's order in %s", m, v)
		}
		last = i
	}
}

func TestConvertNoKey(t *testing.T) {
	if _, err := Convert(&api.Flow{}); err != ErrNoKey {
		t.Fatalf("err = %v, want ErrNoKey", err)
	}
	if _, err := Convert(nil); err != ErrNoKey {
		t.Fatalf("err = %v, want ErrNoKey", err)
	}
}

func TestPolicyHitString(t *testing.T) {
	// The strings are from Goldmane's own round-trip test
	// (goldmane/proto/methods_test.go, TestConversion, Calico v3.32).
	tests := []struct {
		hit  *api.PolicyHit
		want string
	}{
		{&api.PolicyHit{Kind: api.PolicyKind_GlobalNetworkPolicy, Tier: "tier", Name: "name", Action: api.Action_Allow}, "0|tier|gnp:name|allow|0"},
		{&api.PolicyHit{Kind: api.PolicyKind_StagedGlobalNetworkPolicy, Tier: "tier", Name: "name.with.dots", Action: api.Action_Deny, PolicyIndex: 1, RuleIndex: 2}, "1|tier|sgnp:name.with.dots|deny|2"},
		{&api.PolicyHit{Kind: api.PolicyKind_ClusterNetworkPolicy, Tier: "kube-admin", Name: "name", Action: api.Action_Deny, RuleIndex: 1}, "0|kube-admin|kcnp:name|deny|1"},
		{&api.PolicyHit{Kind: api.PolicyKind_CalicoNetworkPolicy, Tier: "tier1", Namespace: "default", Name: "tier1.np1-1", Action: api.Action_Pass}, "0|tier1|np:default/tier1.np1-1|pass|0"},
		{&api.PolicyHit{Kind: api.PolicyKind_NetworkPolicy, Tier: "default", Namespace: "namespace", Name: "name", Action: api.Action_Allow, RuleIndex: 2}, "0|default|knp:namespace/name|allow|2"},
		{&api.PolicyHit{Kind: api.PolicyKind_StagedNetworkPolicy, Tier: "tier", Namespace: "namespace", Name: "name", Action: api.Action_Deny, PolicyIndex: 1}, "1|tier|snp:namespace/name|deny|0"},
		{&api.PolicyHit{Kind: api.PolicyKind_StagedKubernetesNetworkPolicy, Tier: "default", Namespace: "namespace", Name: "name", Action: api.Action_Deny, PolicyIndex: 1, RuleIndex: 3}, "1|default|sknp:namespace/name|deny|3"},
		{&api.PolicyHit{Kind: api.PolicyKind_Profile, Name: "kns.default", Action: api.Action_Allow, PolicyIndex: 1}, "1|__PROFILE__|pro:kns.default|allow|0"},
		{&api.PolicyHit{Kind: api.PolicyKind_Profile, Name: "ksa.svcacct", Action: api.Action_Allow, PolicyIndex: 1}, "1|__PROFILE__|pro:ksa.svcacct|allow|0"},
		// End of tier: the trigger names the policy, the hit gives the rest.
		{&api.PolicyHit{Kind: api.PolicyKind_EndOfTier, Tier: "tier1", Action: api.Action_Deny, RuleIndex: -1,
			Trigger: &api.PolicyHit{Kind: api.PolicyKind_CalicoNetworkPolicy, Namespace: "ns1", Name: "tier1.policy1", Tier: "tier1"}}, "0|tier1|np:ns1/tier1.policy1|deny|-1"},
		{&api.PolicyHit{Kind: api.PolicyKind_EndOfTier, Tier: "kube-admin", Action: api.Action_Allow, PolicyIndex: 2, RuleIndex: -1,
			Trigger: &api.PolicyHit{Kind: api.PolicyKind_GlobalNetworkPolicy, Name: "kube-admin.policy1", Tier: "kube-admin"}}, "2|kube-admin|gnp:kube-admin.policy1|allow|-1"},
		{&api.PolicyHit{Kind: api.PolicyKind_EndOfTier, Tier: "tier2", Action: api.Action_Deny, PolicyIndex: 1, RuleIndex: -1,
			Trigger: &api.PolicyHit{Kind: api.PolicyKind_StagedNetworkPolicy, Namespace: "default", Name: "np2-1", Tier: "tier2"}}, "1|tier2|snp:default/np2-1|deny|-1"},
	}
	for _, tc := range tests {
		got, err := PolicyHitString(tc.hit)
		if err != nil || got != tc.want {
			t.Errorf("PolicyHitString(%v) = %q, %v; want %q", tc.hit, got, err, tc.want)
		}
	}

	bad := map[string]*api.PolicyHit{
		"nil":                        nil,
		"unknown kind":               {Kind: 42, Tier: "t", Name: "n", Action: api.Action_Allow},
		"unspecified kind":           {Tier: "t", Name: "n", Action: api.Action_Allow},
		"removed AdminNetworkPolicy": {Kind: 7, Tier: "t", Name: "n", Action: api.Action_Allow},
		"no action":                  {Kind: api.PolicyKind_GlobalNetworkPolicy, Tier: "t", Name: "n"},
		"global with namespace":      {Kind: api.PolicyKind_GlobalNetworkPolicy, Tier: "t", Namespace: "ns", Name: "n", Action: api.Action_Allow},
		"namespaced without":         {Kind: api.PolicyKind_CalicoNetworkPolicy, Tier: "t", Name: "n", Action: api.Action_Allow},
		"end of tier, no trigger":    {Kind: api.PolicyKind_EndOfTier, Tier: "t", Action: api.Action_Deny, RuleIndex: -1},
	}
	for name, h := range bad {
		if s, err := PolicyHitString(h); err == nil {
			t.Errorf("%s: PolicyHitString = %q, want an error", name, s)
		}
	}
}

func TestFlowKeyID(t *testing.T) {
	a, b := base(), base()
	// Counters, times and labels are not part of the key.
	b.StartTime, b.BytesIn, b.SourceLabels = b.StartTime+15, 1, nil
	if string(FlowKeyID(a.Key)) != string(FlowKeyID(b.Key)) {
		t.Fatal("one flow key, two ids")
	}
	if len(FlowKeyID(a.Key)) != 32 {
		t.Fatalf("id %q: want 32 hex digits", FlowKeyID(a.Key))
	}
	changes := []func(k *api.FlowKey){
		func(k *api.FlowKey) { k.SourceName = "x" },
		func(k *api.FlowKey) { k.SourceNamespace = "x" },
		func(k *api.FlowKey) { k.SourceType = api.EndpointType_HostEndpoint },
		func(k *api.FlowKey) { k.DestName = "x" },
		func(k *api.FlowKey) { k.DestNamespace = "x" },
		func(k *api.FlowKey) { k.DestType = api.EndpointType_Network },
		func(k *api.FlowKey) { k.DestPort = 1 },
		func(k *api.FlowKey) { k.DestServiceName = "x" },
		func(k *api.FlowKey) { k.DestServiceNamespace = "x" },
		func(k *api.FlowKey) { k.DestServicePortName = "x" },
		func(k *api.FlowKey) { k.DestServicePort = 1 },
		func(k *api.FlowKey) { k.Proto = "udp" },
		func(k *api.FlowKey) { k.Reporter = api.Reporter_Dst },
		func(k *api.FlowKey) { k.Action = api.Action_Deny },
		func(k *api.FlowKey) { k.Policies.EnforcedPolicies[0].RuleIndex = 1 },
		func(k *api.FlowKey) { k.Policies.PendingPolicies = k.Policies.EnforcedPolicies },
		// Moving a string between neighbouring fields changes the id.
		func(k *api.FlowKey) { k.SourceName, k.SourceNamespace = k.SourceName+k.SourceNamespace, "" },
	}
	seen := map[string]int{string(FlowKeyID(a.Key)): -1}
	for i, change := range changes {
		f := base()
		change(f.Key)
		id := string(FlowKeyID(f.Key))
		if j, dup := seen[id]; dup {
			t.Errorf("change %d gives the id of %d", i, j)
		}
		seen[id] = i
	}
}

// The records are flow logs like felix's: the codec decodes them and the
// rules judge them.
func TestRecordsDecodeAndJudge(t *testing.T) {
	set, err := rules.Load([]byte(`
threats:
  - name: denied-egress-public
    severity: medium
    when:
      all:
        - {field: action, equals: deny}
        - {field: dest_name_aggr, equals: pub}
filters:
  - name: drop-profile-allows
    action: exclude
    when: {field: policies, regex: 'pro:kns\.'}
  - name: keep-shop
    action: include
    when: {label: app, field: source_labels, equals: frontend}
`), "rules.yaml")
	if err != nil {
		t.Fatal(err)
	}
	denied := base()
	denied.Key.Action = api.Action_Deny
	denied.Key.DestType, denied.Key.DestName, denied.Key.DestNamespace = api.EndpointType_Network, "pub", ""
	denied.Key.Policies.EnforcedPolicies = []*api.PolicyHit{{Kind: api.PolicyKind_GlobalNetworkPolicy, Tier: "security", Name: "block", Action: api.Action_Deny}}
	other := base()
	other.SourceLabels = []string{"app=admin"}
	other.Key.Policies.EnforcedPolicies[0].Kind = api.PolicyKind_GlobalNetworkPolicy
	other.Key.Policies.EnforcedPolicies[0].Tier = "default"

	for _, tc := range []struct {
		name          string
		flow          *api.Flow
		keep, flagged bool
		dropRule      string
	}{
		{"profile allow dropped", base(), false, false, "drop-profile-allows"},
		{"denied to pub flagged and kept", denied, true, true, ""},
		{"other app dropped by include", other, false, false, "keep-shop"},
	} {
		rec, err := Convert(tc.flow)
		if err != nil {
			t.Fatal(err)
		}
		var f codec.Flow
		if err := codec.Decode(rec.Value, &f); err != nil {
			t.Fatalf("%s: codec.Decode(%s): %v", tc.name, rec.Value, err)
		}
		if f.Format() != codec.FormatJSON {
			t.Fatalf("%s: decoded as %v", tc.name, f.Format())
		}
		if got := f.Get(codec.SourceNameAggr).Str; got != tc.flow.Key.SourceName {
			t.Errorf("%s: source_name_aggr %q", tc.name, got)
		}
		if v, ok := f.Label(codec.SourceLabels, "app"); !ok || "app="+v != tc.flow.SourceLabels[0] {
			t.Errorf("%s: label app = %q, %v", tc.name, v, ok)
		}
		var v rules.Verdict
		set.Judge(&f, &v)
		drop := ""
		if !v.Keep {
			drop = set.FilterNames()[v.DropRule]
		}
		if v.Keep != tc.keep || v.Flagged() != tc.flagged || drop != tc.dropRule {
			t.Errorf("%s: keep %v flagged %v drop %q; want %v %v %q", tc.name, v.Keep, v.Flagged(), drop, tc.keep, tc.flagged, tc.dropRule)
		}
	}
}
