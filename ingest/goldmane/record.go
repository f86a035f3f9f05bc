package goldmane

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/flowsieve/flowsieve/codec"
	api "github.com/flowsieve/flowsieve/internal/goldmaneapi"
)

// notIncluded is felix's flowlog.FieldNotIncluded: the value of a string
// field that does not apply or was aggregated away.
const notIncluded = "-"

// Record is one Goldmane flow as a Calico flow-log record.
type Record struct {
	// Key is the same for every interval of one Goldmane flow key, so the
	// default partitioner puts a flow's records on one partition.
	Key []byte
	// Value is the JSON record, in felix's member order.
	Value []byte
	// DroppedHits counts the policy hits felix could not have written
	// (see policyHit); they are left out of the record.
	DroppedHits int
}

// ErrNoKey is returned for a FlowResult without a flow or a flow key.
var ErrNoKey = errors.New("goldmane flow without a key")

// Convert maps one Goldmane flow to a Calico flow-log record, field by
// field as felix's ConvertGoldmaneToFlowlog does and felix's JSON writer
// writes it (docs/ingest.md has the table). It is a pure function.
func Convert(fl *api.Flow) (Record, error) {
	k := fl.GetKey()
	if k == nil {
		return Record{}, ErrNoKey
	}
	var f codec.Flow
	num := func(id codec.Field, n int64) {
		f.Set(id, codec.Value{Str: strconv.FormatInt(n, 10), Int: n, Kind: codec.KindNumber, IsInt: true})
	}
	str := func(id codec.Field, s string) {
		f.Set(id, codec.Value{Str: s, Kind: codec.KindString})
	}
	raw := func(id codec.Field, kind codec.Kind, json []byte) {
		f.Set(id, codec.Value{Str: string(json), Kind: kind})
	}
	orDash := func(s string) string {
		if s == "" {
			return notIncluded
		}
		return s
	}

	num(codec.StartTime, fl.GetStartTime())
	num(codec.EndTime, fl.GetEndTime())

	// Goldmane's names are aggregated (a pod's GenerateName prefix, a host
	// endpoint, a network set, pub/pvt): felix fills name_aggr with them and
	// writes "-" for the pod name.
	str(codec.SourceName, notIncluded)
	str(codec.SourceNameAggr, orDash(k.GetSourceName()))
	str(codec.SourceNamespace, orDash(k.GetSourceNamespace()))
	if t, ok := endpointType(k.GetSourceType()); ok {
		str(codec.SourceType, t)
	}
	raw(codec.SourceLabels, codec.KindObject, labelsJSON(fl.GetSourceLabels()))

	str(codec.DestName, notIncluded)
	str(codec.DestNameAggr, orDash(k.GetDestName()))
	str(codec.DestNamespace, orDash(k.GetDestNamespace()))
	num(codec.DestPort, k.GetDestPort())
	if t, ok := endpointType(k.GetDestType()); ok {
		str(codec.DestType, t)
	}
	raw(codec.DestLabels, codec.KindObject, labelsJSON(fl.GetDestLabels()))

	str(codec.DestServiceNamespace, orDash(k.GetDestServiceNamespace()))
	str(codec.DestServiceName, orDash(k.GetDestServiceName()))
	str(codec.DestServicePort, orDash(k.GetDestServicePortName()))
	if p := k.GetDestServicePort(); p != 0 {
		num(codec.DestServicePortNum, p)
	} else {
		raw(codec.DestServicePortNum, codec.KindNull, []byte("null"))
	}

	if p := strings.ToLower(k.GetProto()); p != "" {
		str(codec.Proto, p)
	}
	if a, ok := actionName(k.GetAction()); ok {
		str(codec.Action, a)
	}
	switch k.GetReporter() {
	case api.Reporter_Src:
		str(codec.Reporter, "src")
	case api.Reporter_Dst:
		str(codec.Reporter, "dst")
	}
	pol, dropped := policiesJSON(k.GetPolicies())
	raw(codec.Policies, codec.KindObject, pol)

	num(codec.BytesIn, fl.GetBytesIn())
	num(codec.BytesOut, fl.GetBytesOut())
	// felix: NumFlows = NumConnectionsLive.
	num(codec.NumFlows, fl.GetNumConnectionsLive())
	num(codec.NumFlowsStarted, fl.GetNumConnectionsStarted())
	num(codec.NumFlowsCompleted, fl.GetNumConnectionsCompleted())
	num(codec.PacketsIn, fl.GetPacketsIn())
	num(codec.PacketsOut, fl.GetPacketsOut())

	return Record{Key: FlowKeyID(k), Value: codec.AppendJSON(nil, &f), DroppedHits: dropped}, nil
}

func endpointType(t api.EndpointType) (string, bool) {
	switch t {
	case api.EndpointType_WorkloadEndpoint:
		return "wep", true
	case api.EndpointType_HostEndpoint:
		return "hep", true
	case api.EndpointType_NetworkSet:
		return "ns", true
	case api.EndpointType_Network:
		return "net", true
	}
	return "", false
}

func actionName(a api.Action) (string, bool) {
	switch a {
	case api.Action_Allow:
		return "allow", true
	case api.Action_Deny:
		return "deny", true
	case api.Action_Pass:
		return "pass", true
	}
	return "", false
}

// labelsJSON writes Calico's {"labels":["k=v",...]}, in Goldmane's order.
func labelsJSON(labels []string) []byte {
	b := []byte(`{"labels":[`)
	for i, l := range labels {
		if i > 0 {
			b = append(b, ',')
		}
		b = codec.AppendJSONString(b, l)
	}
	return append(b, "]}"...)
}

// policiesJSON writes {"enforced_policies":[...],"pending_policies":[...]}
// and counts the hits left out.
func policiesJSON(t *api.PolicyTrace) ([]byte, int) {
	dropped := 0
	list := func(b []byte, name string, hits []*api.PolicyHit) []byte {
		b = codec.AppendJSONString(b, name)
		b = append(b, ":["...)
		n := 0
		for _, h := range hits {
			s, err := PolicyHitString(h)
			if err != nil {
				dropped++
				continue
			}
			if n > 0 {
				b = append(b, ',')
			}
			b = codec.AppendJSONString(b, s)
			n++
		}
		return append(b, ']')
	}
	b := []byte{'{'}
	b = list(b, "enforced_policies", t.GetEnforcedPolicies())
	b = append(b, ',')
	b = list(b, "pending_policies", t.GetPendingPolicies())
	return append(b, '}'), dropped
}

// shortKind is felix's types.ShortKind* for each policy kind (Calico v3.32).
var shortKind = map[api.PolicyKind]string{
	api.PolicyKind_CalicoNetworkPolicy:           "np",
	api.PolicyKind_GlobalNetworkPolicy:           "gnp",
	api.PolicyKind_StagedNetworkPolicy:           "snp",
	api.PolicyKind_StagedGlobalNetworkPolicy:     "sgnp",
	api.PolicyKind_StagedKubernetesNetworkPolicy: "sknp",
	api.PolicyKind_NetworkPolicy:                 "knp",
	api.PolicyKind_ClusterNetworkPolicy:          "kcnp",
	api.PolicyKind_Profile:                       "pro",
}

// PolicyHitString is felix's policy label for a hit,
// "<policy index>|<tier>|<kind>:[<namespace>/]<name>|<action>|<rule index>",
// as Goldmane's PolicyHit.ToString writes it (Calico v3.32): an end-of-tier
// hit (rule index -1) names the policy that triggered it, a profile's tier
// is __PROFILE__. A hit ToString refuses is an error here too: an unknown
// kind, a namespaced kind without a namespace or a global one with one, an
// end-of-tier hit without its trigger, and (stricter than ToString, which
// would write "actionunspecified") a hit without an action.
func PolicyHitString(h *api.PolicyHit) (string, error) {
	if h == nil {
		return "", errors.New("empty policy hit")
	}
	action, ok := actionName(h.GetAction())
	if !ok {
		return "", fmt.Errorf("policy hit %q: unexpected action %v", h.GetName(), h.GetAction())
	}
	named := h
	if h.GetKind() == api.PolicyKind_EndOfTier {
		if h.GetTrigger() == nil {
			return "", errors.New("end-of-tier policy hit without its trigger")
		}
		named = h.GetTrigger()
	}
	kind, ok := shortKind[named.GetKind()]
	if !ok {
		return "", fmt.Errorf("policy hit %q: unexpected policy kind %v", named.GetName(), named.GetKind())
	}
	switch named.GetKind() {
	case api.PolicyKind_GlobalNetworkPolicy, api.PolicyKind_StagedGlobalNetworkPolicy, api.PolicyKind_ClusterNetworkPolicy:
		if named.GetNamespace() != "" {
			return "", fmt.Errorf("policy hit %q: namespace %q on a global policy", named.GetName(), named.GetNamespace())
		}
	case api.PolicyKind_CalicoNetworkPolicy, api.PolicyKind_NetworkPolicy,
		api.PolicyKind_StagedKubernetesNetworkPolicy, api.PolicyKind_StagedNetworkPolicy:
		if named.GetNamespace() == "" {
			return "", fmt.Errorf("policy hit %q: namespaced policy without a namespace", named.GetName())
		}
	}
	name := kind + ":" + named.GetName()
	if ns := named.GetNamespace(); ns != "" {
		name = kind + ":" + ns + "/" + named.GetName()
	}
	tier := h.GetTier()
	if h.GetKind() == api.PolicyKind_Profile {
		tier = "__PROFILE__"
	}
	return strconv.FormatInt(h.GetPolicyIndex(), 10) + "|" + tier + "|" + name + "|" + action + "|" +
		strconv.FormatInt(h.GetRuleIndex(), 10), nil
}

// FlowKeyID identifies a Goldmane flow key: every field of FlowKey,
// policies included, hashed (SHA-256, first 16 bytes, hex). Goldmane's own
// FlowResult.id is 1:1 with the key too but changes when Goldmane
// restarts, so it cannot key Kafka records.
func FlowKeyID(k *api.FlowKey) []byte {
	h := sha256.New()
	var n [8]byte
	s := func(v string) {
		binary.BigEndian.PutUint64(n[:], uint64(len(v)))
		h.Write(n[:])
		h.Write([]byte(v))
	}
	i := func(v int64) {
		binary.BigEndian.PutUint64(n[:], uint64(v))
		h.Write(n[:])
	}
	s(k.GetSourceName())
	s(k.GetSourceNamespace())
	i(int64(k.GetSourceType()))
	s(k.GetDestName())
	s(k.GetDestNamespace())
	i(int64(k.GetDestType()))
	i(k.GetDestPort())
	s(k.GetDestServiceName())
	s(k.GetDestServiceNamespace())
	s(k.GetDestServicePortName())
	i(k.GetDestServicePort())
	s(k.GetProto())
	i(int64(k.GetReporter()))
	i(int64(k.GetAction()))
	var hit func(p *api.PolicyHit)
	hit = func(p *api.PolicyHit) {
		if p == nil {
			i(-1)
			return
		}
		i(int64(p.GetKind()))
		s(p.GetNamespace())
		s(p.GetName())
		s(p.GetTier())
		i(int64(p.GetAction()))
		i(p.GetPolicyIndex())
		i(p.GetRuleIndex())
		hit(p.GetTrigger())
	}
	for _, list := range [][]*api.PolicyHit{k.GetPolicies().GetEnforcedPolicies(), k.GetPolicies().GetPendingPolicies()} {
		i(int64(len(list)))
		for _, p := range list {
			hit(p)
		}
	}
	sum := h.Sum(nil)
	return []byte(hex.EncodeToString(sum[:16]))
}
