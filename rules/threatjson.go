package rules

import (
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
	dst = append(dst, `"flowsieve":{"rules_version":`...)
	dst = appendJSONString(dst, s.version)
	dst = append(dst, `,"threats":[`...)
	for i, h := range v.Threats {
		if i > 0 {
			dst = append(dst, ',')
		}
		tr := &s.threatInfo[h.Rule]
		dst = append(dst, `{"rule":`...)
		dst = appendJSONString(dst, tr.Name)
		dst = append(dst, `,"severity":`...)
		dst = appendJSONString(dst, tr.Severity)
		if h.Feed != "" {
			dst = append(dst, `,"feed":`...)
			dst = appendJSONString(dst, h.Feed)
		}
		if h.Field < codec.NumFields {
			dst = append(dst, `,"field":`...)
			dst = appendJSONString(dst, h.Field.String())
		}
		if h.Addr.IsValid() {
			dst = append(dst, `,"addr":"`...)
			dst = h.Addr.AppendTo(dst)
			dst = append(dst, '"')
		}
		dst = append(dst, `,"reason":`...)
		dst = appendJSONString(dst, h.Reason)
		dst = append(dst, '}')
	}
	dst = append(dst, `],"dropped_by":`...)
	if v.Keep || v.DropRule < 0 {
		dst = append(dst, "null"...)
	} else {
		dst = appendJSONString(dst, s.filterNames[v.DropRule])
	}
	return append(dst, "}}"...)
}

const hexDigits = "0123456789abcdef"

func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				dst = append(dst, '\\', c)
			case c < 0x20:
				dst = append(dst, `\u00`...)
				dst = append(dst, hexDigits[c>>4], hexDigits[c&0xf])
			default:
				dst = append(dst, c)
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			dst = append(dst, `\ufffd`...)
		} else {
			dst = append(dst, s[i:i+n]...)
		}
		i += n
	}
	return append(dst, '"')
}
