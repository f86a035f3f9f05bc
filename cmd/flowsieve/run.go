package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	versioncollector "github.com/prometheus/client_golang/prometheus/collectors/version"
	"github.com/spf13/pflag"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/flowsieve/flowsieve/codec"
	"github.com/flowsieve/flowsieve/codec/flowgen"
	"github.com/flowsieve/flowsieve/config"
	"github.com/flowsieve/flowsieve/internal/embedkafka"
	"github.com/flowsieve/flowsieve/internal/kafkaauth"
	"github.com/flowsieve/flowsieve/processor"
	"github.com/flowsieve/flowsieve/rules"
)

type runParams struct {
	configFile string
	demo       bool
	demoRate   int
	profiles   profiles
}

// newFlagSet returns a flag set with --config and one flag per config key.
func newFlagSet(name string, stderr io.Writer) (*pflag.FlagSet, *string) {
	fs := pflag.NewFlagSet(name, pflag.ContinueOnError)
	fs.SetOutput(stderr)
	file := fs.StringP("config", "c", "", "YAML config file (then FLOWSIEVE_* environment variables, then these flags)")
	config.RegisterFlags(fs)
	return fs, file
}

const runUsage = `usage: flowsieve run [--config FILE] [--section.key=value ...] [--demo]

Runs the pipeline: consumes the input topics, judges each record with the
rule file, and produces to the kept, threats and invalid topics. Without
kafka.brokers it starts an embedded single-node broker for local use.`

func runCmd(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs, file := newFlagSet("flowsieve run", stderr)
	var p runParams
	fs.BoolVar(&p.demo, "demo", false, "also run a synthetic flow-log generator into the first input topic")
	fs.IntVar(&p.demoRate, "demo-rate", 200, "records per second the --demo generator writes")
	p.profiles.register(fs, true)
	if code, ok := parsePflags(fs, args, runUsage, stderr); !ok {
		return code
	}
	p.configFile = *file
	cfg, err := config.LoadFromOS(p.configFile, fs)
	if err != nil {
		fmt.Fprintln(stderr, "flowsieve run:", err)
		return exitFailure
	}
	log, err := newLogger(cfg.Log, stderr)
	if err != nil {
		fmt.Fprintln(stderr, "flowsieve run:", err)
		return exitFailure
	}
	defer func() { _ = log.Sync() }()
	log.Info("flowsieve starting", buildFields()...)
	log.Info("garbage collector", zap.String("settings", gcPolicy(os.Getenv, cfg.Input.MaxInflightBytes, cfg.Output.Format == "json", cfg.UseEmbedded()).apply()))
	if err := refuseClobber(nil, p.profiles.outputs(), runInputs(p.configFile, cfg)); err != nil {
		fmt.Fprintln(stderr, "flowsieve run:", err)
		return exitUsage
	}
	stopProfiles, err := p.profiles.start()
	if err != nil {
		log.Error("flowsieve run failed", zap.Error(err))
		return exitFailure
	}
	defer func() {
		if err := stopProfiles(); err != nil {
			log.Error("writing profiles", zap.Error(err))
		}
	}()
	if err := run(ctx, cfg, p, log); err != nil {
		log.Error("flowsieve run failed", zap.Error(err))
		return exitFailure
	}
	return exitOK
}

// runInputs are the files run reads, which no output file may be.
func runInputs(configFile string, cfg *config.Config) []string {
	in := []string{cfg.Rules.File, cfg.Rules.ShadowFile, cfg.Kafka.SASL.PasswordFile, cfg.Kafka.TLS.CAFile, cfg.Kafka.TLS.CertFile,
		cfg.Kafka.TLS.KeyFile, cfg.Embedded.TLSCertFile, cfg.Embedded.TLSKeyFile, cfg.Metrics.WebConfigFile}
	if configFile != "" {
		in = append(in, configFile)
	}
	return in
}

func run(ctx context.Context, cfg *config.Config, p runParams, log *zap.Logger) error {
	clientOpts, err := kafkaClientOpts(cfg.Kafka)
	if err != nil {
		return err
	}
	if err := processor.CheckWebConfig(cfg.Metrics.WebConfigFile); err != nil {
		return err
	}

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		versioncollector.NewCollector("flowsieve"))
	metrics := processor.NewMetrics(reg)

	fm, err := newFeedManager(cfg.Feeds, log.Named("feeds"))
	if err != nil {
		return err
	}
	reg.MustRegister(fm.Collector())
	watcher, err := rules.NewWatcher(cfg.Rules.File, rules.WatcherOptions{
		Debounce: cfg.Rules.Debounce,
		Logger:   log.Named("rules"),
		OnReload: metrics.RulesLoaded,
		Feeds:    fm,
	})
	if err != nil {
		return fmt.Errorf("loading rules: %w", err)
	}
	feedsCtx, stopFeeds := context.WithCancel(ctx)
	defer runFeeds(feedsCtx, fm)()
	defer stopFeeds()
	set := watcher.Current()
	metrics.RulesLoaded(set, nil)
	log.Info("rules loaded", zap.String("file", cfg.Rules.File), zap.String("version", set.Version()),
		zap.Int("filters", len(set.FilterNames())), zap.Int("threat_rules", len(set.ThreatRules())))
	// The shadow rules load, reload and fail on their own: a candidate
	// that does not load leaves the pipeline, the live rules and
	// readiness as they are.
	var shadow *rules.Watcher
	var shadowRules func() *rules.Set
	if cfg.Rules.ShadowFile != "" {
		// Its own feed manager (a Manager serves one watcher), pulling
		// in the background too; its cache apart, its metrics unexported
		// (the live rules' feeds are the ones that judge).
		sc := cfg.Feeds
		if sc.CacheDir != "" {
			sc.CacheDir = filepath.Join(sc.CacheDir, "shadow")
		}
		sfm, err := newFeedManager(sc, log.Named("shadow-feeds"))
		if err != nil {
			return err
		}
		if shadow, err = rules.NewWatcher(cfg.Rules.ShadowFile, rules.WatcherOptions{
			Debounce: cfg.Rules.Debounce,
			Logger:   log.Named("shadow"),
			OnReload: metrics.ShadowRulesLoaded,
			Name:     "shadow rules",
			Optional: true,
			Feeds:    sfm,
		}); err != nil {
			return fmt.Errorf("shadow rules: %w", err)
		}
		shadowRules = shadow.Current
		waitShadowFeeds := runFeeds(feedsCtx, sfm)
		defer func() {
			stopFeeds()
			waitShadowFeeds()
		}()
	}

	brokers := cfg.Kafka.Brokers
	if cfg.UseEmbedded() {
		b, err := startEmbedded(cfg, log)
		if err != nil {
			return err
		}
		defer b.Close()
		brokers = []string{b.Addr()}
	}

	var fields *codec.Projection
	if len(cfg.Output.Fields) > 0 {
		if fields, err = rules.ParseFields(cfg.Output.Fields); err != nil {
			return fmt.Errorf("output.fields: %w", err) // config validation passed it: not expected
		}
	}

	pl, err := processor.New(processor.Config{
		Brokers:            brokers,
		ClientID:           cfg.Kafka.ClientID,
		ClientOpts:         clientOpts,
		Topics:             cfg.Input.Topics,
		TopicRegex:         cfg.Input.TopicRegex,
		Group:              cfg.Input.Group,
		StartLatest:        cfg.Input.StartOffset == "latest",
		SessionTimeout:     cfg.Input.SessionTimeout,
		KeptTopic:          cfg.Output.KeptTopic,
		ThreatsTopic:       cfg.Output.ThreatsTopic,
		InvalidTopic:       cfg.Output.InvalidTopic,
		KeptJSON:           cfg.Output.Format == "json",
		Fields:             fields,
		Compression:        cfg.Output.Compression,
		Linger:             cfg.Output.Linger,
		BatchMaxBytes:      cfg.Output.BatchMaxBytes,
		MaxInflightRecords: cfg.Input.MaxInflightRecords,
		MaxInflightBytes:   cfg.Input.MaxInflightBytes,
		Limits: codec.Limits{RecordBytes: cfg.Input.MaxRecordBytes,
			Members: cfg.Input.MaxJSONMembers, Depth: cfg.Input.MaxJSONDepth},
		ExactlyOnce:        cfg.Delivery == "exactly_once",
		TransactionalID:    cfg.Transaction.ID,
		TransactionTimeout: cfg.Transaction.Timeout,
		TxnMaxRecords:      cfg.Transaction.MaxRecords,
		TxnInterval:        cfg.Transaction.Interval,
		Rules:              watcher.Current,
		ShadowRules:        shadowRules,
		ShadowTopic:        cfg.Output.ShadowTopic,
		ShadowMaxPerSec:    cfg.Output.ShadowMaxPerSec,
		SummaryInterval:    cfg.Metrics.SummaryInterval,
		StartTimeout:       cfg.Kafka.ConnectTimeout,
		Metrics:            metrics,
		Registry:           reg,
		Gatherer:           reg,
		Logger:             log,
	})
	if err != nil {
		return err
	}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// bg owns the watchers, the SIGHUP handler and the demo generator:
	// run returns only after they have stopped.
	var bg sync.WaitGroup
	defer func() {
		cancel()
		bg.Wait()
	}()

	if cfg.Metrics.Listen != "" {
		ln, err := net.Listen("tcp", cfg.Metrics.Listen)
		if err != nil {
			return fmt.Errorf("metrics.listen %s: %w", cfg.Metrics.Listen, err)
		}
		opts := processor.HTTPOptions{WebConfigFile: cfg.Metrics.WebConfigFile, Pprof: cfg.Metrics.Pprof,
			ReadyWarnings: func() []string { return staleFeeds(fm.Status(), time.Now()) },
			Rules: func() processor.RulesStatus {
				st := processor.RulesStatus{Live: watcher.Status()}
				if shadow != nil {
					s := shadow.Status()
					st.Shadow = &s
				}
				return st
			}}
		served := make(chan struct{})
		go func() {
			defer close(served)
			if err := pl.Serve(ctx, ln, opts); err != nil {
				log.Error("metrics listener stopped", zap.Error(err))
			}
		}()
		defer func() {
			cancel()
			<-served
		}()
		paths := "/metrics, /healthz, /readyz, /rules"
		if opts.Pprof {
			paths += ", /debug/pprof/"
		}
		log.Info("serving "+paths, zap.String("addr", ln.Addr().String()),
			zap.String("web_config_file", opts.WebConfigFile))
	}

	bg.Go(func() {
		if err := watcher.Run(ctx); err != nil && ctx.Err() == nil {
			log.Error("rules watcher stopped; rules will no longer reload on change", zap.Error(err))
		}
	})
	if shadow != nil {
		bg.Go(func() {
			if err := shadow.Run(ctx); err != nil && ctx.Err() == nil {
				log.Error("shadow rules watcher stopped; shadow rules will no longer reload on change", zap.Error(err))
			}
		})
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	bg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				if err := watcher.Reload(); err != nil {
					log.Error("SIGHUP: rules reload failed; previous rules keep serving", zap.Error(err))
				}
				// And every pulled feed now, rather than at its next
				// period or back-off.
				fm.PullAll()
				if shadow != nil {
					if err := shadow.Reload(); err != nil {
						log.Error("SIGHUP: shadow rules reload failed; previous shadow rules keep serving", zap.Error(err))
					}
				}
			}
		}
	})

	if p.demo {
		if len(cfg.Input.Topics) == 0 {
			return errors.New("--demo needs input.topics (not a regex) to know where to write")
		}
		bg.Go(func() {
			if err := runDemo(ctx, brokers, clientOpts, cfg.Input.Topics[0], p.demoRate, log.Named("demo")); err != nil && ctx.Err() == nil {
				log.Error("demo generator stopped", zap.Error(err))
			}
		})
	}
	wctx, wcancel := context.WithTimeout(ctx, firstPullWait)
	fm.WaitFirst(wctx)
	wcancel()
	return pl.Run(ctx)
}

func startEmbedded(cfg *config.Config, log *zap.Logger) (*embedkafka.Broker, error) {
	e := cfg.Embedded
	topics := append([]string{}, cfg.Input.Topics...)
	topics = append(topics, cfg.Output.KeptTopic, cfg.Output.ThreatsTopic, cfg.Output.InvalidTopic)
	if cfg.Output.ShadowTopic != "" {
		topics = append(topics, cfg.Output.ShadowTopic)
	}
	// For local trials of a secured setup the broker serves TLS with its
	// own certificate and knows the one SASL user the clients log in as.
	var tlsCfg *tls.Config
	if e.TLSCertFile != "" {
		cert, err := tls.LoadX509KeyPair(e.TLSCertFile, e.TLSKeyFile)
		if err != nil {
			return nil, fmt.Errorf("embedded.tls_cert_file/tls_key_file: %w", err)
		}
		tlsCfg = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	}
	var users []embedkafka.User
	if s := cfg.Kafka.SASL; s.Mechanism != "" {
		pw, err := security(cfg.Kafka).SASLPassword()
		if err != nil {
			return nil, err
		}
		users = append(users, embedkafka.User{Mechanism: s.Mechanism, Name: s.Username, Password: pw})
	}
	b, err := embedkafka.Start(embedkafka.Config{
		Listen:         e.Listen,
		DataDir:        e.DataDir,
		Topics:         topics,
		Partitions:     e.Partitions,
		Retention:      e.Retention,
		RetentionBytes: e.RetentionBytes,
		TLS:            tlsCfg,
		Users:          users,
	})
	if err != nil {
		return nil, err
	}
	log.Warn("no kafka.brokers configured: started an EMBEDDED single-node Kafka broker for local use only "+
		"(one node, no replication). To use a real cluster set kafka.brokers in the config file, "+
		"or FLOWSIEVE_KAFKA_BROKERS=host1:9092,host2:9092, or --kafka.brokers=host1:9092.",
		zap.String("listen", b.Addr()), zap.String("data_dir", e.DataDir), zap.Strings("topics", topics),
		zap.Int("partitions", e.Partitions), zap.Duration("retention", e.Retention))
	return b, nil
}

// kafkaClientOpts turns the connection settings into client options (TLS,
// SASL) that every Kafka client of the process takes.
func kafkaClientOpts(k config.Kafka) ([]kgo.Opt, error) {
	return kafkaauth.ClientOpts(security(k))
}

func security(k config.Kafka) kafkaauth.Config {
	return kafkaauth.Config{
		TLS: k.TLS.Enabled, CA: k.TLS.CAFile, Cert: k.TLS.CertFile, Key: k.TLS.KeyFile,
		ServerName: k.TLS.ServerName, InsecureSkipVerify: k.TLS.InsecureSkipVerify,
		Mechanism: k.SASL.Mechanism, Username: k.SASL.Username,
		Password: k.SASL.Password, PasswordFile: k.SASL.PasswordFile,
	}
}

// newLogger builds the zap logger: JSON in production, console when
// stderr is a terminal (log.format auto).
func newLogger(c config.Log, w io.Writer) (*zap.Logger, error) {
	var level zapcore.Level
	if err := level.UnmarshalText([]byte(c.Level)); err != nil {
		return nil, fmt.Errorf("log.level: %w", err)
	}
	format := c.Format
	if format == "auto" {
		format = "json"
		if f, ok := w.(*os.File); ok {
			if st, err := f.Stat(); err == nil && st.Mode()&os.ModeCharDevice != 0 {
				format = "console"
			}
		}
	}
	var enc zapcore.Encoder
	if format == "console" {
		ec := zap.NewDevelopmentEncoderConfig()
		ec.EncodeLevel = zapcore.CapitalColorLevelEncoder
		ec.EncodeTime = zapcore.TimeEncoderOfLayout("15:04:05.000")
		enc = zapcore.NewConsoleEncoder(ec)
	} else {
		ec := zap.NewProductionEncoderConfig()
		ec.EncodeTime = zapcore.ISO8601TimeEncoder
		enc = zapcore.NewJSONEncoder(ec)
	}
	core := zapcore.NewCore(enc, zapcore.Lock(zapcore.AddSync(w)), level)
	return zap.New(core), nil
}

// runDemo writes synthetic flow logs to topic at rate records/s until ctx
// ends, through `flowsieve gen`.
func runDemo(ctx context.Context, brokers []string, clientOpts []kgo.Opt, topic string, rate int, log *zap.Logger) error {
	log.Info("demo: generating synthetic flow logs", zap.String("topic", topic), zap.Int("records_per_sec", rate))
	g := flowgen.New(1, flowgen.Options{ThreatRatio: 0.02})
	p := genParams{format: codec.FormatText, rate: float64(rate), seed: 1, threatRatio: 0.02,
		brokers: brokers, topic: topic, connectTimeout: 10 * time.Second, clientOpts: clientOpts}
	if _, err := genKafka(ctx, g, p); err != nil && ctx.Err() == nil {
		return fmt.Errorf("demo generator: %w", err)
	}
	return nil
}
