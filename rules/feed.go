package rules

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net/netip"
	"os"
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
// unmapped). Every bad line is an error "file:line: ...".
func readFeed(name, path string, h io.Writer) (*feed, error) {
	fh, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("feed %q: %w", name, err)
	}
	defer fh.Close()
	fd := &feed{name: name, file: path, set: new(bart.Lite)}
	var errs []error
	r := bufio.NewReaderSize(io.TeeReader(fh, h), 1<<16)
	line := 0
	for {
		b, rerr := r.ReadSlice('\n')
		if rerr == bufio.ErrBufferFull {
			// A line longer than 64 KiB is no address; read past it.
			line++
			for rerr == bufio.ErrBufferFull {
				_, rerr = r.ReadSlice('\n')
			}
			if len(errs) < maxFeedErrors {
				errs = append(errs, fmt.Errorf("%s:%d: feed %q: line too long", path, line, name))
			}
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
				p, perr := parseFeedEntry(viewString(b))
				if perr != nil {
					if len(errs) < maxFeedErrors {
						errs = append(errs, fmt.Errorf("%s:%d: feed %q: %v", path, line, name, perr))
					}
				} else {
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

// parseFeedEntry parses one address or CIDR.
func parseFeedEntry(s string) (netip.Prefix, error) {
	if strings.IndexByte(s, '/') >= 0 {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return netip.Prefix{}, err
		}
		if p.Addr().Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits()-96)
		}
		return p.Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	a = a.Unmap().WithZone("")
	return netip.PrefixFrom(a, a.BitLen()), nil
}
