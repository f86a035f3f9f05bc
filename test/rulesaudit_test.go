package e2e

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/flowsieve/flowsieve/processor"
)

// getRules reads GET /rules.
func getRules(t *testing.T, client *http.Client, base string) processor.RulesStatus {
	t.Helper()
	resp, err := client.Get(base + "/rules")
	if err != nil {
		t.Fatalf("GET /rules: %v", err)
	}
	defer resp.Body.Close()
	var st processor.RulesStatus
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		t.Fatalf("GET /rules: %v", err)
	}
	return st
}

// TestRulesAuditEndToEnd: `flowsieve run` with a shadow file that does
// not load at first: the pipeline is ready, /rules shows the shadow
// file's failed load; once mended it serves. A live reload is in /rules'
// history with its diff. Every output record (kept, threats, invalid)
// carries the version of the rules that judged it.
func TestRulesAuditEndToEnd(t *testing.T) {
	t.Parallel()
	e, dir, liveFile, shadowFile := newShadowEnv(t, 2, "filters: [oops\n")
	cfg := writeConfig(t, dir, e.addr, "audit", liveFile)
	listen := freePort(t)
	startChild(t, "run", "--config", cfg, "--metrics.listen="+listen,
		"--rules.shadow_file="+shadowFile, "--output.shadow_topic="+shadowTopic)
	base := "http://" + listen
	client := &http.Client{Timeout: 5 * time.Second}
	eventually(t, 30*time.Second, "/readyz ready with a broken shadow file", func() bool {
		resp, err := client.Get(base + "/readyz")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode == http.StatusOK && strings.HasPrefix(string(b), "ready")
	})
	st := getRules(t, client, base)
	v0 := st.Live.Version
	if st.Live.File != liveFile || v0 == "" || st.Live.LoadedAt == nil || len(st.Live.History) != 1 || !st.Live.History[0].OK {
		t.Errorf("live status %+v", st.Live)
	}
	if st.Shadow == nil || st.Shadow.Version != "" || len(st.Shadow.History) != 1 || st.Shadow.History[0].OK ||
		!strings.Contains(st.Shadow.History[0].Error, "candidate.yaml") {
		t.Fatalf("shadow status %+v", st.Shadow)
	}

	writeFileAtomic(t, shadowFile, candidateRules)
	eventually(t, 10*time.Second, "the mended shadow file", func() bool { return getRules(t, client, base).Shadow.Version != "" })

	ins := makeInputs("a", 300, e.parts, map[int32]int{})
	e.produce(ins)
	e.waitCommitted("audit", 60*time.Second)
	outs := e.readTopics(keptTopic, threatsTopic, invalidTopic)
	for _, topic := range []string{keptTopic, threatsTopic, invalidTopic} {
		if len(outs[topic]) == 0 {
			t.Fatalf("no records in %s", topic)
		}
		for _, r := range outs[topic] {
			if v := headers(r)[processor.HeaderRulesVersion]; v != v0 {
				t.Fatalf("%s record with %s %q, want %q", topic, processor.HeaderRulesVersion, v, v0)
			}
		}
	}
	if len(e.readTopics(shadowTopic)[shadowTopic]) == 0 {
		t.Error("no disagreements on the shadow topic")
	}

	// A live reload: in the history, newest first, with its diff.
	writeFileAtomic(t, liveFile, strings.Replace(testRules, "name: drop-dev", "name: drop-dev-namespace", 1))
	eventually(t, 10*time.Second, "the live reload", func() bool { return getRules(t, client, base).Live.Version != v0 })
	st = getRules(t, client, base)
	if h := st.Live.History; len(h) != 2 || h[0].Version != st.Live.Version || h[0].Diff != "filters +1 -1 ~0" || h[1].Version != v0 {
		t.Errorf("live history %+v", h)
	}
}
