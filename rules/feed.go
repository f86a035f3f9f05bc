package rules

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"

	"github.com/gaissmai/bart"
)

// feed is one threat feed: a set of prefixes in a bart table.
type feed struct {
	name    string
	file    string
	entries int
	set     *bart.Lite
}

// maxFeedErrors caps how many bad lines one feed reports: a wrong file
// (a binary, a CSV) would otherwise produce millions of errors.
const maxFeedErrors = 20

// readFeed loads a feed file in Calico's GlobalThreatFeed IP-set format:
// one IP address or CIDR a line, '#' starts a comment, blank lines are
// ignored. A bare address becomes a /32 or /128; a CIDR is masked to its
// network; IPv4-mapped IPv6 addresses are unmapped (flows carry them
// unmapped). Every bad line is an error "file:line: ..." that says what is
// wrong without echoing the line: a feed file may be a file never meant to
// be one (a secret named by mistake), so at most a short excerpt is shown.
//
// An entry covering a whole address family (0.0.0.0/0, ::/0) would flag
// every flow: it is an error unless allowAny (the feed's allow_any) says
// it is meant.
func readFeed(ctx context.Context, name, path string, allowAny bool, h io.Writer) (*feed, error) {
	fh, err := openRegular(path)
	if err != nil {
		return nil, fmt.Errorf("feed %q: %w", name, err)
	}
	defer fh.Close()
	fd := &feed{name: name, file: path, set: new(bart.Lite)}
	var errs []error
	bad := func(line int, format string, args ...any) {
		if len(errs) < maxFeedErrors {
			errs = append(errs, fmt.Errorf("%s:%d: feed %q: %s", path, line, name, fmt.Sprintf(format, args...)))
		}
	}
	r := bufio.NewReaderSize(io.TeeReader(fh, h), 1<<16)
	line := 0
	for {
		if line&0xfff == 0 && ctx.Err() != nil {
			return nil, fmt.Errorf("feed %q: reading stopped at line %d: %w", name, line, context.Cause(ctx))
		}
		b, rerr := r.ReadSlice('\n')
		if rerr == bufio.ErrBufferFull {
			// A line longer than 64 KiB is no address; read past it.
			line++
			for rerr == bufio.ErrBufferFull {
				_, rerr = r.ReadSlice('\n')
			}
			bad(line, "line longer than 64 KiB, not an address")
			if rerr != nil && rerr != io.EOF {
				return nil, fmt.Errorf("feed %q: %w", name, rerr)
			}
			if rerr == io.EOF {
				break
			}
			continue
		}
		if len(b) > 0 {
			line++
			if i := bytes.IndexByte(b, '#'); i >= 0 {
				b = b[:i]
			}
			b = bytes.TrimSpace(b)
			if len(b) > 0 {
				// netip's parsers keep nothing of their input: a view
				// of the read buffer saves a copy per line.
				p, why := parseEntry(viewString(b))
				switch {
				case why != "":
					bad(line, "%s: %s", excerpt(string(b)), why)
				case p.Bits() == 0 && !allowAny:
					bad(line, "%s covers every %s address, so every flow would match; set allow_any: true on the feed if that is meant", p, family(p))
				default:
					fd.set.Insert(p)
					fd.entries++
				}
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return nil, fmt.Errorf("feed %q: %w", name, rerr)
		}
	}
	if len(errs) == maxFeedErrors {
		errs = append(errs, fmt.Errorf("%s: feed %q: too many errors, stopped reporting", path, name))
	}
	if len(errs) > 0 {
		return nil, joinErrs(errs)
	}
	return fd, nil
}

func family(p netip.Prefix) string {
	if p.Addr().Is4() {
		return "IPv4"
	}
	return "IPv6"
}

// parseFeedEntry parses one address or CIDR of a rule (a cidr test); the
// error quotes it, cut if long.
func parseFeedEntry(s string) (netip.Prefix, error) {
	p, why := parseEntry(s)
	if why != "" {
		return p, fmt.Errorf("%s: %s", quoteCut(s), why)
	}
	return p, nil
}

// parseEntry parses one address or CIDR; why says what is wrong with it,
// without repeating it (netip's errors quote their whole input).
func parseEntry(s string) (p netip.Prefix, why string) {
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		a, why := parseFeedAddr(s[:i])
		if why != "" {
			return netip.Prefix{}, why
		}
		bits, err := strconv.Atoi(s[i+1:])
		if err != nil || s[i+1] == '+' || s[i+1] == '-' {
			return netip.Prefix{}, "the prefix length after '/' is not a number"
		}
		if bits > a.BitLen() {
			return netip.Prefix{}, fmt.Sprintf("prefix length %d is out of range (0 to %d for %s)", bits, a.BitLen(), family(netip.PrefixFrom(a, 0)))
		}
		if a.Is4In6() && bits >= 96 {
			a, bits = a.Unmap(), bits-96
		}
		return netip.PrefixFrom(a, bits).Masked(), ""
	}
	a, why := parseFeedAddr(s)
	if why != "" {
		return netip.Prefix{}, why
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), ""
}

// parseFeedAddr parses an address without its zone (netip.ParsePrefix
// refuses zones too), reporting why in netip's words without its quote of
// the input.
func parseFeedAddr(s string) (netip.Addr, string) {
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
