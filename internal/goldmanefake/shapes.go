package goldmanefake

import (
	api "github.com/flowsieve/flowsieve/internal/goldmaneapi"
)

// Shapes returns one interval's flows: every endpoint type on both sides,
// every action and reporter, and every policy-trace shape (none, a
// profile, enforced and pending lists, staged policies, an end-of-tier
// hit, a hit felix cannot write). The keys are the same in every interval;
// the counters change with start, as continuous traffic's would.
func Shapes(start int64) []*api.Flow {
	n := start / IntervalSeconds % 1000 // varies the counters per interval
	profile := &api.PolicyHit{Kind: api.PolicyKind_Profile, Name: "kns.shop", Action: api.Action_Allow}
	allowNP := &api.PolicyHit{Kind: api.PolicyKind_CalicoNetworkPolicy, Tier: "default", Namespace: "shop", Name: "default.allow-frontend", Action: api.Action_Allow, RuleIndex: 1}
	passTier := &api.PolicyHit{Kind: api.PolicyKind_GlobalNetworkPolicy, Tier: "security", Name: "security.pass-internal", Action: api.Action_Pass}
	denyGNP := &api.PolicyHit{Kind: api.PolicyKind_GlobalNetworkPolicy, Tier: "security", Name: "security.block-egress", Action: api.Action_Deny, RuleIndex: 2}
	knp := &api.PolicyHit{Kind: api.PolicyKind_NetworkPolicy, Tier: "default", Namespace: "shop", Name: "allow-redis", Action: api.Action_Allow, PolicyIndex: 1}
	stagedDeny := &api.PolicyHit{Kind: api.PolicyKind_StagedNetworkPolicy, Tier: "default", Namespace: "shop", Name: "lockdown", Action: api.Action_Deny, PolicyIndex: 1}
	sknp := &api.PolicyHit{Kind: api.PolicyKind_StagedKubernetesNetworkPolicy, Tier: "default", Namespace: "shop", Name: "staged-redis", Action: api.Action_Allow, PolicyIndex: 1}
	sgnp := &api.PolicyHit{Kind: api.PolicyKind_StagedGlobalNetworkPolicy, Tier: "security", Name: "security.staged-dns", Action: api.Action_Allow}
	kcnp := &api.PolicyHit{Kind: api.PolicyKind_ClusterNetworkPolicy, Tier: "kube-admin", Name: "admin-deny", Action: api.Action_Deny}
	endOfTier := &api.PolicyHit{Kind: api.PolicyKind_EndOfTier, Tier: "default", Action: api.Action_Deny, PolicyIndex: 1, RuleIndex: -1,
		Trigger: &api.PolicyHit{Kind: api.PolicyKind_CalicoNetworkPolicy, Tier: "default", Namespace: "shop", Name: "default.only-frontend"}}
	unknownKind := &api.PolicyHit{Kind: 42, Tier: "default", Name: "from-the-future", Action: api.Action_Allow}

	flow := func(k *api.FlowKey, srcLabels, dstLabels []string, scale int64) *api.Flow {
		return &api.Flow{
			Key: k, StartTime: start, EndTime: start + IntervalSeconds,
			SourceLabels: srcLabels, DestLabels: dstLabels,
			PacketsIn: scale * (n + 1), PacketsOut: scale * (n + 2),
			BytesIn: scale * 100 * (n + 1), BytesOut: scale * 150 * (n + 2),
			NumConnectionsStarted: scale, NumConnectionsCompleted: scale / 2, NumConnectionsLive: scale - scale/2,
		}
	}
	frontend := []string{"app=frontend", "pod-template-hash=755cdc7957"}
	cart := []string{"app=cartservice"}
	return []*api.Flow{
		// wep → wep, allowed by a namespace profile, both reporters.
		flow(&api.FlowKey{
			SourceName: "frontend-755cdc7957-*", SourceNamespace: "shop", SourceType: api.EndpointType_WorkloadEndpoint,
			DestName: "cartservice-7d4899b484-*", DestNamespace: "shop", DestType: api.EndpointType_WorkloadEndpoint,
			DestPort: 7070, DestServiceName: "cartservice", DestServiceNamespace: "shop", DestServicePortName: "grpc", DestServicePort: 7070,
			Proto: "tcp", Reporter: api.Reporter_Src, Action: api.Action_Allow,
			Policies: &api.PolicyTrace{EnforcedPolicies: []*api.PolicyHit{profile}},
		}, frontend, cart, 10),
		flow(&api.FlowKey{
			SourceName: "frontend-755cdc7957-*", SourceNamespace: "shop", SourceType: api.EndpointType_WorkloadEndpoint,
			DestName: "cartservice-7d4899b484-*", DestNamespace: "shop", DestType: api.EndpointType_WorkloadEndpoint,
			DestPort: 7070, DestServiceName: "cartservice", DestServiceNamespace: "shop", DestServicePortName: "grpc", DestServicePort: 7070,
			Proto: "tcp", Reporter: api.Reporter_Dst, Action: api.Action_Allow,
			Policies: &api.PolicyTrace{
				EnforcedPolicies: []*api.PolicyHit{passTier, allowNP},
				PendingPolicies:  []*api.PolicyHit{passTier, stagedDeny},
			},
		}, frontend, cart, 10),
		// wep → public network, denied by a global policy: a threat for
		// the sample rules (denied-egress-public).
		flow(&api.FlowKey{
			SourceName: "frontend-755cdc7957-*", SourceNamespace: "shop", SourceType: api.EndpointType_WorkloadEndpoint,
			DestName: "pub", DestType: api.EndpointType_Network, DestPort: 443,
			Proto: "tcp", Reporter: api.Reporter_Src, Action: api.Action_Deny,
			Policies: &api.PolicyTrace{EnforcedPolicies: []*api.PolicyHit{denyGNP}, PendingPolicies: []*api.PolicyHit{denyGNP}},
		}, frontend, nil, 3),
		// private network → host endpoint, denied at the end of a tier.
		flow(&api.FlowKey{
			SourceName: "pvt", SourceType: api.EndpointType_Network,
			DestName: "node-1-eth0", DestType: api.EndpointType_HostEndpoint, DestPort: 22,
			Proto: "tcp", Reporter: api.Reporter_Dst, Action: api.Action_Deny,
			Policies: &api.PolicyTrace{EnforcedPolicies: []*api.PolicyHit{endOfTier}},
		}, nil, nil, 2),
		// host endpoint → network set over UDP, a cluster policy and a
		// staged global one.
		flow(&api.FlowKey{
			SourceName: "node-2-eth0", SourceType: api.EndpointType_HostEndpoint,
			DestName: "dns-servers", DestNamespace: "infra", DestType: api.EndpointType_NetworkSet, DestPort: 53,
			Proto: "udp", Reporter: api.Reporter_Src, Action: api.Action_Allow,
			Policies: &api.PolicyTrace{EnforcedPolicies: []*api.PolicyHit{kcnp, sgnp}, PendingPolicies: []*api.PolicyHit{sgnp}},
		}, nil, []string{"role=dns"}, 40),
		// network set → wep, Kubernetes policies, a hit felix cannot write.
		flow(&api.FlowKey{
			SourceName: "partners", SourceNamespace: "shop", SourceType: api.EndpointType_NetworkSet,
			DestName: "redis-*", DestNamespace: "shop", DestType: api.EndpointType_WorkloadEndpoint, DestPort: 6379,
			Proto: "tcp", Reporter: api.Reporter_Dst, Action: api.Action_Allow,
			Policies: &api.PolicyTrace{EnforcedPolicies: []*api.PolicyHit{knp, unknownKind}, PendingPolicies: []*api.PolicyHit{sknp}},
		}, []string{"partner=acme"}, []string{"app=redis"}, 5),
		// wep in the dev namespace → wep, passed then allowed: the sample
		// rules drop it (drop-dev-namespace). No policy trace at all.
		flow(&api.FlowKey{
			SourceName: "tester-*", SourceNamespace: "dev", SourceType: api.EndpointType_WorkloadEndpoint,
			DestName: "api-*", DestNamespace: "dev", DestType: api.EndpointType_WorkloadEndpoint, DestPort: 8080,
			Proto: "tcp", Reporter: api.Reporter_Src, Action: api.Action_Pass,
		}, []string{"app=tester"}, []string{"app=api"}, 1),
		// ICMP (no port) to a public network, allowed.
		flow(&api.FlowKey{
			SourceName: "prober-*", SourceNamespace: "monitoring", SourceType: api.EndpointType_WorkloadEndpoint,
			DestName: "pub", DestType: api.EndpointType_Network,
			Proto: "icmp", Reporter: api.Reporter_Src, Action: api.Action_Allow,
			Policies: &api.PolicyTrace{EnforcedPolicies: []*api.PolicyHit{profile}},
		}, []string{"app=prober"}, nil, 1),
	}
}
