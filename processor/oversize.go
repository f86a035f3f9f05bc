package processor

import (
	"context"
	"fmt"
	"strconv"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
)

// HeaderTruncated is set on an invalid-topic record whose value had to be
// cut to fit that topic: it holds the original length.
const HeaderTruncated = "flowsieve.truncated"

// recordOverhead bounds what a record batch adds around a single record
// (batch header, record framing, varints), so a record that passes the
// check also fits once framed.
const recordOverhead = 512

// lookupLimits sets each output topic's largest record: the smaller of
// the producer's batch limit and the topic's max.message.bytes. Sizes are
// checked before compression, so a record that would fit compressed can
// still count as too large: the safe side, as a refused record would stall
// its partition.
func (p *Pipeline) lookupLimits(ctx context.Context, topics []string) {
	p.outMax = make(map[string]int, len(topics))
	for _, t := range topics {
		p.outMax[t] = p.cfg.BatchMaxBytes
	}
	rcs, err := kadm.NewClient(p.producer).DescribeTopicConfigs(ctx, topics...)
	if err != nil {
		p.log.Warn("could not read the output topics' max.message.bytes; using output.batch_max_bytes alone", zap.Error(err))
		return
	}
	for _, rc := range rcs {
		if rc.Err != nil {
			continue
		}
		for _, c := range rc.Configs {
			if c.Key != "max.message.bytes" || c.Value == nil {
				continue
			}
			if n, err := strconv.Atoi(*c.Value); err == nil && n > 0 && n < p.outMax[rc.Name] {
				p.outMax[rc.Name] = n
			}
		}
	}
}

// batchMaxBytes is the producer's batch limit for topic: the brokers
// refuse a batch over the topic's max.message.bytes, whatever its records.
// Called only once producing starts, after lookupLimits.
func (p *Pipeline) batchMaxBytes(topic string) int32 {
	if n, ok := p.outMax[topic]; ok {
		return int32(n)
	}
	return int32(p.cfg.BatchMaxBytes)
}

func recordSize(key, value []byte, headers []kgo.RecordHeader) int {
	n := len(key) + len(value) + recordOverhead
	for _, h := range headers {
		n += len(h.Key) + len(h.Value) + 10
	}
	return n
}

// checkSize reports an error naming the topic and both sizes when value,
// with rec's key and headers, is too large for topic.
func (p *Pipeline) checkSize(topic string, rec *kgo.Record, value []byte) error {
	limit, ok := p.outMax[topic]
	if !ok {
		return nil
	}
	if n := recordSize(rec.Key, value, rec.Headers); n > limit {
		return fmt.Errorf("oversize: the %s record would be about %d bytes, over the %d-byte limit of that topic (max.message.bytes, output.batch_max_bytes)", topic, n, limit)
	}
	return nil
}

// checkSizes checks a routed record's outputs: the threat JSON when
// flagged, and the raw record when kept as it came.
func (p *Pipeline) checkSizes(rec *kgo.Record, threat []byte, keep bool) error {
	if threat != nil {
		if err := p.checkSize(p.cfg.ThreatsTopic, rec, threat); err != nil {
			return err
		}
	}
	if keep && !p.cfg.KeptJSON {
		return p.checkSize(p.cfg.KeptTopic, rec, rec.Value)
	}
	return nil
}

// produceInvalid sends e's input, unchanged, to the invalid topic; a value
// too large even for that topic is cut to fit, and HeaderTruncated holds
// its original length.
func (w *worker) produceInvalid(e *entry, headers []kgo.RecordHeader) {
	topic := w.p.cfg.InvalidTopic
	v := e.rec.Value
	if limit, ok := w.p.outMax[topic]; ok {
		if room := limit - recordSize(e.rec.Key, nil, headers) - 64; len(v) > room {
			headers = append(headers, kgo.RecordHeader{Key: HeaderTruncated, Value: strconv.AppendInt(nil, int64(len(v)), 10)})
			v = v[:max(room, 0)]
		}
	}
	w.produce(e, topic, v, headers)
}
