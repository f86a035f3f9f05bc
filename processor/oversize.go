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

// Sizes are estimated on the safe side: a record that passes the check
// must also fit once framed, since one the brokers refuse would stall its
// partition.
const (
	// recordOverhead bounds what a record batch adds around a single
	// record: the batch header (61 bytes in format v2), the record's
	// framing and varints (under 30), with room to spare for
	// compression's worst case on tiny records.
	recordOverhead = 512
	// headerOverhead bounds the framing of one header: the varint
	// lengths of its key and value, five bytes each at most.
	headerOverhead = 10
	// truncatedHeaderRoom is kept free when an invalid record is cut to
	// fit: HeaderTruncated (19 bytes), its value (up to 20 digits) and
	// its framing.
	truncatedHeaderRoom = 64
	// versionHeaderRoom is what HeaderRulesVersion adds to an output
	// (the version is 8 hex digits; twice that is room to spare).
	versionHeaderRoom = len(HeaderRulesVersion) + 16 + headerOverhead
)

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
		rcs = nil
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
	for o, t := range p.router.topics {
		p.router.limit[o] = p.outMax[t]
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
		n += len(h.Key) + len(h.Value) + headerOverhead
	}
	return n
}

// checkSize reports an error naming the topic and both sizes when value,
// with rec's key and headers, is too large for output o.
func (rt *router) checkSize(o output, rec *kgo.Record, value []byte) error {
	limit := rt.limit[o]
	if limit <= 0 {
		return nil
	}
	if n := recordSize(rec.Key, value, rec.Headers) + versionHeaderRoom; n > limit {
		return fmt.Errorf("oversize: the %s record would be about %d bytes, over the %d-byte limit of that topic (max.message.bytes, output.batch_max_bytes)", rt.topics[o], n, limit)
	}
	return nil
}
