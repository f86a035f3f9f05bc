package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/flowsieve/flowsieve/codec"
	"github.com/flowsieve/flowsieve/processor"
)

// TestOversizeAndBadUTF8: records whose kept output would exceed the kept
// topic's max.message.bytes, and records that are not valid UTF-8, go to
// the invalid topic with the reason (cut to fit where they are too large
// even for it), and the partition goes on: every other record's outputs
// are there and the group commits the end of the input. (A flagged record
// too large for the threats topic: TestOversizeFlaggedRecordNotHidden.)
func TestOversizeAndBadUTF8(t *testing.T) {
	t.Parallel()
	bothModes(t, func(t *testing.T, exactly bool) {
		name := modeName(exactly)
		e := newEnv(t, 2)
		const limit = 4096
		e.setMaxMessageBytes(limit, keptTopic, threatsTopic, invalidTopic)

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
			switch i % 3 {
			case 0: // a valid flow, kept as it came, too large for the kept topic
				val = fmt.Appendf(nil, "1700000000 1700000300 wep prod client-%s app=client wep prod server-* app=server 10.0.0.1 10.1.1.1 6 30000 443 1 1 0 src 10 12 1200 1000 allow", strings.Repeat("x", 5000))
			case 1: // text, not valid UTF-8
				val = []byte("1700000000 1700000300 wep pr\xffod client-* app=client wep prod server-* app=server 10.0.0.1 10.1.1.1 6 30000 443 1 1 0 src 10 12 1200 1000 allow")
				reason = "UTF-8"
			case 2: // JSON, not valid UTF-8
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

		outs := e.readOutputs(exactly)
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

// setMaxMessageBytes sets the topics' max.message.bytes.
func (e *env) setMaxMessageBytes(limit int, topics ...string) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	v := fmt.Sprint(limit)
	res, err := e.adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: "max.message.bytes", Value: &v}}, topics...)
	if err != nil {
		e.t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			e.t.Fatalf("%s: %v", r.Name, r.Err)
		}
	}
}

// TestOversizeKeptJSON: with output.format json, a record that fits the
// kept topic as it came but not once re-encoded as JSON goes to the
// invalid topic with the reason and counts as invalid (parse error
// "oversize"), not as kept (it counted as kept and never as invalid
// before); a flagged one still reaches the threats topic and counts as
// flagged. The partition goes on, in both delivery modes.
func TestOversizeKeptJSON(t *testing.T) {
	t.Parallel()
	bothModes(t, func(t *testing.T, exactly bool) {
		e := newEnv(t, 2)
		const limit = 4096
		e.setMaxMessageBytes(limit, keptTopic) // the threats and invalid topics take 1 MiB

		seqs := map[int32]int{}
		var ins []input
		add := func(key string, value []byte, in input) {
			in.key, in.value, in.partition = key, value, int32(len(ins))%e.parts
			in.seq = seqs[in.partition]
			seqs[in.partition]++
			ins = append(ins, in)
		}
		// ~3,400 bytes as text: under the limit with the framing
		// flowsieve reckons (512 bytes, headers); ~500 more as JSON.
		pad := strings.Repeat("x", 3300)
		for i := range 10 {
			dst := "10.1.1.1"
			if i%2 == 1 {
				dst = "198.51.100.9" // in the feed: flagged
			}
			add(fmt.Sprintf("big-%02d", i), fmt.Appendf(nil, "1700000000 1700000300 wep prod client-%s app=client wep prod server-* app=server 10.0.0.1 %s 6 30000 443 1 1 0 src 10 12 1200 1000 allow", pad, dst),
				input{invalid: true, threat: i%2 == 1})
			add(fmt.Sprintf("small-%02d", i), fmt.Appendf(nil, "1700000000 1700000300 wep prod client-%d app=client wep prod server-* app=server 10.0.0.1 10.1.1.2 6 30000 443 1 1 0 src 10 12 1200 1000 allow", i),
				input{kept: true})
		}
		e.produce(ins)

		reg := prometheus.NewRegistry()
		rulesFile := writeRules(t, t.TempDir(), testRules)
		group := "oversize-json-" + modeName(exactly)
		pl := e.startPipeline(group, rulesFile, func(c *processor.Config) {
			c.KeptJSON = true
			c.Registry, c.Gatherer = reg, reg
			if exactly {
				exactlyOnce(c)
			}
		})
		e.waitCommitted(group, 60*time.Second)

		outs := e.readOutputs(exactly)
		where := map[string][]string{}
		for _, topic := range []string{keptTopic, threatsTopic, invalidTopic} {
			for _, r := range outs[topic] {
				where[string(r.Key)] = append(where[string(r.Key)], topic)
				if topic == invalidTopic {
					if reason := headers(r)[processor.HeaderReason]; !strings.Contains(reason, "oversize") || !strings.Contains(reason, keptTopic) {
						t.Errorf("%s: invalid reason %q does not name the kept topic's size", r.Key, reason)
					}
				}
			}
		}
		for _, in := range ins {
			var want []string
			if in.kept {
				want = append(want, keptTopic)
			}
			if in.threat {
				want = append(want, threatsTopic)
			}
			if in.invalid {
				want = append(want, invalidTopic)
			}
			if got := where[in.key]; !slices.Equal(slices.Compact(got), want) {
				t.Errorf("%s went to %v, want %v", in.key, got, want)
			}
		}
		big, flagged := countWhere(ins, func(in input) bool { return in.invalid }), countWhere(ins, func(in input) bool { return in.threat })
		if n := counterWith(t, reg, "flowsieve_parse_errors_total", "reason", "oversize"); n != float64(big) {
			t.Errorf("flowsieve_parse_errors_total{reason=oversize} = %v, want %d", n, big)
		}
		if n := metricSum(t, reg, "flowsieve_flows_flagged_total"); n != float64(flagged) {
			t.Errorf("flowsieve_flows_flagged_total = %v, want %d", n, flagged)
		}
		kept := countWhere(ins, func(in input) bool { return in.kept })
		want := processor.Totals{In: int64(len(ins)), Kept: int64(kept), Flagged: int64(flagged), Invalid: int64(big)}
		got := pl.p.Metrics().Totals()
		got.Out = 0
		if got != want {
			t.Errorf("counted %+v, want %+v", got, want)
		}
	})
}

// TestOversizeFlaggedRecordNotHidden: a flagged record whose threat JSON
// is too large for the threats topic was hidden: it went to the invalid
// topic only, reached neither the kept nor the threats topic, and was not
// counted flagged. Now it reaches the threats topic with the verdict whole
// and the flow's JSON cut to fit (marked cut, with its length), counts as
// flagged, and goes to the kept topic if the filters keep it; the invalid
// topic does not get it. In both delivery modes.
func TestOversizeFlaggedRecordNotHidden(t *testing.T) {
	t.Parallel()
	bothModes(t, func(t *testing.T, exactly bool) {
		e := newEnv(t, 2)
		const limit = 4096
		e.setMaxMessageBytes(limit, threatsTopic) // the kept and invalid topics take 1 MiB

		seqs := map[int32]int{}
		ins := makeInputs("ok", 300, e.parts, seqs)
		var flows []codec.Flow
		pad := strings.Repeat("y", 5000)
		for i := range 10 {
			ns := "prod"
			if i%2 == 1 {
				ns = "dev" // dropped by the filter, flagged all the same
			}
			p := int32(i) % e.parts
			value := fmt.Appendf(nil, `{"start_time":1700000000,"end_time":1700000300,"source_type":"wep","source_namespace":%q,"source_name":"-","source_name_aggr":"c-%s","source_labels":{"labels":["app=client"]},"source_ip":"10.0.0.1","source_port":30000,"dest_type":"wep","dest_namespace":"prod","dest_name":"-","dest_name_aggr":"server-*","dest_labels":{"labels":["app=server"]},"dest_ip":"198.51.100.9","dest_port":443,"proto":"tcp","num_flows":1,"num_flows_started":1,"num_flows_completed":0,"reporter":"src","packets_in":10,"packets_out":12,"bytes_in":1200,"bytes_out":1000,"action":"allow"}`, ns, pad)
			ins = append(ins, input{key: fmt.Sprintf("big-%02d", i), value: value, partition: p, seq: seqs[p], threat: true, kept: ns != "dev"})
			seqs[p]++
			var f codec.Flow
			if err := codec.Decode(value, &f); err != nil {
				t.Fatal(err)
			}
			flows = append(flows, f)
		}
		e.produce(ins)

		rulesFile := writeRules(t, t.TempDir(), testRules)
		group := "oversize-flagged-" + modeName(exactly)
		pl := e.startPipeline(group, rulesFile, func(c *processor.Config) {
			if exactly {
				exactlyOnce(c)
			}
		})
		e.waitCommitted(group, 60*time.Second)

		outs := e.readOutputs(exactly)
		e.check(ins, checkFor(exactly), outs) // every input where it belongs, the big ones on the threats topic and not invalid
		threats := map[string]*kgo.Record{}
		for _, r := range outs[threatsTopic] {
			threats[string(r.Key)] = r
		}
		for i, f := range flows {
			key := fmt.Sprintf("big-%02d", i)
			r := threats[key]
			if r == nil {
				continue // reported missing by check
			}
			if len(r.Value) > limit {
				t.Errorf("%s: threat record of %d bytes over the %d-byte limit", key, len(r.Value), limit)
			}
			var got struct {
				Flowsieve struct {
					Threats []struct {
						Rule, Severity, Field, Addr string
					} `json:"threats"`
					RecordCut   bool `json:"record_cut"`
					RecordBytes int  `json:"record_bytes"`
				} `json:"flowsieve"`
				Record string `json:"record"`
			}
			if err := json.Unmarshal(r.Value, &got); err != nil {
				t.Fatalf("%s: threat record is not JSON: %v", key, err)
			}
			whole := string(codec.AppendJSON(nil, &f))
			th := got.Flowsieve.Threats
			if len(th) != 1 || th[0].Rule != "c2" || th[0].Severity != "critical" || th[0].Field != "dest_ip" || th[0].Addr != "198.51.100.9" {
				t.Errorf("%s: verdict %+v, want the c2 hit on dest_ip 198.51.100.9", key, th)
			}
			if !got.Flowsieve.RecordCut || got.Flowsieve.RecordBytes != len(whole) || len(got.Record) == 0 || !strings.HasPrefix(whole, got.Record) {
				t.Errorf("%s: record_cut %v, record_bytes %d (want %d), record %d bytes, a prefix of the flow: %v",
					key, got.Flowsieve.RecordCut, got.Flowsieve.RecordBytes, len(whole), len(got.Record), strings.HasPrefix(whole, got.Record))
			}
		}
		tot := pl.p.Metrics().Totals()
		flagged := countWhere(ins, func(in input) bool { return in.threat })
		invalid := countWhere(ins, func(in input) bool { return in.invalid })
		if tot.Flagged != int64(flagged) || tot.Invalid != int64(invalid) {
			t.Errorf("counted %d flagged and %d invalid, want %d and %d", tot.Flagged, tot.Invalid, flagged, invalid)
		}
	})
}
