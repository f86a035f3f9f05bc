package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/flowsieve/flowsieve/config"
	"github.com/flowsieve/flowsieve/internal/embedkafka"
)

// benchCluster is where flowsieve bench measures: an embedded broker of
// its own, or the user's cluster (--brokers), on which it creates topics
// under a prefix unique to the run and deletes them, with the run's
// consumer groups, when it closes.
type benchCluster struct {
	brokers []string
	opts    []kgo.Opt // TLS, SASL: every client the bench makes takes them
	// prefix names the run's topics and groups.
	prefix       string
	createTopics func(ctx context.Context, partitions int, topics ...string) error
	topics       []string // created, to delete at close (user's cluster)
	groups       []string // used, likewise
	external     bool
	close        func()
}

func openBenchCluster(ctx context.Context, p benchParams, out io.Writer) (*benchCluster, error) {
	head := fmt.Sprintf("flowsieve bench: %d records per format, %d partitions, compression %s, delivery %s, GOMAXPROCS %d",
		p.records, p.partitions, p.compression, p.delivery, runtime.GOMAXPROCS(0))
	if len(p.brokers) > 0 {
		return openUserCluster(ctx, p, out, head)
	}
	dir := p.dataDir
	removeDir := func() {}
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "flowsieve-bench-"); err != nil {
			return nil, err
		}
		removeDir = func() { os.RemoveAll(dir) }
	}
	b, err := embedkafka.Start(embedkafka.Config{Listen: "127.0.0.1:0", DataDir: dir, Partitions: p.partitions})
	if err != nil {
		removeDir()
		return nil, err
	}
	fmt.Fprintf(out, "%s, embedded broker %s (data in %s)\n", head, b.Addr(), dir)
	return &benchCluster{
		brokers: []string{b.Addr()},
		prefix:  "bench.",
		createTopics: func(_ context.Context, partitions int, topics ...string) error {
			return b.CreateTopics(partitions, 0, 0, topics...)
		},
		close: func() { b.Close(); removeDir() },
	}, nil
}

// openUserCluster connects to the brokers given, with the kafka section
// of the config file when there is one.
func openUserCluster(ctx context.Context, p benchParams, out io.Writer, head string) (*benchCluster, error) {
	var opts []kgo.Opt
	if p.configFile != "" {
		cfg, err := config.Load(config.Sources{File: p.configFile, Environ: os.Environ()})
		if err != nil {
			return nil, err
		}
		if opts, err = kafkaClientOpts(cfg.Kafka); err != nil {
			return nil, err
		}
		opts = append(opts, kgo.ClientID(cfg.Kafka.ClientID))
	}
	var id [4]byte
	_, _ = rand.Read(id[:])
	c := &benchCluster{
		brokers:  p.brokers,
		opts:     opts,
		prefix:   "flowsieve-bench-" + hex.EncodeToString(id[:]) + ".",
		external: true,
	}
	adm, err := c.client()
	if err != nil {
		return nil, err
	}
	pctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := adm.Ping(pctx); err != nil {
		adm.Close()
		return nil, fmt.Errorf("cannot reach Kafka brokers %s: %w", strings.Join(p.brokers, ","), err)
	}
	admin := kadm.NewClient(adm)
	c.createTopics = func(ctx context.Context, partitions int, topics ...string) error {
		// -1: the cluster's default replication factor (Kafka 2.4+).
		resp, err := admin.CreateTopics(ctx, int32(partitions), -1, nil, topics...)
		if err == nil {
			err = resp.Error()
		}
		for _, r := range resp {
			if r.Err == nil {
				c.topics = append(c.topics, r.Topic)
			}
		}
		if err != nil {
			return fmt.Errorf("creating the benchmark's topics: %w", err)
		}
		return nil
	}
	c.close = func() {
		// Not the run's context: an interrupted run still cleans up.
		dctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		var errs []error
		if len(c.groups) > 0 {
			resp, err := admin.DeleteGroups(dctx, c.groups...)
			errs = append(errs, err)
			for _, r := range resp {
				errs = append(errs, r.Err)
			}
		}
		if len(c.topics) > 0 {
			resp, err := admin.DeleteTopics(dctx, c.topics...)
			errs = append(errs, err)
			for _, r := range resp {
				errs = append(errs, r.Err)
			}
		}
		if err := errors.Join(errs...); err != nil {
			fmt.Fprintf(out, "flowsieve bench: cleaning up (delete topics and groups %s* by hand): %v\n", c.prefix, err)
		} else {
			fmt.Fprintf(out, "\ndeleted the benchmark's %d topics and %d consumer groups (%s*)\n", len(c.topics), len(c.groups), c.prefix)
		}
		adm.Close()
	}
	fmt.Fprintf(out, "%s, cluster %s (topics and groups %s*, deleted at the end)\n", head, strings.Join(p.brokers, ","), c.prefix)
	return c, nil
}

// client is a Kafka client of the cluster with the bench's connection
// options and opts.
func (c *benchCluster) client(opts ...kgo.Opt) (*kgo.Client, error) {
	return kgo.NewClient(append(append([]kgo.Opt{kgo.SeedBrokers(c.brokers...)}, c.opts...), opts...)...)
}
