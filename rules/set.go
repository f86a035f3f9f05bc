// Package rules holds flowsieve's rule file: the format, its compilation to
// fast matchers, threat feeds, the hot reloader, and the judgement of one
// flow (threat checks first, then filters).
//
// A Set is one compiled, immutable version of a rule file and its feeds. It
// is safe for concurrent use; judging a flow allocates nothing as long as
// each goroutine reuses its own Verdict.
package rules

import (
	"net/netip"

	"github.com/flowsieve/flowsieve/codec"
)

// Set is one compiled version of a rule file and the feeds it names.
type Set struct {
	path        string
	version     string
	filters     []filterRule
	filterNames []string
	sampling    []int // indexes of the sample and cap filters
	threats     []threatRule
	threatInfo  []ThreatRule
	feeds       []*feed
	files       []string // the rule file and every feed file, absolute
	pulled      []string // GlobalThreatFeed names
}

// ThreatRule describes one threat rule; Hit.Rule indexes Set.ThreatRules.
type ThreatRule struct {
	Name, Severity string
	Description    string
	Source         string // "rules.yaml:12" where the rule starts
}

// FilterRule describes one filter; Verdict.DropRule indexes Set.Filters.
type FilterRule struct {
	Name        string
	Action      string // "exclude", "include", "sample" or "cap"
	Compat      string // "", "fluentd" (or, later, "fluent-bit")
	Description string
	Source      string // where the rule came from: the rule file line, or what it was imported from
	Line        int    // its line in the rule file
	// Rate is a sample filter's rate: the share of matching flows kept.
	Rate float64
	// Per, MaxPerSec and MaxKeys are a cap filter's key fields, its flows
	// kept whole per key and second, and the most keys it tracks.
	Per       []string
	MaxPerSec float64
	MaxKeys   int
}

// Hit is one threat rule that flagged a flow.
type Hit struct {
	Rule   int         // index into Set.ThreatRules
	Feed   string      // the feed that matched, "" if none did
	Field  codec.Field // the field of the condition that matched; codec.NumFields if not a known field
	Addr   netip.Addr  // the address that matched a feed or CIDR, if any
	Reason string      // static text of the matching condition, e.g. "dest_ip in feed c2-sample"
}

// Verdict is the judgement of one flow. Reuse one per goroutine: Judge
// resets it and reuses its buffers.
type Verdict struct {
	Keep     bool
	DropRule int   // index into FilterNames when !Keep, -1 otherwise
	Threats  []Hit // reset by Judge, backing array reused
	// Blind lists, per threat rule that did not match, each aggregated
	// field it needs that the flow lacks (see blind.go); reset by Judge,
	// backing array reused.
	Blind []Blind
	// Rate is the probability the flow was kept with: 1 unless a sample
	// or cap filter thinned it. Scale gives the counters' scaling.
	Rate float64
	// Samples lists the sample and cap filters the flow reached and
	// matched, in order (reset by Judge, backing array reused); when one
	// dropped the flow it is the last, and DropRule.
	Samples []Sample
	// Caps holds cap filters' per-key counts between judgements; one
	// Verdict per goroutine gives one Caps per goroutine (per input
	// partition in the pipeline). Judge makes one on the wall clock when
	// it is nil and the rules have a cap filter.
	Caps   *Caps
	dither float64
	st     evalState
}

// Flagged reports whether any threat rule matched.
func (v *Verdict) Flagged() bool { return len(v.Threats) > 0 }

// Path returns the rule file the Set was loaded from.
func (s *Set) Path() string { return s.path }

// Version is a short content hash of the rule file and every feed file.
func (s *Set) Version() string { return s.version }

// FilterNames lists the filters in file order; Verdict.DropRule indexes it.
func (s *Set) FilterNames() []string { return s.filterNames }

// SamplingFilters lists the indexes (into Filters) of the sample and cap
// filters, in file order.
func (s *Set) SamplingFilters() []int { return s.sampling }

// Filters describes the filters in file order.
func (s *Set) Filters() []FilterRule {
	out := make([]FilterRule, len(s.filters))
	for i := range s.filters {
		out[i] = s.filters[i].FilterRule
	}
	return out
}

// ThreatRules lists the threat rules in file order; Hit.Rule indexes it.
func (s *Set) ThreatRules() []ThreatRule { return s.threatInfo }

// Feeds describes the feeds, in file order.
func (s *Set) Feeds() []FeedInfo {
	out := make([]FeedInfo, len(s.feeds))
	for i, f := range s.feeds {
		out[i] = f.info
	}
	return out
}

// PulledFeeds names the GlobalThreatFeeds the Set uses (a feeds.Manager
// keeps only these: Retain).
func (s *Set) PulledFeeds() []string { return s.pulled }

// Files lists the rule file and every feed file it names: what a watcher
// watches.
func (s *Set) Files() []string { return s.files }

// Judge runs every threat rule on f, then the filters in file order until
// one decides to drop. v is reset first.
func (s *Set) Judge(f *codec.Flow, v *Verdict) {
	v.Threats, v.Blind = v.Threats[:0], v.Blind[:0]
	v.Keep, v.DropRule = true, -1
	st := &v.st
	for i := range s.threats {
		t := &s.threats[i]
		st.witness, st.blind = nil, 0
		if t.cond.eval(f, st) != resTrue {
			if st.blind != 0 {
				v.Blind = appendBlind(v.Blind, i, st.blind)
			}
			continue
		}
		h := Hit{Rule: i, Field: codec.NumFields, Reason: t.reason}
		if w := st.witness; w != nil {
			h.Field, h.Feed, h.Addr = w.fieldID(), w.feedName, st.witnessAddr
			if t.reason == "" {
				h.Reason = w.reason
			}
		}
		if h.Reason == "" {
			h.Reason = t.fallback
		}
		v.Threats = append(v.Threats, h)
	}
	v.Rate, v.Samples, v.dither = 1, v.Samples[:0], 0
	hashed := false
	var u float64
	for i := range s.filters {
		r := &s.filters[i]
		st.witness = nil
		m := r.cond.eval(f, st) == resTrue // an error (fluentd compat) never drops
		switch r.kind {
		case actionExclude, actionInclude:
			if m == (r.kind == actionExclude) {
				v.Keep, v.DropRule = false, i
				return
			}
			continue
		}
		if !m {
			continue
		}
		if !hashed {
			h := FlowHash(f)
			u, v.dither, hashed = FlowUnit(h), dither(h), true
		}
		smp := Sample{Rule: i, Rate: r.rate}
		if r.kind == actionCap {
			if v.Caps == nil {
				v.Caps = NewCaps(nil)
			}
			smp.Rate, smp.Evicted = v.Caps.rate(s, r, f)
		}
		var now float64
		smp.Kept, now, smp.Rate = sampleKeep(u, v.Rate, smp.Rate)
		v.Samples = append(v.Samples, smp)
		if !smp.Kept {
			v.Keep, v.DropRule = false, i
			return
		}
		v.Rate = now
	}
}

// Explain judges f like Judge and also reports, for every rule, whether its
// condition matched (true), did not (false) or failed to evaluate (a
// fluentd-compat error, which keeps the record).
func (s *Set) Explain(f *codec.Flow) (v Verdict, threats, filters []RuleResult) {
	s.Judge(f, &v)
	var st evalState
	for i := range s.threats {
		threats = append(threats, RuleResult(s.threats[i].cond.eval(f, &st)))
	}
	for i := range s.filters {
		filters = append(filters, RuleResult(s.filters[i].cond.eval(f, &st)))
	}
	return v, threats, filters
}

// RuleResult is the outcome of one rule's condition on one flow.
type RuleResult int8

// The results of a condition.
const (
	NoMatch RuleResult = RuleResult(resFalse)
	Match   RuleResult = RuleResult(resTrue)
	Errored RuleResult = RuleResult(resError)
)

func (r RuleResult) String() string {
	switch r {
	case Match:
		return "match"
	case NoMatch:
		return "no match"
	default:
		return "error (fluentd keeps the record)"
	}
}

type filterRule struct {
	FilterRule
	kind      action
	rate      float64
	per       []codec.Field
	maxPerSec float64
	maxKeys   int
	cond      *node
	when      string // the condition in canonical form, for DiffSets
}

// action is what a filter does with the flows its condition matches.
type action uint8

const (
	actionExclude action = iota // drop them
	actionInclude               // keep them, drop the others
	actionSample                // keep a share (rate)
	actionCap                   // keep up to max_per_sec per key, sample above
)

type threatRule struct {
	reason   string // the rule's description, if it has one
	fallback string // when neither a description nor a matching test explains the hit
	cond     *node
	when     string        // the condition in canonical form, for DiffSets
	needs    []codec.Field // aggregated fields it tests (blind.go)
	blindOff int           // index in BlindSpots of its first need
}
