package embedkafka

import (
	"context"
	"errors"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestRestartKeepsData: records and committed offsets written before a
// restart are there after it, and the topics are not re-created.
func TestRestartKeepsData(t *testing.T) {
	dir := t.TempDir()
	cfg := Config{Listen: "127.0.0.1:0", DataDir: dir, Topics: []string{"a", "b"}, Partitions: 3, Retention: time.Hour, RetentionBytes: 1 << 20}
	b, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr()), kgo.DefaultProduceTopic("a"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte{byte('0' + i)}}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	adm := kadm.NewClient(cl)
	offs := kadm.Offsets{}
	offs.Add(kadm.Offset{Topic: "a", Partition: 0, At: 7})
	if _, err := adm.CommitOffsets(ctx, "g", offs); err != nil {
		t.Fatal(err)
	}
	td, err := adm.DescribeTopicConfigs(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range td[0].Configs {
		if c.Key == "retention.ms" && (c.Value == nil || *c.Value != "3600000") {
			t.Errorf("retention.ms = %v, want 3600000", c.MaybeValue())
		}
	}
	cl.Close()
	b.Close()

	cfg.Partitions = 5 // ignored: the topics exist
	b, err = Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	cl, err = kgo.NewClient(kgo.SeedBrokers(b.Addr()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm = kadm.NewClient(cl)
	ends, err := adm.ListEndOffsets(ctx, "a", "b")
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	parts := map[string]int{}
	ends.Each(func(o kadm.ListedOffset) {
		parts[o.Topic]++
		if o.Topic == "a" {
			total += o.Offset
		}
	})
	if total != 10 || parts["a"] != 3 || parts["b"] != 3 {
		t.Errorf("after restart: %d records in a, partitions %v; want 10 and 3 each", total, parts)
	}
	fo, err := adm.FetchOffsets(ctx, "g")
	if err != nil {
		t.Fatal(err)
	}
	if o, _ := fo.Lookup("a", 0); o.At != 7 {
		t.Errorf("committed offset after restart = %d, want 7", o.At)
	}
}

func TestStartErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for _, tc := range []struct {
		listen, want string
	}{
		{ln.Addr().String(), "the address is in use"},
		{"nohost", "embedded broker listen address"},
		{"127.0.0.1:x", "bad port"},
	} {
		_, err := Start(Config{Listen: tc.listen, Partitions: 1})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Start(%q) = %v, want %q", tc.listen, err, tc.want)
		}
		if tc.want == "the address is in use" && !errors.Is(err, syscall.EADDRINUSE) {
			t.Errorf("error does not wrap EADDRINUSE: %v", err)
		}
	}
}
