package processor

import (
	"errors"
	"strconv"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/flowsieve/flowsieve/codec"
	"github.com/flowsieve/flowsieve/rules"
)

// Header keys the invalid topic's records carry.
const (
	HeaderReason    = "flowsieve.reason"
	HeaderTopic     = "flowsieve.source.topic"
	HeaderPartition = "flowsieve.source.partition"
	HeaderOffset    = "flowsieve.source.offset"
	// HeaderSampleRate is on a kept record a sample or cap filter thinned:
	// the probability it was kept with, its counters scaled by the
	// inverse. An input that had one (sampled upstream) gets the product.
	HeaderSampleRate = "flowsieve.sample_rate"
	// HeaderRulesVersion is on every output record outside copy mode: the
	// version of the rules that judged it (rules_version in the threat
	// JSON; for an invalid record, the version serving when it was read).
	HeaderRulesVersion = "flowsieve.rules_version"
)

// output is one of the output topics; router.topics names them.
type output uint8

const (
	outKept output = iota
	outThreats
	outInvalid
	outShadow // optional: records the shadow rules judge differently
	numOutputs
)

func (o output) String() string {
	return [numOutputs]string{outKept: "kept", outThreats: "threats", outInvalid: "invalid", outShadow: "shadow"}[o]
}

// outRecord is one output record a decision produces.
type outRecord struct {
	to      output
	value   []byte
	headers []kgo.RecordHeader
	// capped: produced only while the output's rate cap allows (the
	// shadow topic); apply decides, and counts what the cap suppressed.
	capped bool
}

// decision is where one input record goes and what it counts as: the
// outputs to produce, in order, and the counters. Outside copy mode every
// input counts as exactly one of kept, dropped and invalid, and as flagged
// besides when a threat rule matched.
type decision struct {
	outs [3]outRecord // a threat record, then a kept or an invalid one, then a shadow one
	n    int

	kept, dropped, flagged, invalid bool
	// reason is the flowsieve_parse_errors_total label of an invalid input.
	reason string
	// dropRule is the filter that dropped the flow (Set.FilterNames).
	dropRule int
	// set is the rules version the flow was judged by; threats are its
	// hits (the verdict's, valid until the next decision).
	set     *rules.Set
	threats []rules.Hit
	// samples are the sample and cap filters the flow reached (the
	// verdict's), and flowBytes its bytes_in + bytes_out, for their
	// series; inBytes is the input record's size.
	samples   []rules.Sample
	flowBytes int64
	inBytes   int
	// hs is the caller's header space (nil: no version header, as in
	// tests of the routing alone); it survives the reset of d.
	hs *headerScratch
	// blind are the threat rules that could not judge the flow on a field
	// it lacked (the verdict's; see rules.Blind).
	blind []rules.Blind

	// With shadow rules: the shadow Set and its verdict (the caller's
	// scratch, valid until the next decision), how it compares with the
	// live verdict, and the decisions of both (live is the verdict's,
	// whatever the outputs became).
	shadow         *rules.Set
	shadowVerdict  *rules.Verdict
	liveKept       bool
	cmp            rules.Comparison
	shadowOversize bool // a disagreement too large for the shadow topic, not produced
}

func (d *decision) add(to output, value []byte, headers []kgo.RecordHeader) {
	if d.set != nil && d.hs != nil {
		headers = d.hs.withVersion(headers, d.set)
	}
	d.outs[d.n] = outRecord{to: to, value: value, headers: headers}
	d.n++
}

// headerScratch is per-worker space kept across decisions. Output headers
// are the input's plus HeaderRulesVersion; they live until the record is
// acknowledged, so they cannot be reused, and a slice per record would
// be the hot path's one allocation: they are carved from a slab instead,
// one allocation per headerSlab headers. An input without headers (felix
// writes none) gets one slice shared by every output of the rule set:
// the producer only reads headers.
type headerScratch struct {
	slab    []kgo.RecordHeader
	set     *rules.Set
	version []byte             // set's version, converted once
	only    []kgo.RecordHeader // HeaderRulesVersion alone, for set
}

const headerSlab = 4096

// withVersion returns in with HeaderRulesVersion set to set's version
// (replacing one the input carried).
func (hs *headerScratch) withVersion(in []kgo.RecordHeader, set *rules.Set) []kgo.RecordHeader {
	if hs.set != set {
		hs.set, hs.version = set, []byte(set.Version())
		hs.only = []kgo.RecordHeader{{Key: HeaderRulesVersion, Value: hs.version}}
	}
	if len(in) == 0 {
		return hs.only
	}
	n := len(in) + 1
	if len(hs.slab) < n {
		hs.slab = make([]kgo.RecordHeader, max(headerSlab, n))
	}
	h := hs.slab[:0:n]
	hs.slab = hs.slab[n:]
	for _, x := range in {
		if x.Key != HeaderRulesVersion {
			h = append(h, x)
		}
	}
	return append(h, kgo.RecordHeader{Key: HeaderRulesVersion, Value: hs.version})
}

// router decides where records go (the rule is in the package doc). Its
// fields are fixed once the output topics are looked up, so decide is a
// function of them, the record and the rules alone: no Kafka, no counters.
type router struct {
	topics [numOutputs]string
	copy   bool // every record to the kept topic as it came
	// out writes kept records: as they came, as normalised JSON, or
	// projected; sampled ones with their counters scaled.
	out codec.Output
	// limits bound one input record (Config.Limits).
	limits codec.Limits
	// limit is the largest record each output topic takes (see
	// oversize.go); 0 where it is not known, and nothing is checked.
	limit [numOutputs]int
}

// decide computes where rec goes, into d. f, v and sv are the caller's
// scratch space for the decoded flow and the live and shadow verdicts; d
// keeps references into them (its threats) and into rec until the next
// call. shadow is nil without shadow rules.
func (rt *router) decide(rec *kgo.Record, set, shadow *rules.Set, f *codec.Flow, v, sv *rules.Verdict, d *decision) {
	*d = decision{dropRule: -1, inBytes: len(rec.Value), hs: d.hs, set: set}
	if rt.copy {
		d.add(outKept, rec.Value, rec.Headers)
		return
	}
	if err := rt.limits.Decode(rec.Value, f); err != nil {
		rt.invalid(rec, reasonClass(err), err, d)
		return
	}
	set.Judge(f, v)
	d.set, d.blind = set, v.Blind
	if len(v.Samples) > 0 {
		d.samples, d.flowBytes = v.Samples, rules.FlowBytes(f)
	}
	if shadow != nil {
		// Last in outs whatever the live outputs become.
		defer rt.judgeShadow(rec, f, v, shadow, sv, d)
	}
	if v.Flagged() {
		threat := rules.AppendThreatJSON(make([]byte, 0, 2*len(rec.Value)+256), f, set, v)
		// An output the brokers would refuse as too large would stall
		// the partition for ever; but a threat is never hidden by size:
		// the verdict goes whole, the flow cut to fit.
		if rt.checkSize(outThreats, rec, threat) != nil {
			threat = rules.AppendThreatJSONCut(threat[:0], f, set, v, rt.limit[outThreats]-recordSize(rec.Key, nil, rec.Headers)-versionHeaderRoom)
			if err := rt.checkSize(outThreats, rec, threat); err != nil {
				rt.invalid(rec, reasonOversize, err, d) // the verdict alone is too large
				return
			}
		}
		d.flagged, d.threats = true, v.Threats
		d.add(outThreats, threat, rec.Headers)
	}
	if !v.Keep {
		d.dropped, d.dropRule = true, v.DropRule
		return
	}
	kept, headers := rec.Value, rec.Headers
	if sc := v.Scale(); !rt.out.Verbatim(sc) {
		kept = rt.out.Append(make([]byte, 0, len(rec.Value)+len(rec.Value)/2+32), rec.Value, f, sc)
		if sc.Sampled() {
			headers = sampleRateHeaders(rec.Headers, sc)
		}
	}
	// Normalised JSON can outgrow a raw record that fits.
	if err := rt.checkSize(outKept, rec, kept); err != nil {
		rt.invalid(rec, reasonOversize, err, d)
		return
	}
	d.kept = true
	d.add(outKept, kept, headers)
}

// sampleRateHeaders returns the input's headers with HeaderSampleRate set
// to sc's rate, multiplied by the input's own when it had one (a record
// sampled twice stands for 1/(r1*r2) flows).
func sampleRateHeaders(in []kgo.RecordHeader, sc codec.Scale) []kgo.RecordHeader {
	h := make([]kgo.RecordHeader, 0, len(in)+1)
	rate := sc.Rate
	for _, x := range in {
		if x.Key != HeaderSampleRate {
			h = append(h, x)
			continue
		}
		if prior, err := strconv.ParseFloat(string(x.Value), 64); err == nil && prior > 0 && prior <= 1 {
			rate *= prior
		}
	}
	return append(h, kgo.RecordHeader{Key: HeaderSampleRate, Value: codec.Scale{Rate: rate}.AppendRate(nil)})
}

// judgeShadow judges the flow by the shadow rules too and, when they
// judge it differently and there is a shadow topic, adds the
// disagreement as a capped output. The live outputs are already decided:
// the shadow rules never change one.
func (rt *router) judgeShadow(rec *kgo.Record, f *codec.Flow, v *rules.Verdict, shadow *rules.Set, sv *rules.Verdict, d *decision) {
	shadow.Judge(f, sv)
	d.shadow, d.shadowVerdict, d.liveKept = shadow, sv, v.Keep
	d.cmp = rules.Compare(d.set, v, shadow, sv)
	if !d.cmp.Disagree() || rt.topics[outShadow] == "" {
		return
	}
	value := rules.AppendShadowJSON(make([]byte, 0, 2*len(rec.Value)+256), rec.Value, d.set, v, shadow, sv)
	if rt.checkSize(outShadow, rec, value) != nil {
		d.shadowOversize = true
		return
	}
	d.add(outShadow, value, rec.Headers)
	d.outs[d.n-1].capped = true
}

// reasonOversize is the parse-error label of a record with an output too
// large for its topic.
const reasonOversize = "oversize"

// invalid sends rec, unchanged, to the invalid topic with err as the
// reason; a value too large even for that topic is cut to fit, and
// HeaderTruncated holds its original length.
func (rt *router) invalid(rec *kgo.Record, reason string, err error, d *decision) {
	d.invalid, d.reason = true, reason
	headers := invalidHeaders(rec, err)
	value := rec.Value
	if limit := rt.limit[outInvalid]; limit > 0 {
		if room := limit - recordSize(rec.Key, nil, headers) - truncatedHeaderRoom - versionHeaderRoom; len(value) > room {
			headers = append(headers, kgo.RecordHeader{Key: HeaderTruncated, Value: strconv.AppendInt(nil, int64(len(value)), 10)})
			value = value[:max(room, 0)]
		}
	}
	d.add(outInvalid, value, headers)
}

func invalidHeaders(rec *kgo.Record, err error) []kgo.RecordHeader {
	h := make([]kgo.RecordHeader, 0, len(rec.Headers)+5) // +1: room for HeaderTruncated
	h = append(h, rec.Headers...)
	return append(h,
		kgo.RecordHeader{Key: HeaderReason, Value: []byte(err.Error())},
		kgo.RecordHeader{Key: HeaderTopic, Value: []byte(rec.Topic)},
		kgo.RecordHeader{Key: HeaderPartition, Value: strconv.AppendInt(nil, int64(rec.Partition), 10)},
		kgo.RecordHeader{Key: HeaderOffset, Value: strconv.AppendInt(nil, rec.Offset, 10)},
	)
}

// reasonClass is the parse-error label: bounded, unlike the message.
func reasonClass(err error) string {
	var le *codec.LimitError
	if errors.As(err, &le) {
		return "limit_" + le.Limit
	}
	var se *codec.SyntaxError
	if !errors.As(err, &se) {
		return "other"
	}
	switch {
	case se.Msg == "empty record":
		return "empty"
	case se.Format == codec.FormatJSON:
		return "json"
	case se.Field != "":
		return "text_" + se.Field
	}
	return "text"
}

// route decides where e goes and applies the decision. The rules are
// loaded once, so the record is judged by one version. again is set when
// the record is routed again (after a failed produce, or in an aborted
// transaction): it was counted the first time.
func (w *worker) route(e *entry, again bool) {
	e.left.Store(1) // held until every output is handed to the producer
	e.purges = w.p.recreated.count.Load()
	e.deadline.Store(w.delivery.context(w.p.cfg.DeliveryTimeout))
	defer e.left.Add(-1)
	var set, shadow *rules.Set
	if !w.p.cfg.Copy {
		set = w.p.cfg.Rules()
		if w.p.cfg.ShadowRules != nil {
			shadow = w.p.cfg.ShadowRules()
		}
	}
	w.p.router.decide(e.rec, set, shadow, &w.flow, &w.verdict, &w.shadowVerdict, &w.dec)
	w.apply(e, &w.dec, again)
}

// apply carries out d for e, the one place a decision has effects: it
// counts d, unless e is routed again, and hands d's outputs to the
// producer.
func (w *worker) apply(e *entry, d *decision, again bool) {
	if !again {
		w.count(d)
	}
	for i := range d.outs[:d.n] {
		o := &d.outs[i]
		if o.capped && !w.p.shadowCap.Allow() {
			if !again {
				w.p.m.shadow.suppressed[suppressedRate].Inc()
			}
			continue
		}
		w.produce(e, w.p.router.topics[o.to], o.value, o.headers)
	}
}

func (w *worker) count(d *decision) {
	m := w.p.m
	t := &w.tally // the totals, added to m per batch (flushCounts)
	t.bytesIn += int64(d.inBytes)
	switch { // none of the three in copy mode
	case d.invalid:
		m.parseErrors.WithLabelValues(d.reason).Inc()
		t.invalid++
	case d.dropped:
		m.rules.counters(d.set, w.p.cfg.Rules).by[seriesDropped][d.dropRule].Inc()
		t.drops++
	case d.kept:
		t.kept++
	}
	if d.flagged {
		byRule := m.rules.counters(d.set, w.p.cfg.Rules).by[seriesFlagged]
		for _, h := range d.threats {
			byRule[h.Rule].Inc()
		}
		t.flags++
	}
	if len(d.samples) > 0 {
		m.rules.counters(d.set, w.p.cfg.Rules).countSamples(d.set, d.samples, d.flowBytes)
	}
	if len(d.blind) > 0 {
		byBlind := m.rules.counters(d.set, w.p.cfg.Rules).by[seriesUnevaluable]
		for _, b := range d.blind {
			byBlind[d.set.BlindSpotIndex(b)].Inc()
		}
	}
	if d.shadow != nil {
		m.shadow.count(d, w.p.cfg.ShadowRules)
	}
}
