package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestBenchOnUserCluster: bench --brokers measures on a cluster it does not
// own, in topics and groups of its own, and leaves the cluster as it found
// it: the user's topic untouched, its own topics and groups deleted.
func TestBenchOnUserCluster(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(2, "users.topic"))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	addr := c.ListenAddrs()[0]

	var out, errOut bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	code := benchCmd(ctx, []string{"--brokers", addr, "-n", "3000", "--format", "text", "--rounds", "1",
		"--partitions", "2", "--rules", "../../config/rules.yaml"}, &out, &errOut)
	if code != exitOK {
		t.Fatalf("bench: exit %d\n%s%s", code, out.String(), errOut.String())
	}
	for _, want := range []string{"cluster " + addr, "text: ratio flowsieve/copy", "deleted the benchmark's 5 topics and 2 consumer groups"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("bench output lacks %q:\n%s", want, out.String())
		}
	}

	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	topics, err := adm.ListTopics(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if names := topics.Names(); len(names) != 1 || names[0] != "users.topic" {
		t.Errorf("topics after the bench: %v, want only users.topic", names)
	}
	groups, err := adm.ListGroups(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if gs := groups.Groups(); len(gs) != 0 {
		t.Errorf("consumer groups left after the bench: %v", gs)
	}
}

func TestBenchConfigNeedsBrokers(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := benchCmd(context.Background(), []string{"--config", "x.yaml"}, &out, &errOut); code != exitUsage {
		t.Errorf("bench --config without --brokers: exit %d, want %d (usage)", code, exitUsage)
	}
}
