package rules

import (
	"strconv"
	"unicode/utf8"

	"github.com/flowsieve/flowsieve/codec"
)

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
	dst = appendVerdict(dst, s, v)
	return append(dst, "}}"...)
}

// AppendThreatJSONCut is AppendThreatJSON for a threat record that must
// fit in limit bytes: the verdict whole, the flow cut to fit. The flow's JSON
// object (codec.AppendJSON) is carried as a string, "record", cut at a
// character boundary, and the verdict says so, with the object's length:
//
//	{"flowsieve":{"rules_version":...,"threats":[...],"dropped_by":null,
//	  "record_cut":true,"record_bytes":1234567},"record":"{\"start_time\":..."}
//
// The result exceeds limit only when the verdict alone does.
func AppendThreatJSONCut(dst []byte, f *codec.Flow, s *Set, v *Verdict, limit int) []byte {
	start := len(dst)
	record := codec.AppendJSON(nil, f)
	dst = append(dst, '{')
	dst = appendVerdict(dst, s, v)
	dst = append(dst, `,"record_cut":true,"record_bytes":`...)
	dst = strconv.AppendInt(dst, int64(len(record)), 10)
	dst = append(dst, `},"record":`...)
	// Character by character, each through the one escaper, until the
	// next would not fit with the closing quote and brace.
	dst = append(dst, '"')
	for i := 0; i < len(record); {
		_, size := utf8.DecodeRune(record[i:])
		mark := len(dst)
		dst = codec.AppendJSONString(dst, string(record[i:i+size]))
		n := copy(dst[mark:], dst[mark+1:len(dst)-1]) // drop the quotes around the one character
		dst = dst[:mark+n]
		if len(dst)-start+len(`"}`) > limit {
			dst = dst[:mark]
			break
		}
		i += size
	}
	dst = append(dst, '"')
	return append(dst, '}')
}

// appendVerdict appends the "flowsieve" member of a threat record, up to
// and without its closing brace.
func appendVerdict(dst []byte, s *Set, v *Verdict) []byte {
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
	return dst
}
