package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/flowsieve/flowsieve/processor"
)

// TestCorrectness: mixed records (text, JSON, garbage, threats, dropped)
// each land in exactly the right topics with the right content and order,
// and the group's committed offsets end at the input's end.
func TestCorrectness(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		opts []pipelineOpt
	}{
		{"defaults", nil},
		// A tiny in-flight budget (7 records a partition, 2 KiB): polling
		// stops and resumes constantly.
		{"back-pressure", []pipelineOpt{func(c *processor.Config) { c.MaxInflightRecords = 28; c.MaxInflightBytes = 8192 }}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, 4)
			rulesFile := writeRules(t, t.TempDir(), testRules)
			ins := makeInputs("c", 6000, e.parts, map[int32]int{})
			e.produce(ins)
			pl := e.startPipeline("correctness", rulesFile, tc.opts...)
			e.waitCommitted("correctness", 60*time.Second)
			e.checkOutputs(ins, allExactlyOnce)
			checkEndpoints(t, pl.p, ins)
			t.Logf("%d inputs: %d kept, %d flagged, %d invalid", len(ins),
				countWhere(ins, func(in input) bool { return in.kept }),
				countWhere(ins, func(in input) bool { return in.threat }),
				countWhere(ins, func(in input) bool { return in.invalid }))
		})
	}
}

// checkEndpoints reads /healthz, /readyz and /metrics the way Prometheus
// and Kubernetes do, and checks the counters against the inputs.
func checkEndpoints(t *testing.T, p *processor.Pipeline, ins []input) {
	t.Helper()
	srv := httptest.NewServer(p.Handler())
	defer srv.Close()
	get := func(path string) (int, string) {
		resp, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := get("/healthz"); code != 200 {
		t.Errorf("/healthz: %d %s", code, body)
	}
	if code, body := get("/readyz"); code != 200 {
		t.Errorf("/readyz: %d %s", code, body)
	}
	_, body := get("/metrics")
	invalid := countWhere(ins, func(in input) bool { return in.invalid })
	flagged := countWhere(ins, func(in input) bool { return in.threat })
	kept := countWhere(ins, func(in input) bool { return in.kept })
	for _, want := range []string{
		fmt.Sprintf("flowsieve_records_produced_total{topic=%q} %d", keptTopic, kept),
		fmt.Sprintf("flowsieve_records_produced_total{topic=%q} %d", threatsTopic, flagged),
		fmt.Sprintf("flowsieve_records_produced_total{topic=%q} %d", invalidTopic, invalid),
		fmt.Sprintf(`flowsieve_flows_flagged_total{rule="c2",severity="critical"} %d`, flagged),
		fmt.Sprintf(`flowsieve_parse_errors_total{reason="text_startTime"} %d`, invalid),
		`flowsieve_records_consumed_total{partition="0",topic="flows.raw"}`,
		`flowsieve_records_dropped_total{rule="drop-dev"}`,
		`flowsieve_consumer_lag{partition="0",topic="flows.raw"} 0`,
		"flowsieve_processing_latency_seconds_count",
		"flowsieve_kafka_", // kprom
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// TestOldInputs: inputs written an hour ago (a backlog, a replay) are
// processed like new ones, in both delivery modes, although their age is
// far past the producer's delivery timeout, and their outputs keep the
// inputs' timestamps.
func TestOldInputs(t *testing.T) {
	t.Parallel()
	bothModes(t, func(t *testing.T, exactly bool) {
		e := newEnv(t, 2)
		rulesFile := writeRules(t, t.TempDir(), testRules)
		ins := makeInputs("old", 2000, e.parts, map[int32]int{})
		written := time.Now().Add(-time.Hour).Truncate(time.Millisecond)
		recs := make([]*kgo.Record, len(ins))
		for i, in := range ins {
			recs[i] = &kgo.Record{Topic: rawTopic, Partition: in.partition, Key: []byte(in.key), Value: in.value,
				Timestamp: written, Headers: []kgo.RecordHeader{{Key: "origin", Value: []byte("e2e")}}}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := e.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
			t.Fatal(err)
		}
		e.startPipeline("old", rulesFile, func(c *processor.Config) {
			c.DeliveryTimeout = 5 * time.Second
			if exactly {
				exactlyOnce(c)
			}
		})
		e.waitCommitted("old", 60*time.Second)
		outs := e.readOutputs(exactly)
		e.check(ins, checkFor(exactly), outs)
		for topic, rs := range outs {
			for _, r := range rs {
				if !r.Timestamp.Equal(written) {
					t.Fatalf("%s: %s has timestamp %v, want its input's %v", topic, r.Key, r.Timestamp, written)
				}
			}
		}
	})
}
