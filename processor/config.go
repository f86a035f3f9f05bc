package processor

import (
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/zap"

	"github.com/flowsieve/flowsieve/codec"
	"github.com/flowsieve/flowsieve/rules"
)

// Config is everything the pipeline needs, as plain values: cmd fills it
// from the config package. Zero values take the Default* constants below;
// New validates the rest.
type Config struct {
	Brokers  []string
	ClientID string // default DefaultClientID
	// ClientOpts are appended to both the consumer's and the producer's
	// options: the one place connection settings (TLS, SASL, dialer) come in.
	ClientOpts []kgo.Opt

	Topics     []string // input topics, or
	TopicRegex string   // a regular expression of input topics
	Group      string
	// StartLatest starts partitions without a committed offset at the end
	// instead of the beginning.
	StartLatest bool
	// SessionTimeout is the group session timeout.
	SessionTimeout time.Duration

	KeptTopic, ThreatsTopic, InvalidTopic string
	// KeptJSON writes kept flows as normalised JSON instead of the input
	// bytes.
	KeptJSON bool
	// Fields, when not nil, writes kept flows as JSON with only the
	// members it selects (output.fields; rules.ParseFields). The threats
	// topic still gets whole flows, the invalid topic the input bytes.
	Fields *codec.Projection
	// Compression is none, gzip, snappy, lz4 or zstd.
	Compression   string
	Linger        time.Duration
	BatchMaxBytes int
	// DeliveryTimeout bounds how long the producer retries one record,
	// counted from its produce, before reporting it failed; see
	// deliveryDeadline in worker.go. A failed record stalls its
	// input partition, which is retried from that record on.
	DeliveryTimeout time.Duration

	// In the whole process (at-least-once): records and bytes (keys and
	// values) consumed but not yet acknowledged by every output. At
	// either cap the pipeline stops polling until both are at half; see
	// budget.go. Exactly-once bounds what it holds by TxnMaxRecords and
	// MaxInflightBytes.
	MaxInflightRecords int
	MaxInflightBytes   int64

	// Limits bound one input record; a record over one goes to the
	// invalid topic undecoded, counted by parse_errors{reason} as
	// limit_record_bytes, limit_members or limit_depth. Zero fields take
	// codec.DefaultLimits.
	Limits codec.Limits

	// Rules returns the rules serving now; it is called once per record,
	// so it must be cheap (an atomic load, as rules.Watcher.Current is).
	Rules func() *rules.Set
	// ShadowRules, when set, returns the shadow rules serving now (nil
	// while none has loaded): every record is judged by them too, and
	// they decide nothing (see Shadow rules in the package doc). As cheap
	// as Rules.
	ShadowRules func() *rules.Set
	// ShadowTopic, when set, receives each record the two rule sets judge
	// differently, as rules.AppendShadowJSON writes it, at most
	// ShadowMaxPerSec a second (default DefaultShadowMaxPerSec); the
	// others are counted suppressed.
	ShadowTopic     string
	ShadowMaxPerSec int
	// Copy skips parsing and rules: every record is re-produced to
	// KeptTopic as it came. The benchmark's baseline; Rules may be nil.
	Copy bool

	// ExactlyOnce runs consume-transform-produce in Kafka transactions
	// (transact.go): outputs and input offsets commit together. The
	// knobs below apply to it only.
	ExactlyOnce        bool
	TransactionalID    string // default: unique per process
	TransactionTimeout time.Duration
	TxnMaxRecords      int           // input records per transaction
	TxnInterval        time.Duration // longest a transaction gathers records

	// CommitInterval is how often acknowledged offsets are committed;
	// revokes and shutdown commit at once regardless.
	CommitInterval time.Duration

	// SummaryInterval is the period of the summary log line; 0 disables.
	SummaryInterval time.Duration
	// LagRefreshInterval is how often the end offsets of the assigned
	// input partitions are listed for flowsieve_consumer_lag, which
	// fetches alone do not update while a partition is paused or stalled
	// (negative: fetches only). See lag.go.
	LagRefreshInterval time.Duration
	// StartTimeout bounds how long New waits for the brokers.
	StartTimeout time.Duration

	// Metrics receives the pipeline's series; default: NewMetrics(Registry).
	// Pass one to record rule reloads before the pipeline exists.
	Metrics  *Metrics
	Logger   *zap.Logger           // default: no logging
	Registry prometheus.Registerer // default: a new registry
	// Gatherer serves /metrics; default: Registry when it is a registry.
	Gatherer prometheus.Gatherer
}

// Defaults of Config's tunables, taken where a field is zero. The config
// package's key table refers to these rather than restating them, so the
// binary's defaults (`flowsieve config print`, the configuration
// reference) and those of a Config built in code (the bench, the tests)
// are the same values.
const (
	DefaultClientID           = "flowsieve"
	DefaultSessionTimeout     = 45 * time.Second
	DefaultCompression        = "snappy"
	DefaultLinger             = 5 * time.Millisecond
	DefaultBatchMaxBytes      = 1 << 20
	DefaultDeliveryTimeout    = 2 * time.Minute
	DefaultMaxInflightRecords = 100000
	DefaultMaxInflightBytes   = 64 << 20
	DefaultTransactionTimeout = 30 * time.Second
	DefaultTxnMaxRecords      = 100000
	DefaultTxnInterval        = 100 * time.Millisecond
	DefaultCommitInterval     = time.Second
	DefaultLagRefreshInterval = 5 * time.Second
	DefaultStartTimeout       = 20 * time.Second
	DefaultShadowMaxPerSec    = 100
)

func (c *Config) setDefaults() {
	setDefault(&c.ClientID, DefaultClientID)
	setDefault(&c.SessionTimeout, DefaultSessionTimeout)
	setDefault(&c.Compression, DefaultCompression)
	setDefault(&c.Linger, DefaultLinger)
	setDefault(&c.BatchMaxBytes, DefaultBatchMaxBytes)
	setDefault(&c.DeliveryTimeout, DefaultDeliveryTimeout)
	setDefault(&c.MaxInflightRecords, DefaultMaxInflightRecords)
	setDefault(&c.MaxInflightBytes, DefaultMaxInflightBytes)
	setDefault(&c.TransactionTimeout, DefaultTransactionTimeout)
	setDefault(&c.TxnMaxRecords, DefaultTxnMaxRecords)
	setDefault(&c.TxnInterval, DefaultTxnInterval)
	setDefault(&c.CommitInterval, DefaultCommitInterval)
	setDefault(&c.LagRefreshInterval, DefaultLagRefreshInterval)
	setDefault(&c.StartTimeout, DefaultStartTimeout)
	setDefault(&c.ShadowMaxPerSec, DefaultShadowMaxPerSec)
	if c.Logger == nil {
		c.Logger = zap.NewNop()
	}
	if c.Registry == nil {
		r := prometheus.NewRegistry()
		c.Registry, c.Gatherer = r, r
	}
	if c.Metrics == nil {
		c.Metrics = NewMetrics(c.Registry)
	}
	if c.Gatherer == nil {
		if g, ok := c.Registry.(prometheus.Gatherer); ok {
			c.Gatherer = g
		}
	}
}

// setDefault sets *v to def when it is the zero value.
func setDefault[T comparable](v *T, def T) {
	var zero T
	if *v == zero {
		*v = def
	}
}

func (c *Config) validate() error {
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("no brokers"))
	}
	if (len(c.Topics) == 0) == (c.TopicRegex == "") {
		errs = append(errs, errors.New("give input topics or a topic regex, not both"))
	}
	if c.TopicRegex != "" {
		if _, err := regexp.Compile(c.TopicRegex); err != nil {
			errs = append(errs, fmt.Errorf("topic regex: %w", err))
		}
	}
	if c.Group == "" {
		errs = append(errs, errors.New("no consumer group"))
	}
	if c.KeptTopic == "" || (!c.Copy && (c.ThreatsTopic == "" || c.InvalidTopic == "")) {
		errs = append(errs, errors.New("output topics missing"))
	}
	if !c.Copy && c.Rules == nil {
		errs = append(errs, errors.New("no rules"))
	}
	if c.ShadowTopic != "" && c.ShadowRules == nil {
		errs = append(errs, errors.New("a shadow topic needs shadow rules"))
	}
	if c.ShadowMaxPerSec < 0 {
		errs = append(errs, errors.New("the shadow topic's records per second must be positive"))
	}
	if _, err := compressionCodec(c.Compression); err != nil {
		errs = append(errs, err)
	}
	if c.MaxInflightRecords < 1 || c.MaxInflightBytes < 1 {
		errs = append(errs, errors.New("in-flight caps must be positive"))
	}
	return errors.Join(errs...)
}

func compressionCodec(name string) (kgo.CompressionCodec, error) {
	switch name {
	case "none":
		return kgo.NoCompression(), nil
	case "gzip":
		return kgo.GzipCompression(), nil
	case "snappy":
		return kgo.SnappyCompression(), nil
	case "lz4":
		return kgo.Lz4Compression(), nil
	case "zstd":
		return kgo.ZstdCompression(), nil
	}
	return kgo.CompressionCodec{}, fmt.Errorf("unknown compression %q", name)
}
