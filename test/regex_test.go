package e2e

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/flowsieve/flowsieve/processor"
)

// TestTopicRegex: input.topic_regex consumes every matching topic, also
// one created after the pipeline started; records of both land in the
// outputs.
func TestTopicRegex(t *testing.T) {
	t.Parallel()
	e := newEnv(t, 2)
	rulesFile := writeRules(t, t.TempDir(), testRules)
	if err := e.broker.CreateTopics(2, 0, 0, "flows.raw.eu"); err != nil {
		t.Fatal(err)
	}
	pl := e.startPipeline("regex", rulesFile, func(c *processor.Config) {
		c.Topics, c.TopicRegex = nil, `^flows\.raw\.`
	})
	if err := e.broker.CreateTopics(2, 0, 0, "flows.raw.us"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	want := map[string]bool{}
	for _, topic := range []string{"flows.raw.eu", "flows.raw.us"} {
		for _, in := range makeInputs(topic, 200, e.parts, map[int32]int{}) {
			if !in.kept {
				continue
			}
			want[in.key] = true
			r := &kgo.Record{Topic: topic, Partition: in.partition, Key: []byte(in.key), Value: in.value}
			if err := e.cl.ProduceSync(ctx, r).FirstErr(); err != nil {
				t.Fatal(err)
			}
		}
	}
	for {
		got := map[string]bool{}
		for _, r := range e.readTopics(keptTopic)[keptTopic] {
			got[string(r.Key)] = true
		}
		if len(got) == len(want) {
			for k := range want {
				if !got[k] {
					t.Fatalf("%s missing from %s", k, keptTopic)
				}
			}
			break
		}
		if ctx.Err() != nil {
			t.Fatalf("%d of %d kept records after 60s", len(got), len(want))
		}
		time.Sleep(200 * time.Millisecond)
	}
	_ = pl.stop()
	offs, err := e.adm.FetchOffsets(ctx, "regex")
	if err != nil {
		t.Fatal(err)
	}
	topics := map[string]bool{}
	offs.Each(func(o kadm.OffsetResponse) {
		if o.At > 0 {
			topics[o.Topic] = true
		}
	})
	if !topics["flows.raw.eu"] || !topics["flows.raw.us"] {
		t.Errorf("committed topics %v, want both flows.raw.eu and flows.raw.us", topics)
	}
}
