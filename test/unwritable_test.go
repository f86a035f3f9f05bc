package e2e

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/flowsieve/flowsieve/internal/kafkaauth"
	"github.com/flowsieve/flowsieve/processor"
)

// The ACL test's SASL users: an administrator (a superuser, as the test
// and the operator fixing the ACLs) and flowsieve's own principal.
const (
	aclAdmin         = "admin"
	aclAdminPassword = "admin secret"
	aclTxnID         = "flowsieve-acl-0"
)

// newACLEnv is newEnv with a broker that authenticates every client
// (SASL SCRAM-SHA-256) and checks ACLs. The flowsieve principal may read
// the input and its group, use its transactional id, write the threats and
// invalid topics, and only describe the kept topic: the kept topic exists
// but is not writable. The env's own client is the administrator. It
// returns the options flowsieve's clients authenticate with.
func newACLEnv(t *testing.T, partitions int, group string) (*env, []kgo.Opt) {
	t.Helper()
	allow := func(typ kmsg.ACLResourceType, name string, op kmsg.ACLOperation) kfake.ACL {
		return kfake.ACL{Resource: typ, Name: name, Pattern: kmsg.ACLResourcePatternTypeLiteral, Operation: op, Allow: true}
	}
	c, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.SeedTopics(int32(partitions), rawTopic, keptTopic, threatsTopic, invalidTopic),
		kfake.EnableSASL(),
		kfake.EnableACLs(),
		kfake.Superuser("SCRAM-SHA-256", aclAdmin, aclAdminPassword),
		kfake.User("SCRAM-SHA-256", saslUser, saslPassword,
			allow(kmsg.ACLResourceTypeTopic, rawTopic, kmsg.ACLOperationRead),
			allow(kmsg.ACLResourceTypeGroup, group, kmsg.ACLOperationRead),
			allow(kmsg.ACLResourceTypeTransactionalId, aclTxnID, kmsg.ACLOperationWrite),
			allow(kmsg.ACLResourceTypeTopic, threatsTopic, kmsg.ACLOperationWrite),
			allow(kmsg.ACLResourceTypeTopic, invalidTopic, kmsg.ACLOperationWrite),
			allow(kmsg.ACLResourceTypeTopic, keptTopic, kmsg.ACLOperationDescribe),
		),
	)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := kafkaauth.ClientOpts(kafkaauth.Config{Mechanism: "SCRAM-SHA-256", Username: aclAdmin, Password: aclAdminPassword})
	if err != nil {
		c.Close()
		t.Fatal(err)
	}
	user, err := kafkaauth.ClientOpts(kafkaauth.Config{Mechanism: "SCRAM-SHA-256", Username: saslUser, Password: saslPassword})
	if err != nil {
		c.Close()
		t.Fatal(err)
	}
	addr := c.ListenAddrs()[0]
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addr), kgo.RecordPartitioner(kgo.ManualPartitioner())}, admin...)...)
	if err != nil {
		c.Close()
		t.Fatal(err)
	}
	e := &env{t: t, addr: addr, cl: cl, adm: kadm.NewClient(cl), parts: int32(partitions), clientOpts: admin}
	t.Cleanup(func() {
		cl.Close()
		c.Close()
	})
	return e, user
}

// TestOutputTopicNotWritable: the kept topic exists but flowsieve's
// principal may not write to it, in both delivery modes. Every partition
// stalls at its first record to keep: nothing is committed past it, the
// produce-error metric counts the failures and /readyz names the topic and
// TOPIC_AUTHORIZATION_FAILED. Once an administrator adds an ACL allowing
// the write, the same member, never restarted, turns ready and every
// record's outputs are there (exactly-once: exactly once for a
// read_committed reader).
func TestOutputTopicNotWritable(t *testing.T) {
	t.Parallel()
	bothModes(t, outputTopicNotWritable)
}

func outputTopicNotWritable(t *testing.T, exactly bool) {
	group := "unwritable"
	e, user := newACLEnv(t, 2, group)
	rulesFile := writeRules(t, t.TempDir(), testRules)
	reg := prometheus.NewRegistry()
	ins := makeInputs("w", 1000, e.parts, map[int32]int{})
	e.produce(ins)
	pl := e.startPipeline(group, rulesFile, func(c *processor.Config) {
		c.ClientOpts = user
		c.DeliveryTimeout = 10 * time.Second
		c.Registry, c.Gatherer = reg, reg
		if exactly {
			exactlyOnce(c)
			c.TransactionalID = aclTxnID
		}
	})

	waitStalled(t, pl, keptTopic, "TOPIC_AUTHORIZATION_FAILED", 30*time.Second)
	srv := httptest.NewServer(pl.p.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || !strings.Contains(string(body), keptTopic) ||
		!strings.Contains(string(body), "TOPIC_AUTHORIZATION_FAILED") {
		t.Errorf("/readyz while the kept topic is not writable: %d %s", resp.StatusCode, body)
	}
	t.Logf("/readyz: %d %s", resp.StatusCode, strings.TrimSpace(string(body)))
	e.checkStalled(group, ins, 2*time.Second)
	if n := counterWith(t, reg, "flowsieve_produce_errors_total", "topic", keptTopic); n == 0 {
		t.Error("flowsieve_produce_errors_total{topic=flows.kept} is 0")
	}

	// The operator grants the write; the member picks it up on its own.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := e.adm.CreateACLs(ctx, kadm.NewACLs().Allow("User:"+saslUser).Topics(keptTopic).Operations(kadm.OpWrite))
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("creating the ACL: %v", r.Err)
		}
	}
	granted := time.Now()
	waitReady(t, pl, 60*time.Second)
	e.waitCommitted(group, 60*time.Second)
	t.Logf("ready and committed to the end %s after the ACL was added", time.Since(granted).Round(100*time.Millisecond))
	if exactly {
		e.checkExactlyOnce(ins)
	} else {
		e.checkOutputs(ins, allAtLeastOnce)
	}
	if err := pl.stop(); err != nil {
		t.Errorf("the member that rode out the refused writes stopped with: %v", err)
	}
}
