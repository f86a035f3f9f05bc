package codec

// felixOrder is the member order of felix's JSONOutput, used for records
// that did not come from JSON (text records, flows built in code).
var felixOrder = [...]Field{
	StartTime, EndTime,
	SourceIP, SourceName, SourceNameAggr, SourceNamespace, NatOutgoingPorts, SourcePort, SourceType, SourceLabels,
	DestIP, DestName, DestNameAggr, DestNamespace, DestPort, DestType, DestLabels,
	DestServiceNamespace, DestServiceName, DestServicePort, DestServicePortNum, DestDomains,
	Proto, Action, Reporter, Policies,
	BytesIn, BytesOut, NumFlows, NumFlowsStarted, NumFlowsCompleted, PacketsIn, PacketsOut,
	TransitBytesIn, TransitBytesOut, TransitPacketsIn, TransitPacketsOut,
	HTTPRequestsAllowedIn, HTTPRequestsDeniedIn,
	ProcessName, NumProcessNames, ProcessID, NumProcessIDs, ProcessArgs, NumProcessArgs,
	OriginalSourceIPs, NumOriginalSourceIPs,
	TCPMeanSendCongestionWindow, TCPMinSendCongestionWindow, TCPMeanSmoothRTT, TCPMaxSmoothRTT,
	TCPMeanMinRTT, TCPMaxMinRTT, TCPMeanMSS, TCPMinMSS, TCPTotalRetransmissions, TCPLostPackets, TCPUnrecoveredTo,
	Host,
}

// AppendJSON appends f as one JSON object with Calico's field names.
//
// A record decoded from JSON is written back member by member as it was
// read: same names (felix's camelCase startTime too), same order, numbers,
// booleans, objects and arrays byte for byte; strings are re-escaped only
// where JSON requires it, so their decoded value is unchanged. Any other
// record (text, or built in code) is written in felix's member order with
// absent fields left out: proto as its name ("tcp"), labels as
// {"labels":["k=v",...]}, extras last.
func AppendJSON(dst []byte, f *Flow) []byte {
	dst = append(dst, '{')
	dst = AppendJSONMembers(dst, f)
	return append(dst, '}')
}

// AppendJSONMembers appends f's members as AppendJSON writes them, without
// the enclosing braces, so a caller can add members of its own
// (`{` + members + `,"threat":...}`). It appends nothing for an empty flow.
func AppendJSONMembers(dst []byte, f *Flow) []byte {
	start := len(dst)
	if f.format == FormatJSON {
		for _, o := range f.order {
			if o < uint32(NumFields) {
				dst = f.appendField(dst, start, Field(o))
			} else {
				m := &f.extra[o-uint32(NumFields)]
				dst = appendMember(dst, start, m.Key, &m.Value)
			}
		}
		return dst
	}
	for _, id := range felixOrder {
		dst = f.appendField(dst, start, id)
	}
	for i := range f.extra {
		dst = appendMember(dst, start, f.extra[i].Key, &f.extra[i].Value)
	}
	return dst
}

// memberPrefix is `"name":` for every field, so writing a known member
// name costs one copy.
var memberPrefix = func() (t [NumFields]string) {
	for i := range fields {
		t[i] = `"` + fields[i].name + `":`
	}
	return t
}()

func (f *Flow) appendField(dst []byte, start int, id Field) []byte {
	v := &f.vals[id]
	if v.Kind == KindAbsent {
		return dst
	}
	if len(dst) > start {
		dst = append(dst, ',')
	}
	switch {
	case id == StartTime && f.alias&aliasStart != 0:
		dst = append(dst, `"startTime":`...)
	case id == EndTime && f.alias&aliasEnd != 0:
		dst = append(dst, `"endTime":`...)
	default:
		dst = append(dst, memberPrefix[id]...)
	}
	if f.pending>>id&1 != 0 {
		return appendLabelsJSON(dst, f.Labels(id))
	}
	return appendValue(dst, v)
}

func appendMember(dst []byte, start int, key string, v *Value) []byte {
	if v.Kind == KindAbsent {
		return dst
	}
	if len(dst) > start {
		dst = append(dst, ',')
	}
	dst = AppendJSONString(dst, key)
	dst = append(dst, ':')
	return appendValue(dst, v)
}

func appendValue(dst []byte, v *Value) []byte {
	if v.Kind == KindString {
		return AppendJSONString(dst, v.Str)
	}
	if v.Str != "" {
		return append(dst, v.Str...)
	}
	// A Value built in code without its JSON text.
	switch v.Kind {
	case KindNumber:
		return appendInt(dst, v.Int)
	case KindBool:
		return append(dst, "false"...)
	case KindArray:
		return append(dst, "[]"...)
	case KindObject:
		return append(dst, "{}"...)
	}
	return append(dst, "null"...)
}

const hexDigits = "0123456789abcdef"

// AppendJSONString appends s as one JSON string, quotes included. It is the
// one JSON string escaper: every writer (records, threat records, filter's
// invalid-record lines) uses it, so a value reads back the same wherever it
// was written. Quotes, backslashes and control bytes are escaped
// (\n \r \t, others \u00XX); every other byte is written as is. Invalid
// UTF-8 is therefore passed through rather than replaced with U+FFFD: both
// decoders reject it, so it reaches a writer only from values built in code,
// and passing it through keeps a decoded value byte for byte.
func AppendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	dst = appendEscaped(dst, s)
	return append(dst, '"')
}

// appendEscaped writes s as the inside of a JSON string (see AppendJSONString).
func appendEscaped(dst []byte, s string) []byte {
	last := 0
	for i := 0; i < len(s); i++ {
		// Eight bytes at a time while none needs escaping (see scanPlain).
		for i+8 <= len(s) {
			v := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
				uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
			const ones, highs = 0x0101010101010101, 0x8080808080808080
			q := v ^ (ones * '"')
			bs := v ^ (ones * '\\')
			if ((v-ones*0x20)&^v|(q-ones)&^q|(bs-ones)&^bs)&highs != 0 {
				break
			}
			i += 8
		}
		if i >= len(s) {
			break
		}
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		dst = append(dst, s[last:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
		}
		last = i + 1
	}
	return append(dst, s[last:]...)
}
