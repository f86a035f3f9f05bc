package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/flowsieve/flowsieve/codec"
	"github.com/flowsieve/flowsieve/codec/flowgen"
	"github.com/flowsieve/flowsieve/processor"
	"github.com/flowsieve/flowsieve/rules"
)

type benchParams struct {
	records     int
	formats     []string
	partitions  int
	rulesFile   string
	compression string
	dataDir     string
	profiles    profiles
	rounds      int
	delivery    string
	// brokers, when set, is the user's cluster to measure on instead of
	// an embedded broker; configFile's kafka section (TLS, SASL) applies.
	brokers    []string
	configFile string
}

// benchCmd measures the pipeline end to end on an embedded broker: it loads
// N synthetic records, runs flowsieve until its committed offsets reach the
// end of the input, then runs a copy pipeline (consume and re-produce, no
// parsing, same client settings) over the same input, and prints both rates
// and their ratio.
const benchUsage = `usage: flowsieve bench [--records N] [--format text,json] [--delivery MODE] [--brokers host:9092 [--config FILE]] [flags]

Measures the pipeline end to end against a copy pipeline (consume and
re-produce) over the same input: on an embedded broker, or with --brokers on
your own cluster, where it creates uniquely named topics (flowsieve-bench-*)
and deletes them, and its consumer groups, when it ends.`

func benchCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := pflag.NewFlagSet("flowsieve bench", pflag.ContinueOnError)
	fs.SetOutput(stderr)
	var p benchParams
	fs.IntVarP(&p.records, "records", "n", 1_000_000, "records to load and process per format")
	fs.StringSliceVar(&p.formats, "format", []string{"text", "json"}, "record formats to measure: text, json")
	fs.IntVar(&p.partitions, "partitions", 6, "partitions of the input and output topics")
	fs.StringVar(&p.rulesFile, "rules", "config/rules.yaml", "rule file the pipeline judges with")
	fs.StringVar(&p.compression, "compression", processor.DefaultCompression, "producer compression for both pipelines")
	fs.StringVar(&p.dataDir, "data-dir", "", "embedded broker data directory (default: a temporary directory, removed afterwards)")
	fs.IntVar(&p.rounds, "rounds", 2, "timed runs of each pipeline; the best of each is compared")
	p.profiles.register(fs, false)
	fs.StringVar(&p.delivery, "delivery", "at_least_once", "delivery mode of both pipelines: at_least_once or exactly_once (transactions, default knobs)")
	fs.StringSliceVar(&p.brokers, "brokers", nil, "measure on this Kafka cluster instead of an embedded broker (topics flowsieve-bench-* are created and deleted)")
	fs.StringVarP(&p.configFile, "config", "c", "", "with --brokers: a flowsieve config file whose kafka section (tls, sasl, client_id) the clients use")
	if code, ok := parsePflags(fs, args, benchUsage, stderr); !ok {
		return code
	}
	if p.delivery != "at_least_once" && p.delivery != "exactly_once" {
		fmt.Fprintf(stderr, "flowsieve bench: --delivery %q is not at_least_once or exactly_once\n", p.delivery)
		return exitUsage
	}
	for _, f := range p.formats {
		if f != "text" && f != "json" {
			fmt.Fprintf(stderr, "flowsieve bench: --format %q is not text or json\n", f)
			return exitUsage
		}
	}
	if p.configFile != "" && len(p.brokers) == 0 {
		fmt.Fprintln(stderr, "flowsieve bench: --config is for --brokers (the embedded broker needs no connection settings)")
		return exitUsage
	}
	if err := refuseClobber(nil, p.profiles.outputs(), []string{p.rulesFile, p.configFile}); err != nil {
		fmt.Fprintf(stderr, "flowsieve bench: %v\n", err)
		return exitUsage
	}
	stopProfiles, err := p.profiles.start()
	if err != nil {
		fmt.Fprintln(stderr, "flowsieve bench:", err)
		return exitFailure
	}
	err = bench(ctx, p, stdout)
	if perr := stopProfiles(); perr != nil && err == nil {
		err = perr
	}
	if err != nil {
		fmt.Fprintln(stderr, "flowsieve bench:", err)
		return exitFailure
	}
	return exitOK
}

func bench(ctx context.Context, p benchParams, out io.Writer) error {
	set, err := rules.LoadFile(p.rulesFile)
	if err != nil {
		return fmt.Errorf("loading rules: %w", err)
	}
	c, err := openBenchCluster(ctx, p, out)
	if err != nil {
		return err
	}
	defer c.close()

	for _, format := range p.formats {
		in := c.prefix + format + ".raw"
		outs := []string{c.prefix + format + ".kept", c.prefix + format + ".threats", c.prefix + format + ".invalid", c.prefix + format + ".copy"}
		if err := c.createTopics(ctx, p.partitions, append([]string{in}, outs...)...); err != nil {
			return err
		}
		loaded, bytes, err := loadRecords(ctx, c, in, format, p.records)
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "\n%s: loaded %d records, %.0f bytes/record on average, in %s\n",
			format, p.records, float64(bytes)/float64(p.records), loaded.Round(time.Millisecond))

		if err := readAll(ctx, c, in, int64(p.records)); err != nil {
			return fmt.Errorf("warm-up read: %w", err)
		}
		base := processor.Config{
			Brokers:        c.brokers,
			ClientOpts:     c.opts,
			Topics:         []string{in},
			Compression:    p.compression,
			CommitInterval: 100 * time.Millisecond,
			ExactlyOnce:    p.delivery == "exactly_once",
		}
		var fsBest, cpBest time.Duration
		for round := 1; round <= p.rounds; round++ {
			// Alternate which goes first, so neither always meets a
			// warmer broker.
			runs := []bool{false, true}
			if round%2 == 0 {
				runs = []bool{true, false}
			}
			for _, copyMode := range runs {
				cfg := base
				cfg.Copy = copyMode
				if copyMode {
					cfg.Group = fmt.Sprintf("%s%s-copy-%d", c.prefix, format, round)
					cfg.KeptTopic = outs[3]
				} else {
					cfg.Group = fmt.Sprintf("%s%s-flowsieve-%d", c.prefix, format, round)
					cfg.KeptTopic, cfg.ThreatsTopic, cfg.InvalidTopic = outs[0], outs[1], outs[2]
					cfg.Rules = func() *rules.Set { return set }
				}
				c.groups = append(c.groups, cfg.Group)
				d, first, err := runUntilCommitted(ctx, c, cfg, in, int64(p.records))
				if err != nil {
					return fmt.Errorf("%s pipeline: %w", map[bool]string{false: "flowsieve", true: "copy"}[copyMode], err)
				}
				name, best := "flowsieve", &fsBest
				if copyMode {
					name, best = "copy", &cpBest
				}
				fmt.Fprintf(out, "%s: round %d %-9s %10.0f records/s (%s; first commit after %s)\n",
					format, round, name, float64(p.records)/d.Seconds(), d.Round(time.Millisecond), first.Round(time.Millisecond))
				if *best == 0 || d < *best {
					*best = d
				}
			}
		}
		fsRate := float64(p.records) / fsBest.Seconds()
		cpRate := float64(p.records) / cpBest.Seconds()
		fmt.Fprintf(out, "%s: best flowsieve %10.0f records/s, %6.1f MB/s\n", format, fsRate, fsRate*float64(bytes)/float64(p.records)/1e6)
		fmt.Fprintf(out, "%s: best copy      %10.0f records/s, %6.1f MB/s\n", format, cpRate, cpRate*float64(bytes)/float64(p.records)/1e6)
		fmt.Fprintf(out, "%s: ratio flowsieve/copy = %.2f\n", format, fsRate/cpRate)
	}
	return nil
}

// loadRecords produces n synthetic records into topic, round-robin over
// its partitions.
func loadRecords(ctx context.Context, c *benchCluster, topic, format string, n int) (time.Duration, int64, error) {
	cl, err := c.client(
		kgo.DefaultProduceTopic(topic),
		kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
		kgo.ProducerLinger(5*time.Millisecond),
		kgo.ProducerBatchCompression(kgo.Lz4Compression()),
		kgo.MaxBufferedRecords(200_000),
	)
	if err != nil {
		return 0, 0, err
	}
	defer cl.Close()
	f := codec.FormatText
	if format == "json" {
		f = codec.FormatJSON
	}
	g := flowgen.New(1, flowgen.Options{})
	start := time.Now()
	var bytes int64
	var firstErr error
	for i := 0; i < n; i++ {
		v := g.Append(make([]byte, 0, 256), f)
		bytes += int64(len(v))
		cl.Produce(ctx, &kgo.Record{Value: v}, func(_ *kgo.Record, err error) {
			if err != nil && firstErr == nil {
				firstErr = err
			}
		})
	}
	if err := cl.Flush(ctx); err != nil {
		return 0, 0, err
	}
	if firstErr != nil {
		return 0, 0, fmt.Errorf("loading records: %w", firstErr)
	}
	return time.Since(start), bytes, nil
}

// readAll reads topic to its end once with a plain consumer, so the timed
// runs all find the broker's segments warm.
func readAll(ctx context.Context, c *benchCluster, topic string, total int64) error {
	cl, err := c.client(kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return err
	}
	defer cl.Close()
	for n := int64(0); n < total; {
		f := cl.PollFetches(ctx)
		if err := f.Err0(); err != nil {
			return err
		}
		n += int64(f.NumRecords())
	}
	return nil
}

// runUntilCommitted runs a pipeline from the start of topic and returns how
// long it took for the group's committed offsets to reach total.
func runUntilCommitted(ctx context.Context, c *benchCluster, cfg processor.Config, topic string, total int64) (time.Duration, time.Duration, error) {
	adm, err := c.client()
	if err != nil {
		return 0, 0, err
	}
	defer adm.Close()
	admin := kadm.NewClient(adm)

	start := time.Now()
	var first time.Duration // until the first commit: connect, join, first fetch
	pl, err := processor.New(cfg)
	if err != nil {
		return 0, 0, err
	}
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- pl.Run(rctx) }()
	defer func() {
		cancel()
		<-done
	}()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return 0, 0, ctx.Err()
		case err := <-done:
			done <- err
			return 0, 0, fmt.Errorf("pipeline stopped early: %v", err)
		case <-tick.C:
		}
		offs, err := admin.FetchOffsets(ctx, cfg.Group)
		if err != nil {
			continue
		}
		var sum int64
		offs.Each(func(o kadm.OffsetResponse) {
			if o.Topic == topic && o.Err == nil {
				sum += o.At
			}
		})
		if sum > 0 && first == 0 {
			first = time.Since(start)
		}
		if sum >= total {
			return time.Since(start), first, nil
		}
	}
}
