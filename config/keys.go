package config

import (
	"strings"
	"time"

	"github.com/flowsieve/flowsieve/codec"
	"github.com/flowsieve/flowsieve/processor"
	"github.com/flowsieve/flowsieve/rules/feeds"
)

// key declares one configuration key. field returns a pointer into a Config
// (*string, *[]string, *int, *int64, *bool or *time.Duration); the pointer's
// type is the key's type, and what it points to in Default() is the default.
type key struct {
	name   string
	usage  string
	secret bool
	field  func(*Config) any
}

// Default returns the configuration used where no layer sets a key. The
// pipeline's tunables take processor's Default* values, the one place they
// are set; the rest (topic names, files, listeners, the embedded broker)
// belong to the process and are set here.
func Default() Config {
	return Config{
		Kafka: Kafka{ClientID: processor.DefaultClientID, ConnectTimeout: processor.DefaultStartTimeout},
		Input: Input{
			Topics:             []string{"flows.raw"},
			Group:              "flowsieve",
			StartOffset:        "earliest",
			SessionTimeout:     processor.DefaultSessionTimeout,
			MaxInflightRecords: processor.DefaultMaxInflightRecords,
			MaxInflightBytes:   processor.DefaultMaxInflightBytes,
			MaxRecordBytes:     codec.DefaultLimits.RecordBytes,
			MaxJSONMembers:     codec.DefaultLimits.Members,
			MaxJSONDepth:       codec.DefaultLimits.Depth,
		},
		Output: Output{
			KeptTopic:       "flows.kept",
			ThreatsTopic:    "flows.threats",
			InvalidTopic:    "flows.invalid",
			Format:          "raw",
			Compression:     processor.DefaultCompression,
			Linger:          processor.DefaultLinger,
			BatchMaxBytes:   processor.DefaultBatchMaxBytes,
			ShadowMaxPerSec: processor.DefaultShadowMaxPerSec,
		},
		Rules:   Rules{File: "rules.yaml", Debounce: 250 * time.Millisecond},
		Feeds:   Feeds{CacheDir: "./data/feeds", Timeout: feeds.DefaultTimeout, MaxBytes: feeds.DefaultMaxBytes},
		Metrics: Metrics{Listen: ":9464", SummaryInterval: 10 * time.Second},
		Log:     Log{Level: "info", Format: "auto"},
		Embedded: Embedded{
			Listen:         "127.0.0.1:9092",
			DataDir:        "./data/kafka",
			Partitions:     6,
			Retention:      24 * time.Hour,
			RetentionBytes: 1 << 30,
		},
		Delivery: "at_least_once",
		Transaction: Transaction{
			Timeout:    processor.DefaultTransactionTimeout,
			MaxRecords: processor.DefaultTxnMaxRecords,
			Interval:   processor.DefaultTxnInterval,
		},
	}
}

// keys is every configuration key. Adding a key here makes it loadable from
// the file, the environment and a flag, and printable.
var keys = []key{
	{name: "kafka.brokers", usage: "seed brokers host:port, comma separated; empty starts the embedded broker",
		field: func(c *Config) any { return &c.Kafka.Brokers }},
	{name: "kafka.client_id", usage: "Kafka client id",
		field: func(c *Config) any { return &c.Kafka.ClientID }},
	{name: "kafka.connect_timeout", usage: "how long start-up waits for the brokers before giving up",
		field: func(c *Config) any { return &c.Kafka.ConnectTimeout }},
	{name: "kafka.tls.enabled", usage: "connect with TLS",
		field: func(c *Config) any { return &c.Kafka.TLS.Enabled }},
	{name: "kafka.tls.ca_file", usage: "PEM file of CA certificates to trust",
		field: func(c *Config) any { return &c.Kafka.TLS.CAFile }},
	{name: "kafka.tls.cert_file", usage: "PEM client certificate",
		field: func(c *Config) any { return &c.Kafka.TLS.CertFile }},
	{name: "kafka.tls.key_file", usage: "PEM client key",
		field: func(c *Config) any { return &c.Kafka.TLS.KeyFile }},
	{name: "kafka.tls.server_name", usage: "server name to verify (default: the broker host)",
		field: func(c *Config) any { return &c.Kafka.TLS.ServerName }},
	{name: "kafka.tls.insecure_skip_verify", usage: "do not verify the broker certificate (testing only)",
		field: func(c *Config) any { return &c.Kafka.TLS.InsecureSkipVerify }},
	{name: "kafka.sasl.mechanism", usage: "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; empty disables SASL",
		field: func(c *Config) any { return &c.Kafka.SASL.Mechanism }},
	{name: "kafka.sasl.username", usage: "SASL user",
		field: func(c *Config) any { return &c.Kafka.SASL.Username }},
	{name: "kafka.sasl.password", usage: "SASL password (prefer password_file or the environment)", secret: true,
		field: func(c *Config) any { return &c.Kafka.SASL.Password }},
	{name: "kafka.sasl.password_file", usage: "file holding the SASL password",
		field: func(c *Config) any { return &c.Kafka.SASL.PasswordFile }},

	{name: "input.topics", usage: "topics to consume, comma separated (or use input.topic_regex)",
		field: func(c *Config) any { return &c.Input.Topics }},
	{name: "input.topic_regex", usage: "regular expression of topics to consume, instead of input.topics",
		field: func(c *Config) any { return &c.Input.TopicRegex }},
	{name: "input.group", usage: "consumer group",
		field: func(c *Config) any { return &c.Input.Group }},
	{name: "input.start_offset", usage: "where a partition without a committed offset starts: earliest or latest",
		field: func(c *Config) any { return &c.Input.StartOffset }},
	{name: "input.session_timeout", usage: "how long the group waits for a silent member before reassigning its partitions",
		field: func(c *Config) any { return &c.Input.SessionTimeout }},
	{name: "input.max_inflight_records", usage: "in the whole process: records consumed but not yet acknowledged by every output before polling stops (resumes at half)",
		field: func(c *Config) any { return &c.Input.MaxInflightRecords }},
	{name: "input.max_inflight_bytes", usage: "in the whole process: bytes (keys and values) consumed but not yet acknowledged by every output before polling stops (resumes at half)",
		field: func(c *Config) any { return &c.Input.MaxInflightBytes }},
	{name: "input.max_record_bytes", usage: "longest input record; a longer one goes to the invalid topic undecoded (reason limit_record_bytes)",
		field: func(c *Config) any { return &c.Input.MaxRecordBytes }},
	{name: "input.max_json_members", usage: "most members of a JSON record (top level); more sends it to the invalid topic (reason limit_members)",
		field: func(c *Config) any { return &c.Input.MaxJSONMembers }},
	{name: "input.max_json_depth", usage: "deepest nesting of a JSON record, the record being 1; deeper sends it to the invalid topic (reason limit_depth)",
		field: func(c *Config) any { return &c.Input.MaxJSONDepth }},

	{name: "output.kept_topic", usage: "topic for the flows the filters keep",
		field: func(c *Config) any { return &c.Output.KeptTopic }},
	{name: "output.threats_topic", usage: "topic for threat-flagged flows (JSON)",
		field: func(c *Config) any { return &c.Output.ThreatsTopic }},
	{name: "output.invalid_topic", usage: "topic for records that do not parse (unchanged, reason in headers)",
		field: func(c *Config) any { return &c.Output.InvalidTopic }},
	{name: "output.format", usage: "kept records: raw (the input bytes) or json (normalised)",
		field: func(c *Config) any { return &c.Output.Format }},
	{name: "output.fields", usage: "kept records keep only these fields, written as JSON (a leading - removes a field instead; $.a.b names nested members); empty: all, as they came",
		field: func(c *Config) any { return &c.Output.Fields }},
	{name: "output.compression", usage: "producer compression: none, gzip, snappy, lz4 or zstd (snappy: the cheapest in CPU that still saves most bytes; see docs/benchmarks.md)",
		field: func(c *Config) any { return &c.Output.Compression }},
	{name: "output.linger", usage: "how long the producer waits to fill a batch",
		field: func(c *Config) any { return &c.Output.Linger }},
	{name: "output.batch_max_bytes", usage: "largest produce batch",
		field: func(c *Config) any { return &c.Output.BatchMaxBytes }},
	{name: "output.shadow_topic", usage: "topic for the records rules.shadow_file judges differently from the live rules (JSON, both decisions); empty: none written",
		field: func(c *Config) any { return &c.Output.ShadowTopic }},
	{name: "output.shadow_max_per_sec", usage: "most records a second written to output.shadow_topic; the rest are counted (flowsieve_shadow_records_suppressed_total)",
		field: func(c *Config) any { return &c.Output.ShadowMaxPerSec }},

	{name: "rules.file", usage: "rule file, reloaded when it changes and on SIGHUP",
		field: func(c *Config) any { return &c.Rules.File }},
	{name: "rules.debounce", usage: "quiet time after a change to the rule file before reloading",
		field: func(c *Config) any { return &c.Rules.Debounce }},
	{name: "rules.shadow_file", usage: "candidate rule file: judges every record beside rules.file and decides nothing (metrics flowsieve_shadow_*); reloaded like it, and a load failure never touches the live rules or readiness; empty: none",
		field: func(c *Config) any { return &c.Rules.ShadowFile }},

	{name: "feeds.cache_dir", usage: "where the last good body of each pulled GlobalThreatFeed is kept, so a restart while a feed server is down starts with it; empty: no cache",
		field: func(c *Config) any { return &c.Feeds.CacheDir }},
	{name: "feeds.timeout", usage: "longest a feed pull may take, body included; a slower one fails and is retried with back-off",
		field: func(c *Config) any { return &c.Feeds.Timeout }},
	{name: "feeds.max_bytes", usage: "largest feed body accepted (after decompression); a larger one fails the pull",
		field: func(c *Config) any { return &c.Feeds.MaxBytes }},
	{name: "feeds.ca_file", usage: "PEM file of CA certificates trusted for https feeds, besides the system roots",
		field: func(c *Config) any { return &c.Feeds.CAFile }},
	{name: "feeds.secrets_dir", usage: "where feed header values from a secretKeyRef are read: DIR/NAME/KEY (mount each Secret at DIR/NAME); else $FEED_SECRET_NAME_KEY",
		field: func(c *Config) any { return &c.Feeds.SecretsDir }},
	{name: "feeds.configmaps_dir", usage: "where feed header values from a configMapKeyRef are read: DIR/NAME/KEY; else $FEED_CONFIGMAP_NAME_KEY",
		field: func(c *Config) any { return &c.Feeds.ConfigMapsDir }},

	{name: "metrics.listen", usage: "address for /metrics, /healthz and /readyz; empty disables",
		field: func(c *Config) any { return &c.Metrics.Listen }},
	{name: "metrics.summary_interval", usage: "period of the summary log line; 0 disables",
		field: func(c *Config) any { return &c.Metrics.SummaryInterval }},
	{name: "metrics.web_config_file", usage: "web config file securing the metrics listener (TLS, client certificates, basic auth), as Prometheus exporters' --web.config.file; empty serves plain HTTP",
		field: func(c *Config) any { return &c.Metrics.WebConfigFile }},
	{name: "metrics.pprof", usage: "also serve Go's /debug/pprof/ profiles on the metrics listener (behind its web config)",
		field: func(c *Config) any { return &c.Metrics.Pprof }},

	{name: "log.level", usage: "debug, info, warn or error",
		field: func(c *Config) any { return &c.Log.Level }},
	{name: "log.format", usage: "auto (console on a terminal, else json), json or console",
		field: func(c *Config) any { return &c.Log.Format }},

	{name: "embedded.listen", usage: "address of the embedded broker",
		field: func(c *Config) any { return &c.Embedded.Listen }},
	{name: "embedded.data_dir", usage: "where the embedded broker keeps its log segments",
		field: func(c *Config) any { return &c.Embedded.DataDir }},
	{name: "embedded.partitions", usage: "partitions of each topic the embedded broker creates",
		field: func(c *Config) any { return &c.Embedded.Partitions }},
	{name: "embedded.retention", usage: "how long the embedded broker keeps records",
		field: func(c *Config) any { return &c.Embedded.Retention }},
	{name: "embedded.retention_bytes", usage: "bytes the embedded broker keeps per partition; -1 unbounded",
		field: func(c *Config) any { return &c.Embedded.RetentionBytes }},
	{name: "embedded.tls_cert_file", usage: "PEM certificate the embedded broker serves TLS with (with embedded.tls_key_file)",
		field: func(c *Config) any { return &c.Embedded.TLSCertFile }},
	{name: "embedded.tls_key_file", usage: "PEM key of embedded.tls_cert_file",
		field: func(c *Config) any { return &c.Embedded.TLSKeyFile }},

	{name: "delivery", usage: "at_least_once, or exactly_once (Kafka transactions; readers use isolation.level=read_committed)",
		field: func(c *Config) any { return &c.Delivery }},
	{name: "transaction.id", usage: "exactly_once: transactional id; empty derives a unique one per process (a stable one per instance speeds recovery after a crash)",
		field: func(c *Config) any { return &c.Transaction.ID }},
	{name: "transaction.timeout", usage: "exactly_once: the broker aborts a transaction left open this long (a crashed member's outputs stay invisible until then)",
		field: func(c *Config) any { return &c.Transaction.Timeout }},
	{name: "transaction.max_records", usage: "exactly_once: most input records per transaction",
		field: func(c *Config) any { return &c.Transaction.MaxRecords }},
	{name: "transaction.interval", usage: "exactly_once: longest time a transaction gathers records before it commits",
		field: func(c *Config) any { return &c.Transaction.Interval }},
}

var keysByName = func() map[string]*key {
	m := make(map[string]*key, len(keys))
	for i := range keys {
		m[keys[i].name] = &keys[i]
	}
	return m
}()

// envName is the environment variable that sets a key:
// kafka.sasl.password -> FLOWSIEVE_KAFKA_SASL_PASSWORD.
func envName(key string) string {
	return envPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

const envPrefix = "FLOWSIEVE_"

var keysByEnv = func() map[string]string {
	m := make(map[string]string, len(keys))
	for _, k := range keys {
		m[envName(k.name)] = k.name
	}
	return m
}()

// Keys returns every key name, in declaration order.
func Keys() []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		out[i] = k.name
	}
	return out
}
