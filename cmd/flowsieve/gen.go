package main

import (
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/flowsieve/flowsieve/codec"
	"github.com/flowsieve/flowsieve/codec/flowgen"
)

type genParams struct {
	format         codec.Format
	count          int64
	rate           float64 // records per second; 0 = as fast as possible
	seed           int64
	threatIPs      string
	threatRatio    float64
	brokers        []string
	topic          string
	connectTimeout time.Duration
	// clientOpts carry TLS and SASL when `run --demo` generates.
	clientOpts []kgo.Opt
}

func genUsage(fs *flag.FlagSet) func() {
	return func() {
		w := fs.Output()
		fmt.Fprint(w, `usage: flowsieve gen [flags]

Writes synthetic Calico flow logs, one record per line, to stdout or to a
Kafka topic. The same --seed gives the same records.

flags:
`)
		fs.PrintDefaults()
	}
}

func genCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var (
		p                     genParams
		format, rate, brokers string
		fs                    = flag.NewFlagSet("flowsieve gen", flag.ContinueOnError)
	)
	fs.SetOutput(stderr)
	fs.Usage = genUsage(fs)
	fs.StringVar(&format, "format", "text", "record form: text (felix's 24 columns) or json (felix's JSON)")
	fs.Int64Var(&p.count, "count", 1000, "number of records; 0 = until interrupted")
	fs.StringVar(&rate, "rate", "0", "records per second (R, R/s or R/m); 0 = as fast as possible")
	fs.Int64Var(&p.seed, "seed", 1, "random seed")
	fs.StringVar(&p.threatIPs, "threat-ips", "", "file of threat-feed IPs or CIDRs (one per line, # comments) some flows go to; default: four addresses of the sample feed config/feeds/c2-sample.txt")
	fs.Float64Var(&p.threatRatio, "threat-ratio", 0.02, "fraction of flows to threat-feed addresses")
	fs.StringVar(&brokers, "brokers", "", "Kafka brokers host:port[,host:port...]; empty = write to stdout")
	fs.StringVar(&p.topic, "topic", "flows.raw", "Kafka topic to produce to (with --brokers)")
	fs.DurationVar(&p.connectTimeout, "connect-timeout", 10*time.Second, "how long to wait for the brokers to answer before giving up")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK
		}
		return exitUsage
	}
	usageErr := func(msg string) int {
		fmt.Fprintf(stderr, "flowsieve gen: %s\n", msg)
		return exitUsage
	}
	if fs.NArg() > 0 {
		return usageErr(fmt.Sprintf("unexpected argument %q", fs.Arg(0)))
	}
	switch format {
	case "text":
		p.format = codec.FormatText
	case "json":
		p.format = codec.FormatJSON
	default:
		return usageErr(fmt.Sprintf("--format %q: want text or json", format))
	}
	if p.count < 0 {
		return usageErr("--count must be >= 0")
	}
	r, err := parseRate(rate)
	if err != nil {
		return usageErr(fmt.Sprintf("--rate %q: %v", rate, err))
	}
	p.rate = r
	if p.threatRatio < 0 || p.threatRatio > 1 {
		return usageErr("--threat-ratio must be between 0 and 1")
	}
	if brokers != "" {
		for _, b := range strings.Split(brokers, ",") {
			if b = strings.TrimSpace(b); b != "" {
				p.brokers = append(p.brokers, b)
			}
		}
		if len(p.brokers) == 0 {
			return usageErr(fmt.Sprintf("--brokers %q names no broker", brokers))
		}
		if p.topic == "" {
			return usageErr("--topic must not be empty with --brokers")
		}
	}

	opts := flowgen.Options{ThreatRatio: p.threatRatio}
	if p.threatRatio == 0 {
		opts.ThreatRatio = -1
	}
	if p.threatIPs != "" {
		ips, err := readThreatIPs(p.threatIPs)
		if err != nil {
			fmt.Fprintf(stderr, "flowsieve gen: %v\n", err)
			return exitFailure
		}
		opts.ThreatIPs = ips
	}
	g := flowgen.New(p.seed, opts)

	var n int64
	if len(p.brokers) > 0 {
		n, err = genKafka(ctx, g, p)
	} else {
		n, err = genStdout(ctx, g, p, stdout)
	}
	if err != nil {
		fmt.Fprintf(stderr, "flowsieve gen: %v (after %d records)\n", err, n)
		return exitFailure
	}
	where := "stdout"
	if len(p.brokers) > 0 {
		where = fmt.Sprintf("topic %s on %s", p.topic, strings.Join(p.brokers, ","))
	}
	fmt.Fprintf(stderr, "flowsieve gen: %d %s records to %s\n", n, format, where)
	return exitOK
}

// parseRate reads "R", "R/s" or "R/m" as records per second.
func parseRate(s string) (float64, error) {
	per := 1.0
	switch {
	case strings.HasSuffix(s, "/s"):
		s = strings.TrimSuffix(s, "/s")
	case strings.HasSuffix(s, "/m"):
		s, per = strings.TrimSuffix(s, "/m"), 60
	}
	r, err := strconv.ParseFloat(s, 64)
	if err != nil || r < 0 {
		return 0, errors.New("want a non-negative number of records per second, e.g. 500/s or 1000/m")
	}
	return r / per, nil
}

// readThreatIPs reads a threat feed: one IP or CIDR per line, '#' starts a
// comment. A CIDR contributes its first host address.
func readThreatIPs(path string) ([]netip.Addr, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading threat IPs: %w", err)
	}
	defer f.Close()
	var ips []netip.Addr
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		s := sc.Text()
		if i := strings.IndexByte(s, '#'); i >= 0 {
			s = s[:i]
		}
		if s = strings.TrimSpace(s); s == "" {
			continue
		}
		if strings.Contains(s, "/") {
			pfx, err := netip.ParsePrefix(s)
			if err != nil {
				return nil, fmt.Errorf("%s:%d: %q is not an IP or CIDR", path, line, s)
			}
			a := pfx.Masked().Addr()
			if pfx.Bits() < a.BitLen() {
				a = a.Next()
			}
			ips = append(ips, a)
			continue
		}
		a, err := netip.ParseAddr(s)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %q is not an IP or CIDR", path, line, s)
		}
		ips = append(ips, a.Unmap())
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading threat IPs from %s: %w", path, err)
	}
	if len(ips) == 0 {
		return nil, fmt.Errorf("%s: no IP or CIDR in the file", path)
	}
	return ips, nil
}

// pacer spaces records to a rate by sleeping in small batches.
type pacer struct {
	rate  float64
	start time.Time
	batch int64
}

func newPacer(rate float64) *pacer {
	return &pacer{rate: rate, start: time.Now(), batch: max(1, int64(rate/200))}
}

// wait returns once record n may go out, or when ctx is done. flush runs
// before sleeping so paced output is not held back in a buffer.
func (p *pacer) wait(ctx context.Context, n int64, flush func() error) error {
	if p.rate <= 0 || n%p.batch != 0 {
		return nil
	}
	due := p.start.Add(time.Duration(float64(n) / p.rate * float64(time.Second)))
	d := time.Until(due)
	if d <= 0 {
		return nil
	}
	if err := flush(); err != nil {
		return err
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func genStdout(ctx context.Context, g *flowgen.Generator, p genParams, stdout io.Writer) (int64, error) {
	w := bufio.NewWriterSize(stdout, 64<<10)
	pace := newPacer(p.rate)
	var buf []byte
	var n int64
	for p.count == 0 || n < p.count {
		if err := pace.wait(ctx, n, w.Flush); err != nil {
			if ctx.Err() != nil {
				break
			}
			return n, fmt.Errorf("writing: %w", err)
		}
		if n%1024 == 0 && ctx.Err() != nil {
			break
		}
		buf = g.Append(buf[:0], p.format)
		buf = append(buf, '\n')
		if _, err := w.Write(buf); err != nil {
			return n, fmt.Errorf("writing: %w", err)
		}
		n++
	}
	if err := w.Flush(); err != nil {
		return n, fmt.Errorf("writing: %w", err)
	}
	return n, nil
}

func genKafka(ctx context.Context, g *flowgen.Generator, p genParams) (int64, error) {
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(p.brokers...),
		kgo.DefaultProduceTopic(p.topic),
		kgo.ClientID("flowsieve-gen"),
		kgo.ProducerLinger(5 * time.Millisecond),
		kgo.RecordDeliveryTimeout(max(p.connectTimeout, 30*time.Second)),
		kgo.RequiredAcks(kgo.AllISRAcks()), // with idempotence, franz-go's default
	}, p.clientOpts...)...)
	if err != nil {
		return 0, fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()

	pingCtx, cancel := context.WithTimeout(ctx, p.connectTimeout)
	err = cl.Ping(pingCtx)
	cancel()
	if err != nil {
		return 0, fmt.Errorf("cannot reach Kafka brokers %s within %s: %w", strings.Join(p.brokers, ","), p.connectTimeout, err)
	}

	var (
		mu       sync.Mutex
		firstErr error
		acked    int64
	)
	done := func(_ *kgo.Record, err error) {
		mu.Lock()
		defer mu.Unlock()
		if err != nil && firstErr == nil {
			firstErr = err
		}
		if err == nil {
			acked++
		}
	}
	failed := func() error {
		mu.Lock()
		defer mu.Unlock()
		return firstErr
	}
	pace := newPacer(p.rate)
	var n int64
	for p.count == 0 || n < p.count {
		if err := pace.wait(ctx, n, func() error { return nil }); err != nil {
			break // interrupted
		}
		if ctx.Err() != nil {
			break
		}
		if err := failed(); err != nil {
			break
		}
		// The client keeps the value until the broker acknowledges it,
		// so every record gets its own buffer.
		// Not ctx: records already handed over should still be delivered
		// when the user interrupts.
		cl.Produce(context.Background(), &kgo.Record{Value: g.Append(nil, p.format)}, done)
		n++
	}
	// Flush with a bound so a broker that vanished does not hang us.
	flushCtx, cancel := context.WithTimeout(context.Background(), max(p.connectTimeout, 30*time.Second))
	defer cancel()
	if err := cl.Flush(flushCtx); err != nil {
		return acked, fmt.Errorf("flushing produced records: %w", err)
	}
	if err := failed(); err != nil {
		return acked, fmt.Errorf("producing to %s: %w", p.topic, err)
	}
	return acked, nil
}
