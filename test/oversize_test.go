package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/flowsieve/flowsieve/processor"
)

// TestOversizeAndBadUTF8: records whose output would exceed the output
// topics' max.message.bytes, and records that are not valid UTF-8, go to
// the invalid topic with the reason (cut to fit where they are too large
// even for it), and the partition goes on: every other record's outputs
// are there and the group commits the end of the input.
func TestOversizeAndBadUTF8(t *testing.T) {
	t.Parallel()
	for _, exactly := range []bool{false, true} {
		name := map[bool]string{false: "at_least_once", true: "exactly_once"}[exactly]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, 2)
			const limit = 4096
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			v := fmt.Sprint(limit)
			var alters []kadm.AlterConfig
			alters = append(alters, kadm.AlterConfig{Name: "max.message.bytes", Value: &v})
			res, err := e.adm.AlterTopicConfigs(ctx, alters, keptTopic, threatsTopic, invalidTopic)
			if err != nil {
				t.Fatal(err)
			}
			for _, r := range res {
				if r.Err != nil {
					t.Fatalf("%s: %v", r.Name, r.Err)
				}
			}

			seqs := map[int32]int{}
			ins := makeInputs("ok", 600, e.parts, seqs)
			type special struct {
				key, reason string
				part        int32
			}
			var specials []special
			for i := range 40 {
				p := int32(i) % e.parts
				key := fmt.Sprintf("bad-%03d", i)
				var val []byte
				reason := "oversize"
				switch i % 4 {
				case 0: // a valid flow, kept as it came, too large for the kept topic
					val = fmt.Appendf(nil, "1700000000 1700000300 wep prod client-%s app=client wep prod server-* app=server 10.0.0.1 10.1.1.1 6 30000 443 1 1 0 src 10 12 1200 1000 allow", strings.Repeat("x", 5000))
				case 1: // flagged, and its threat JSON too large for the threats topic
					val = fmt.Appendf(nil, `{"start_time":1700000000,"end_time":1700000300,"source_type":"wep","source_namespace":"dev","source_name":"-","source_name_aggr":"c-%s","source_labels":{"labels":["app=client"]},"source_ip":"10.0.0.1","source_port":30000,"dest_type":"wep","dest_namespace":"prod","dest_name":"-","dest_name_aggr":"server-*","dest_labels":{"labels":["app=server"]},"dest_ip":"198.51.100.9","dest_port":443,"proto":"tcp","num_flows":1,"num_flows_started":1,"num_flows_completed":0,"reporter":"src","packets_in":10,"packets_out":12,"bytes_in":1200,"bytes_out":1000,"action":"allow"}`, strings.Repeat("y", 3000))
				case 2: // text, not valid UTF-8
					val = []byte("1700000000 1700000300 wep pr\xffod client-* app=client wep prod server-* app=server 10.0.0.1 10.1.1.1 6 30000 443 1 1 0 src 10 12 1200 1000 allow")
					reason = "UTF-8"
				case 3: // JSON, not valid UTF-8
					val = []byte(`{"start_time":1700000000,"source_namespace":"pr` + "\xc3\x28" + `od"}`)
					reason = "UTF-8"
				}
				specials = append(specials, special{key, reason, p})
				ins = append(ins, input{key: key, value: val, partition: p, seq: seqs[p], invalid: true})
				seqs[p]++
			}
			e.produce(ins)

			rulesFile := writeRules(t, t.TempDir(), testRules)
			group := "oversize-" + name
			opts := []pipelineOpt{}
			if exactly {
				opts = append(opts, exactlyOnce)
			}
			e.startPipeline(group, rulesFile, opts...)
			e.waitCommitted(group, 60*time.Second)

			var outs map[string][]*kgo.Record
			if exactly {
				outs = e.readCommitted(keptTopic, threatsTopic, invalidTopic)
			} else {
				outs = e.readTopics(keptTopic, threatsTopic, invalidTopic)
			}
			e.checkOutputsSubset(ins[:600], outs)
			invalid := map[string]*kgo.Record{}
			for _, r := range outs[invalidTopic] {
				invalid[string(r.Key)] = r
			}
			for _, topic := range []string{keptTopic, threatsTopic} {
				for _, r := range outs[topic] {
					if strings.HasPrefix(string(r.Key), "bad-") {
						t.Errorf("%s: %s should have gone to the invalid topic only", topic, r.Key)
					}
				}
			}
			for _, s := range specials {
				r := invalid[s.key]
				if r == nil {
					t.Errorf("%s is not in the invalid topic", s.key)
					continue
				}
				h := headers(r)
				if !strings.Contains(h[processor.HeaderReason], s.reason) {
					t.Errorf("%s: reason %q lacks %q", s.key, h[processor.HeaderReason], s.reason)
				}
				if len(r.Value) > limit {
					t.Errorf("%s: invalid record of %d bytes over the limit", s.key, len(r.Value))
				}
			}
			t.Logf("example reasons: %q, %q", headers(invalid["bad-000"])[processor.HeaderReason], headers(invalid["bad-002"])[processor.HeaderReason])
		})
	}
}
