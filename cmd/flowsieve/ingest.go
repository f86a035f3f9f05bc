package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/flowsieve/flowsieve/config"
	"github.com/flowsieve/flowsieve/ingest/goldmane"
	"github.com/flowsieve/flowsieve/internal/goldmanefake"
	"github.com/flowsieve/flowsieve/internal/kafkaauth"
)

const ingestUsage = `usage: flowsieve ingest goldmane [flags]

Streams Calico Goldmane's flows (Calico Open Source 3.30+, the Flows gRPC
API over mutual TLS) into a Kafka topic as Calico flow-log JSON records, for
flowsieve run to judge. See docs/ingest.md.`

// ingestCmd dispatches `ingest goldmane`. `ingest goldmane-fake` is the
// demo's stand-in Goldmane (docker compose --profile goldmane); it is not
// listed.
func ingestCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) > 0 {
		switch args[0] {
		case "goldmane":
			return ingestGoldmaneCmd(ctx, args[1:], stderr)
		case "goldmane-fake":
			return goldmaneFakeCmd(ctx, args[1:], stderr)
		case "-h", "--help", "help":
			fmt.Fprintln(stderr, ingestUsage)
			return exitOK
		}
		fmt.Fprintf(stderr, "flowsieve ingest: unknown source %q\n%s\n", args[0], ingestUsage)
		return exitUsage
	}
	fmt.Fprintf(stderr, "flowsieve ingest: missing source\n%s\n", ingestUsage)
	return exitUsage
}

// The ingester's settings are flags, not keys of the run config: it is a
// process of its own (its own Deployment), and the run config's
// validation wants what only the pipeline has (rules.file, inputs).
type ingestFlags struct {
	cfg            goldmane.Config
	brokers        string
	kafka          kafkaauth.Config
	metricsListen  string
	logLevel       string
	logFormat      string
	connectTimeout time.Duration
}

func ingestGoldmaneCmd(ctx context.Context, args []string, stderr io.Writer) int {
	var f ingestFlags
	fs := pflag.NewFlagSet("flowsieve ingest goldmane", pflag.ContinueOnError)
	fs.StringVar(&f.cfg.Addr, "goldmane", "goldmane.calico-system.svc:7443", "Goldmane's Flows API, host:port")
	fs.StringVar(&f.cfg.TLS.CA, "ca", "", "PEM file of the CA that signed Goldmane's certificate (Calico's: the tigera-ca-bundle ConfigMap) (required)")
	fs.StringVar(&f.cfg.TLS.Cert, "cert", "", "PEM client certificate signed by a CA Goldmane trusts (required)")
	fs.StringVar(&f.cfg.TLS.Key, "key", "", "PEM key of --cert (required)")
	fs.StringVar(&f.cfg.TLS.ServerName, "server-name", "", "name checked in Goldmane's certificate; empty: the host of --goldmane")
	fs.StringVar(&f.brokers, "brokers", "", "Kafka brokers host:port[,host:port...] (required)")
	fs.StringVar(&f.cfg.Topic, "topic", "flows.raw", "topic to produce the records to")
	fs.StringVar(&f.cfg.StateFile, "state-file", "", "file keeping the resume position across restarts; empty: memory only (a restart starts from --initial-backfill)")
	fs.DurationVar(&f.cfg.InitialBackfill, "initial-backfill", 0, "with no position yet, start this far back in Goldmane's history; 0 starts from now")
	fs.DurationVar(&f.cfg.MaxBackfill, "max-backfill", 55*time.Minute, "oldest history asked for after a long outage (Goldmane keeps about an hour)")
	fs.DurationVar(&f.cfg.BackoffMin, "backoff-min", 500*time.Millisecond, "first wait before reconnecting to Goldmane")
	fs.DurationVar(&f.cfg.BackoffMax, "backoff-max", 30*time.Second, "longest wait between reconnects")
	fs.DurationVar(&f.cfg.FlushTimeout, "flush-timeout", time.Minute, "how long to wait for Kafka to take an interval's records before the stream is restarted")
	fs.DurationVar(&f.connectTimeout, "connect-timeout", 30*time.Second, "how long to wait for the Kafka brokers at start")
	fs.BoolVar(&f.kafka.TLS, "kafka-tls", false, "connect to Kafka with TLS")
	fs.StringVar(&f.kafka.CA, "kafka-ca", "", "PEM CA file for Kafka's certificates; empty: the system pool")
	fs.StringVar(&f.kafka.Cert, "kafka-cert", "", "PEM client certificate for Kafka mutual TLS")
	fs.StringVar(&f.kafka.Key, "kafka-key", "", "PEM key of --kafka-cert")
	fs.StringVar(&f.kafka.ServerName, "kafka-server-name", "", "name checked in the brokers' certificates; empty: the host dialled")
	fs.StringVar(&f.kafka.Mechanism, "kafka-sasl-mechanism", "", "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; empty: no SASL")
	fs.StringVar(&f.kafka.Username, "kafka-sasl-username", "", "SASL user")
	fs.StringVar(&f.kafka.PasswordFile, "kafka-sasl-password-file", "", "file holding the SASL password (a mounted Secret)")
	fs.StringVar(&f.metricsListen, "metrics-listen", "", "address for /metrics, /healthz and /readyz; empty disables")
	fs.StringVar(&f.logLevel, "log-level", "info", "debug, info, warn or error")
	fs.StringVar(&f.logFormat, "log-format", "auto", "json, console, or auto (console on a terminal)")
	if code, ok := parsePflags(fs, args, ingestUsage, stderr); !ok {
		return code
	}
	var missing []string
	for name, v := range map[string]string{"--ca": f.cfg.TLS.CA, "--cert": f.cfg.TLS.Cert, "--key": f.cfg.TLS.Key, "--brokers": f.brokers, "--goldmane": f.cfg.Addr, "--topic": f.cfg.Topic} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		fmt.Fprintf(stderr, "flowsieve ingest goldmane: required: %s\n", strings.Join(missing, ", "))
		fs.Usage()
		return exitUsage
	}
	log, err := newLogger(config.Log{Level: f.logLevel, Format: f.logFormat}, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "flowsieve ingest goldmane:", err)
		return exitUsage
	}
	defer func() { _ = log.Sync() }()
	if err := ingestGoldmane(ctx, f, log); err != nil {
		log.Error("flowsieve ingest goldmane failed", zap.Error(err))
		return exitFailure
	}
	return exitOK
}

func ingestGoldmane(ctx context.Context, f ingestFlags, log *zap.Logger) error {
	opts, err := kafkaauth.ClientOpts(f.kafka)
	if err != nil {
		// kafkaauth names the pipeline's config key; say which flags set it.
		return fmt.Errorf("--kafka-* flags: %w", err)
	}
	var brokers []string
	for _, b := range strings.Split(f.brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			brokers = append(brokers, b)
		}
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{
		kgo.SeedBrokers(brokers...),
		kgo.ClientID("flowsieve-ingest-goldmane"),
		kgo.ProducerLinger(10 * time.Millisecond),
		// A record Kafka will not take within this fails, and its interval
		// is asked for again, instead of the stream stalling for ever.
		kgo.RecordDeliveryTimeout(max(f.cfg.FlushTimeout, 10*time.Second)),
	}, opts...)...)
	if err != nil {
		return fmt.Errorf("kafka client: %w", err)
	}
	defer cl.Close()
	pingCtx, cancel := context.WithTimeout(ctx, f.connectTimeout)
	err = cl.Ping(pingCtx)
	cancel()
	if err != nil {
		return fmt.Errorf("cannot reach Kafka brokers %s within %s: %w", f.brokers, f.connectTimeout, err)
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	f.cfg.Metrics = goldmane.NewMetrics(reg)
	f.cfg.Log = log
	in, err := goldmane.New(f.cfg, cl)
	if err != nil {
		return err
	}

	ctx, stop := context.WithCancel(ctx)
	defer stop()
	if f.metricsListen != "" {
		ln, err := net.Listen("tcp", f.metricsListen)
		if err != nil {
			return fmt.Errorf("--metrics-listen %s: %w", f.metricsListen, err)
		}
		mux := http.NewServeMux()
		mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
		mux.Handle("/", in.Handler())
		srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
		served := make(chan struct{})
		go func() {
			defer close(served)
			if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				log.Error("metrics listener stopped", zap.Error(err))
			}
		}()
		defer func() {
			_ = srv.Close()
			<-served
		}()
		log.Info("serving /metrics, /healthz, /readyz", zap.String("addr", ln.Addr().String()))
	}
	log.Info("streaming Goldmane flows into Kafka", zap.String("goldmane", f.cfg.Addr), zap.Strings("brokers", brokers),
		zap.String("topic", f.cfg.Topic), zap.String("state_file", f.cfg.StateFile))
	return in.Run(ctx)
}

// goldmaneFakeCmd serves goldmanefake's flows over mutual TLS, writing a
// CA, a server and a client certificate into --certs first when it holds
// none: the compose demo's Goldmane.
func goldmaneFakeCmd(ctx context.Context, args []string, stderr io.Writer) int {
	fs := pflag.NewFlagSet("flowsieve ingest goldmane-fake", pflag.ContinueOnError)
	listen := fs.String("listen", ":7443", "address to serve the Flows API on")
	dir := fs.String("certs", "certs", "directory of ca.crt, server.crt/key and client.crt/key (created when missing)")
	tick := fs.Duration("tick", 15*time.Second, "wall-clock length of an aggregation interval")
	const usage = "usage: flowsieve ingest goldmane-fake [flags]\n\nA stand-in Goldmane for demos and tests: the same flows every interval."
	if code, ok := parsePflags(fs, args, usage, stderr); !ok {
		return code
	}
	certs := goldmanefake.CertsIn(*dir)
	if _, err := os.Stat(certs.CA); err != nil {
		if certs, err = goldmanefake.NewCerts(*dir, "goldmane-fake-ca"); err != nil {
			fmt.Fprintln(stderr, "flowsieve ingest goldmane-fake:", err)
			return exitFailure
		}
	}
	tlsCfg, err := certs.ServerTLS("")
	if err != nil {
		fmt.Fprintln(stderr, "flowsieve ingest goldmane-fake:", err)
		return exitFailure
	}
	now := time.Now()
	tl := goldmanefake.Timeline{Epoch: now, Tick: *tick, Base: now.Unix() / goldmanefake.IntervalSeconds * goldmanefake.IntervalSeconds}
	fmt.Fprintf(stderr, "flowsieve ingest goldmane-fake: serving on %s, certificates in %s\n", *listen, *dir)
	if err := goldmanefake.Serve(ctx, *listen, tlsCfg, tl); err != nil {
		fmt.Fprintln(stderr, "flowsieve ingest goldmane-fake:", err)
		return exitFailure
	}
	return exitOK
}
