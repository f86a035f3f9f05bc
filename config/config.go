// Package config reads flowsieve's process configuration: a YAML file, then
// FLOWSIEVE_<SECTION>_<KEY> environment variables, then command-line flags,
// each layer overriding the one before. Every key is declared once in the
// table in keys.go (name, default, type, whether it is a secret); loading,
// unknown-key detection, flags, environment names and `config print` all
// derive from that table, and every check on values lives in validate.go.
//
// The package hands plain values to cmd; nothing below cmd imports it.
package config

import "time"

// Config is the effective configuration after all layers are merged and
// validated.
type Config struct {
	Kafka    Kafka
	Input    Input
	Output   Output
	Rules    Rules
	Feeds    Feeds
	Metrics  Metrics
	Log      Log
	Embedded Embedded
	// Delivery is at_least_once or exactly_once (Kafka transactions).
	Delivery    string
	Transaction Transaction
}

// Transaction tunes exactly-once delivery: each transaction holds the
// outputs of up to MaxRecords input records polled within Interval, and
// commits them with the input offsets.
type Transaction struct {
	// ID is the transactional id; "" derives a unique one per process.
	// A stable id per instance (a pod name) lets a restarted instance
	// abort its predecessor's open transaction at once instead of after
	// Timeout.
	ID         string
	Timeout    time.Duration
	MaxRecords int
	Interval   time.Duration
}

// Kafka is how to reach the cluster. An empty Brokers list means "start the
// embedded single-node broker" (see Embedded).
type Kafka struct {
	Brokers  []string
	ClientID string
	// ConnectTimeout bounds start-up's wait for the brokers: past it
	// flowsieve exits with an error rather than hanging.
	ConnectTimeout time.Duration
	TLS            TLS
	SASL           SASL
}

// TLS settings for the Kafka connection.
type TLS struct {
	Enabled            bool
	CAFile             string
	CertFile           string
	KeyFile            string
	ServerName         string
	InsecureSkipVerify bool
}

// SASL settings for the Kafka connection. Password is a secret: it is
// masked by `config print`.
type SASL struct {
	Mechanism    string // "", PLAIN, SCRAM-SHA-256, SCRAM-SHA-512
	Username     string
	Password     string
	PasswordFile string
}

// Input is what to consume. Exactly one of Topics and TopicRegex is set.
type Input struct {
	Topics      []string
	TopicRegex  string
	Group       string
	StartOffset string // earliest | latest
	// SessionTimeout is how long the group waits for a silent member
	// (crashed, partitioned) before giving its partitions to others.
	SessionTimeout time.Duration
	// Per-partition caps on records consumed but not yet acknowledged by
	// every output: past either one the partition's fetching pauses.
	MaxInflightRecords int
	MaxInflightBytes   int64
	// Limits on one input record (codec.Limits): a record over one goes
	// to the invalid topic with the reason, undecoded.
	MaxRecordBytes int
	MaxJSONMembers int
	MaxJSONDepth   int
}

// Output is where results go and how they are produced.
type Output struct {
	KeptTopic    string
	ThreatsTopic string
	InvalidTopic string
	Format       string // raw | json (kept records)
	// Fields lists the members kept records keep (or, each with a leading
	// '-', lose); empty: all. See rules.ParseFields.
	Fields        []string
	Compression   string // none | gzip | snappy | lz4 | zstd
	Linger        time.Duration
	BatchMaxBytes int
	// ShadowTopic receives the records the shadow rules judge differently
	// (rules.shadow_file), at most ShadowMaxPerSec a second.
	ShadowTopic     string
	ShadowMaxPerSec int
}

// Rules is the rule file and how eagerly it is reloaded.
type Rules struct {
	File     string
	Debounce time.Duration
	// ShadowFile is a candidate rule file judging every record beside
	// File and deciding nothing; reloaded like File, and a failed load
	// never stops the pipeline.
	ShadowFile string
}

// Feeds is how GlobalThreatFeeds named by the rule file are pulled.
type Feeds struct {
	CacheDir      string
	Timeout       time.Duration
	MaxBytes      int64
	CAFile        string
	SecretsDir    string
	ConfigMapsDir string
}

// Metrics is the HTTP listener for /metrics, /healthz and /readyz (and
// /debug/pprof/ when Pprof), how it is secured, and the period of the
// summary log line.
type Metrics struct {
	Listen          string
	SummaryInterval time.Duration
	// WebConfigFile is an exporter-toolkit web configuration (TLS, client
	// certificates, basic auth). It holds only paths and bcrypt hashes,
	// so it is no secret here: the key is its path.
	WebConfigFile string
	Pprof         bool
}

// Log configures the zap logger.
type Log struct {
	Level  string // debug | info | warn | error
	Format string // auto | json | console
}

// Embedded configures the single-node broker started when Kafka.Brokers is
// empty.
type Embedded struct {
	Listen         string
	DataDir        string
	Partitions     int
	Retention      time.Duration
	RetentionBytes int64 // per partition; -1 = unbounded
	// TLSCertFile and TLSKeyFile make the embedded broker serve TLS, for
	// local trials of a secured setup (clients use kafka.tls).
	TLSCertFile string
	TLSKeyFile  string
}

// UseEmbedded reports whether the embedded broker is to be started.
func (c *Config) UseEmbedded() bool { return len(c.Kafka.Brokers) == 0 }
