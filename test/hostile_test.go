package e2e

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/flowsieve/flowsieve/codec"
	"github.com/flowsieve/flowsieve/processor"
)

// TestQuadraticMembers: one record of 60,000 unknown members (878 KB)
// took 11.8 s to decode, which stalled its partition and, in exactly-once
// mode with a 4 s transaction timeout, fenced the producer and stopped
// the pipeline. Now a record over a limit (members, nesting, bytes) goes
// to the invalid topic at once with the reason, counted by reason, and
// the records around it flow on in both delivery modes.
func TestQuadraticMembers(t *testing.T) {
	t.Parallel()
	for _, exactly := range []bool{false, true} {
		name := map[bool]string{false: "at_least_once", true: "exactly_once"}[exactly]
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, 2)
			seqs := map[int32]int{}
			ins := makeInputs("ok", 400, e.parts, seqs)
			var many strings.Builder
			many.WriteByte('{')
			for i := range 60000 {
				if i > 0 {
					many.WriteByte(',')
				}
				fmt.Fprintf(&many, `"k%d":%d`, i, i)
			}
			many.WriteByte('}')
			hostile := []struct{ key, value, reason, class string }{
				{"members", many.String(), "more than 1000 members", "limit_members"},
				{"depth", `{"a":` + strings.Repeat("[", 20) + strings.Repeat("]", 20) + `}`, "nested deeper than 16 levels", "limit_depth"},
				{"bytes", `{"a":"` + strings.Repeat("x", 950_000) + `"}`, "record too long: 950008 bytes, over the limit of 900000", "limit_record_bytes"},
			}
			for i, h := range hostile {
				p := int32(i) % e.parts
				ins = append(ins, input{key: h.key, value: []byte(h.value), partition: p, seq: seqs[p], invalid: true})
				seqs[p]++
			}
			ins = append(ins, makeInputs("after", 400, e.parts, seqs)...)
			e.produce(ins)

			rulesFile := writeRules(t, t.TempDir(), testRules)
			group := "hostile-" + name
			opts := []pipelineOpt{func(c *processor.Config) { c.Limits = codec.Limits{RecordBytes: 900_000} }}
			if exactly {
				opts = append(opts, exactlyOnce, func(c *processor.Config) { c.TransactionTimeout = 4 * time.Second })
			}
			pl := e.startPipeline(group, rulesFile, opts...)
			e.waitCommitted(group, 60*time.Second)
			var outs map[string][]*kgo.Record
			if exactly {
				outs = e.readCommitted(keptTopic, threatsTopic, invalidTopic)
			} else {
				outs = e.readTopics(keptTopic, threatsTopic, invalidTopic)
			}
			e.check(ins, exactly, false, outs)
			invalid := map[string]string{}
			for _, r := range outs[invalidTopic] {
				invalid[string(r.Key)] = headers(r)[processor.HeaderReason]
			}
			srv := httptest.NewServer(pl.p.Handler())
			defer srv.Close()
			resp, err := http.Get(srv.URL + "/metrics")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			for _, h := range hostile {
				if !strings.Contains(invalid[h.key], h.reason) {
					t.Errorf("%s: reason %q lacks %q", h.key, invalid[h.key], h.reason)
				}
				if want := fmt.Sprintf(`flowsieve_parse_errors_total{reason=%q} 1`, h.class); !strings.Contains(string(body), want) {
					t.Errorf("/metrics lacks %s", want)
				}
			}
		})
	}
}
