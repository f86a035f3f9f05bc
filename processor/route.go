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
)

// route decides where one input record goes and produces it there:
//
//   - not a flow log: the invalid topic, bytes unchanged, reason and source
//     in headers;
//   - flagged by a threat rule: the threats topic, as JSON with the hits;
//   - kept by the filters: the kept topic, as it came (or normalised JSON).
//
// A flagged flow that the filters keep goes to both. The rules are loaded
// once, so the record is judged by one version. retry is set when the
// record is produced again after a failure; counters then stay as they are.
func (w *worker) route(e *entry, retry bool) {
	e.left.Store(1) // held until every output is handed to the producer
	e.purges = w.p.recreated.count.Load()
	defer func() {
		e.left.Add(-1)
	}()
	rec := e.rec
	cfg := &w.p.cfg
	if cfg.Copy {
		w.produce(e, cfg.KeptTopic, rec.Value, rec.Headers)
		return
	}

	if err := cfg.Limits.Decode(rec.Value, &w.flow); err != nil {
		if !retry {
			w.p.m.parseErrors.WithLabelValues(reasonClass(err)).Inc()
			w.p.m.invalid.Add(1)
		}
		w.produceInvalid(e, w.invalidHeaders(rec, err))
		return
	}

	set := cfg.Rules()
	set.Judge(&w.flow, &w.verdict)
	names := w.p.m.rules.counters(set, cfg.Rules)
	var threat []byte
	if w.verdict.Flagged() {
		threat = rules.AppendThreatJSON(make([]byte, 0, 2*len(rec.Value)+256), &w.flow, set, &w.verdict)
	}
	// An output the brokers would refuse as too large would stall the
	// partition for ever: the record goes to the invalid topic instead,
	// before any of its outputs is produced.
	if err := w.p.checkSizes(rec, threat, w.verdict.Keep); err != nil {
		if !retry {
			w.p.m.parseErrors.WithLabelValues("oversize").Inc()
			w.p.m.invalid.Add(1)
		}
		w.produceInvalid(e, w.invalidHeaders(rec, err))
		return
	}
	if threat != nil {
		if !retry {
			for _, h := range w.verdict.Threats {
				names.by[seriesFlagged][h.Rule].Inc()
			}
			w.p.m.flags.Add(1)
		}
		w.produce(e, cfg.ThreatsTopic, threat, rec.Headers)
	}
	if !w.verdict.Keep {
		if !retry {
			names.by[seriesDropped][w.verdict.DropRule].Inc()
			w.p.m.drops.Add(1)
		}
		return
	}
	if !retry {
		w.p.m.kept.Add(1)
	}
	v := rec.Value
	if cfg.KeptJSON {
		v = codec.AppendJSON(make([]byte, 0, len(rec.Value)+len(rec.Value)/2), &w.flow)
		if err := w.p.checkSize(cfg.KeptTopic, rec, v); err != nil {
			// Normalised JSON can outgrow a raw record that fits.
			if !retry {
				w.p.m.parseErrors.WithLabelValues("oversize").Inc()
			}
			w.produceInvalid(e, w.invalidHeaders(rec, err))
			return
		}
	}
	w.produce(e, cfg.KeptTopic, v, rec.Headers)
}

func (w *worker) invalidHeaders(rec *kgo.Record, err error) []kgo.RecordHeader {
	h := make([]kgo.RecordHeader, 0, len(rec.Headers)+4)
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
