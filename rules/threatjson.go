package rules

import "github.com/flowsieve/flowsieve/codec"

// AppendThreatJSON appends the flow as one JSON object (codec.AppendJSON's
// members) plus a "flowsieve" member saying why it was flagged:
//
//	"flowsieve":{"rules_version":"3f2a9c1d","threats":[{"rule":"c2-traffic",
//	  "severity":"critical","feed":"c2-sample","field":"dest_ip",
//	  "addr":"198.51.100.7","reason":"dest_ip in feed c2-sample"}],
//	  "dropped_by":"drop-dev-namespace"}
//
// feed, field and addr are left out when empty; dropped_by is null when the
// filters kept the flow (threats are checked on every flow, so a dropped
// flow can still be flagged).
func AppendThreatJSON(dst []byte, f *codec.Flow, s *Set, v *Verdict) []byte {
	dst = append(dst, '{')
	start := len(dst)
	dst = codec.AppendJSONMembers(dst, f)
	if len(dst) > start {
		dst = append(dst, ',')
	}
	dst = append(dst, `"flowsieve":{"rules_version":`...)
	dst = codec.AppendJSONString(dst, s.version)
	dst = append(dst, `,"threats":[`...)
	for i, h := range v.Threats {
		if i > 0 {
			dst = append(dst, ',')
		}
		tr := &s.threatInfo[h.Rule]
		dst = append(dst, `{"rule":`...)
		dst = codec.AppendJSONString(dst, tr.Name)
		dst = append(dst, `,"severity":`...)
		dst = codec.AppendJSONString(dst, tr.Severity)
		if h.Feed != "" {
			dst = append(dst, `,"feed":`...)
			dst = codec.AppendJSONString(dst, h.Feed)
		}
		if h.Field < codec.NumFields {
			dst = append(dst, `,"field":`...)
			dst = codec.AppendJSONString(dst, h.Field.String())
		}
		if h.Addr.IsValid() {
			dst = append(dst, `,"addr":"`...)
			dst = h.Addr.AppendTo(dst)
			dst = append(dst, '"')
		}
		dst = append(dst, `,"reason":`...)
		dst = codec.AppendJSONString(dst, h.Reason)
		dst = append(dst, '}')
	}
	dst = append(dst, `],"dropped_by":`...)
	if v.Keep || v.DropRule < 0 {
		dst = append(dst, "null"...)
	} else {
		dst = codec.AppendJSONString(dst, s.filterNames[v.DropRule])
	}
	return append(dst, "}}"...)
}
