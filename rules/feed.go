package rules

import (
	"context"
	"fmt"
	"io"
	"net/netip"
	"time"

	"github.com/gaissmai/bart"

	"github.com/flowsieve/flowsieve/rules/feeds"
)

// feed is one threat feed of a Set: an IP set in a bart table, or a
// domain set.
type feed struct {
	name    string
	file    string
	entries int
	set     *bart.Lite       // IPSet
	dom     *feeds.DomainSet // DomainNameSet
	info    FeedInfo
}

// FeedInfo describes one loaded threat feed.
type FeedInfo struct {
	Name    string
	File    string        // the feed file, or the GlobalThreatFeed manifest file
	Entries int           // entries of the data serving
	Content string        // IPSet or DomainNameSet
	Source  string        // the file, or the URL pulled (without query or userinfo)
	Format  string        // newlineDelimited, json (path ...), csv (column ...)
	Period  time.Duration // how often it is pulled; 0 for a file (reloaded when it changes)
	// Disabled: a GlobalThreatFeed with mode Disabled; it holds nothing.
	Disabled bool
}

// readFeed loads a feed file in Calico's GlobalThreatFeed IP-set format
// (newlineDelimited, feeds.Build): one IP address or CIDR a line, '#'
// starts a comment, blank lines are ignored. Every bad line is an error
// "file:line: ..." that says what is wrong without echoing the line.
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
	t, err := feeds.Build(ctx, io.TeeReader(fh, h), feeds.IPSet, feeds.Format{}, allowAny, path, name)
	if err != nil {
		return nil, err
	}
	return &feed{name: name, file: path, entries: t.Entries, set: t.IPs,
		info: FeedInfo{Name: name, File: path, Entries: t.Entries, Content: "IPSet", Source: path, Format: "newlineDelimited"}}, nil
}

// pulledFeed makes a Set's feed of a GlobalThreatFeed's table.
func pulledFeed(spec *feeds.Spec, t *feeds.Table) *feed {
	fd := &feed{name: spec.Name, file: spec.File, entries: t.Entries, set: t.IPs, dom: t.Domains}
	fd.info = FeedInfo{Name: spec.Name, File: spec.File, Entries: t.Entries, Content: spec.Content.String(),
		Source: feeds.Redact(spec.URL), Format: spec.Format.String(), Period: spec.Period, Disabled: spec.Disabled}
	if fd.set == nil && fd.dom == nil {
		fd.set = new(bart.Lite)
	}
	return fd
}

// parseFeedEntry parses one address or CIDR of a rule (a cidr test); the
// error quotes it, cut if long.
func parseFeedEntry(s string) (netip.Prefix, error) {
	p, why := feeds.ParsePrefix(s)
	if why != "" {
		return p, fmt.Errorf("%s: %s", quoteCut(s), why)
	}
	return p, nil
}
