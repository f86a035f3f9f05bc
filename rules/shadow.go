package rules

import (
	"unsafe"

	"github.com/flowsieve/flowsieve/codec"
)

// Shadow rules (issue 14): a candidate rule file judges every flow beside
// the live one and decides nothing. Comparing the two verdicts is the pure
// part, shared by the pipeline and `flowsieve filter --shadow`; judging
// twice costs one more Judge on a flow already decoded, and neither the
// comparison nor the JSON below allocates beyond the caller's buffer.

// Comparison is how the shadow verdict of a flow differs from its live
// verdict. The zero value means they agree.
type Comparison struct {
	// Keep: one set keeps the flow and the other drops it. Two sets that
	// both drop it by different filters agree: the outputs are the same.
	Keep bool
	// Threats: the flow is flagged by a different set of threat rules,
	// compared by name (indexes differ between files). A rule's hit with a
	// different feed, address or severity is the same rule flagging.
	Threats bool
}

// Disagree reports whether the two verdicts differ in anything that would
// change an output.
func (c Comparison) Disagree() bool { return c.Keep || c.Threats }

// Compare compares the verdicts two sets gave one flow: lv by live, sv by
// shadow. A nil set has no rules: it keeps every flow and flags none,
// whatever its verdict says.
func Compare(live *Set, lv *Verdict, shadow *Set, sv *Verdict) Comparison {
	lKeep, sKeep := live == nil || lv.Keep, shadow == nil || sv.Keep
	return Comparison{
		Keep:    lKeep != sKeep,
		Threats: !sameThreats(live, lv, shadow, sv),
	}
}

// sameThreats reports whether the two verdicts' hits name the same threat
// rules. Hits are few and a rule hits at most once, so the quadratic scan
// costs less than any set it could build (and allocates nothing).
func sameThreats(a *Set, av *Verdict, b *Set, bv *Verdict) bool {
	ah, bh := hits(a, av), hits(b, bv)
	if len(ah) != len(bh) {
		return false
	}
	for _, h := range ah {
		if !hasThreat(b, bh, a.threatInfo[h.Rule].Name) {
			return false
		}
	}
	return true
}

func hits(s *Set, v *Verdict) []Hit {
	if s == nil {
		return nil
	}
	return v.Threats
}

func hasThreat(s *Set, hs []Hit, name string) bool {
	for _, h := range hs {
		if s.threatInfo[h.Rule].Name == name {
			return true
		}
	}
	return false
}

// DecidingRule is the filter that dropped the flow, "" when the set kept it
// (or s is nil).
func DecidingRule(s *Set, v *Verdict) string {
	if s == nil || v.Keep || v.DropRule < 0 {
		return ""
	}
	return s.filterNames[v.DropRule]
}

// AppendShadowJSON appends one disagreement as a JSON object:
//
//	{"record":"<the input record, as a JSON string>","live":"kept",
//	 "shadow":"dropped","live_rule":null,"shadow_rule":"drop-dev",
//	 "live_threats":["c2-traffic"],"shadow_threats":[],
//	 "live_version":"3f2a9c1d","shadow_version":"77b0e412"}
//
// A rule is null when no filter dropped the flow; the threats list the
// names of the rules that flagged it; a nil set's version is null. The
// record must be UTF-8 (both decoders insist on it).
func AppendShadowJSON(dst, record []byte, live *Set, lv *Verdict, shadow *Set, sv *Verdict) []byte {
	dst = append(dst, `{"record":`...)
	// A view, not a copy: AppendJSONString reads the bytes and keeps
	// nothing, and the copy would be the one allocation of a shadow record.
	dst = codec.AppendJSONString(dst, unsafe.String(unsafe.SliceData(record), len(record)))
	dst = append(dst, `,"live":`...)
	dst = appendKept(dst, live, lv)
	dst = append(dst, `,"shadow":`...)
	dst = appendKept(dst, shadow, sv)
	dst = append(dst, `,"live_rule":`...)
	dst = appendNullable(dst, DecidingRule(live, lv))
	dst = append(dst, `,"shadow_rule":`...)
	dst = appendNullable(dst, DecidingRule(shadow, sv))
	dst = append(dst, `,"live_threats":`...)
	dst = appendThreatNames(dst, live, lv)
	dst = append(dst, `,"shadow_threats":`...)
	dst = appendThreatNames(dst, shadow, sv)
	dst = append(dst, `,"live_version":`...)
	dst = appendNullable(dst, versionOf(live))
	dst = append(dst, `,"shadow_version":`...)
	dst = appendNullable(dst, versionOf(shadow))
	return append(dst, '}')
}

func versionOf(s *Set) string {
	if s == nil {
		return ""
	}
	return s.version
}

func appendKept(dst []byte, s *Set, v *Verdict) []byte {
	if s == nil || v.Keep {
		return append(dst, `"kept"`...)
	}
	return append(dst, `"dropped"`...)
}

func appendNullable(dst []byte, s string) []byte {
	if s == "" {
		return append(dst, "null"...)
	}
	return codec.AppendJSONString(dst, s)
}

func appendThreatNames(dst []byte, s *Set, v *Verdict) []byte {
	dst = append(dst, '[')
	for i, h := range hits(s, v) {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = codec.AppendJSONString(dst, s.threatInfo[h.Rule].Name)
	}
	return append(dst, ']')
}
