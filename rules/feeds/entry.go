package feeds

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
)

// ParsePrefix parses one feed or rule entry: an address or a CIDR. A bare
// address becomes a /32 or /128; a CIDR is masked to its network;
// IPv4-mapped IPv6 addresses are unmapped (flows carry them unmapped).
// why says what is wrong without repeating s (netip's errors quote their
// whole input, and a feed may be a file never meant to be one).
func ParsePrefix(s string) (p netip.Prefix, why string) {
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		a, why := parseAddr(s[:i])
		if why != "" {
			return netip.Prefix{}, why
		}
		bits, err := strconv.Atoi(s[i+1:])
		if err != nil || s[i+1] == '+' || s[i+1] == '-' {
			return netip.Prefix{}, "the prefix length after '/' is not a number"
		}
		if bits > a.BitLen() {
			return netip.Prefix{}, fmt.Sprintf("prefix length %d is out of range (0 to %d for %s)", bits, a.BitLen(), Family(netip.PrefixFrom(a, 0)))
		}
		if a.Is4In6() && bits >= 96 {
			a, bits = a.Unmap(), bits-96
		}
		return netip.PrefixFrom(a, bits).Masked(), ""
	}
	a, why := parseAddr(s)
	if why != "" {
		return netip.Prefix{}, why
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), ""
}

// Family names p's address family for messages.
func Family(p netip.Prefix) string {
	if p.Addr().Is4() {
		return "IPv4"
	}
	return "IPv6"
}

// parseAddr parses an address without its zone (netip.ParsePrefix
// refuses zones too), reporting why in netip's words without its quote of
// the input.
func parseAddr(s string) (netip.Addr, string) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, "not an IP address or CIDR (" + netipReason(err, s) + ")"
	}
	if a.Zone() != "" {
		return netip.Addr{}, "an address with a zone (%) is not a feed entry"
	}
	return a, ""
}

// netipReason is netip.ParseAddr's error for s without the parts that
// quote s: `ParseAddr("s"): msg (at "rest")` gives msg.
func netipReason(err error, s string) string {
	msg := strings.TrimPrefix(err.Error(), "ParseAddr("+strconv.Quote(s)+"): ")
	if strings.HasPrefix(msg, "ParseAddr(") {
		return "unable to parse IP"
	}
	if i := strings.Index(msg, " (at "); i >= 0 {
		msg = msg[:i]
	}
	return msg
}
