package codec

// IANA protocol numbers and the names Calico's JSON writes for them. Felix
// writes the name in JSON ("tcp") and the number in text (6); the Flow keeps
// the name in Str and the number in Int, so a rule can use either.
var protoNames = [256]string{
	1:   "icmp",
	2:   "igmp",
	4:   "ipip",
	6:   "tcp",
	17:  "udp",
	41:  "ipv6",
	47:  "gre",
	50:  "esp",
	51:  "ah",
	58:  "icmpv6",
	103: "pim",
	112: "vrrp",
	132: "sctp",
	136: "udplite",
}

// protoNumber resolves a protocol name (any case) or decimal number text.
// It does not allocate: names are folded to lower case in a stack buffer.
func protoNumber(s string) (int64, bool) {
	if n, ok := parseUint8(s); ok {
		return n, true
	}
	if len(s) == 0 || len(s) > 9 {
		return 0, false
	}
	var lower [9]byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		lower[i] = c
	}
	switch string(lower[:len(s)]) {
	case "tcp":
		return 6, true
	case "udp":
		return 17, true
	case "icmp":
		return 1, true
	case "icmpv6", "icmp6", "ipv6-icmp":
		return 58, true
	case "sctp":
		return 132, true
	case "udplite":
		return 136, true
	case "igmp":
		return 2, true
	case "ipip", "ipencap":
		return 4, true
	case "ipv6":
		return 41, true
	case "gre":
		return 47, true
	case "esp":
		return 50, true
	case "ah":
		return 51, true
	case "pim":
		return 103, true
	case "vrrp":
		return 112, true
	}
	return 0, false
}

// parseUint8 parses decimal text 0..255 (no sign, no leading zeros beyond "0").
func parseUint8(s string) (int64, bool) {
	if len(s) == 0 || len(s) > 3 {
		return 0, false
	}
	var n int64
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	if n > 255 {
		return 0, false
	}
	return n, true
}

// ProtoName returns the name Calico writes for an IANA protocol number, or
// "" when it has none.
func ProtoName(n int64) string {
	if n < 0 || n > 255 {
		return ""
	}
	return protoNames[n]
}
