package config

import (
	"fmt"
	"net"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/flowsieve/flowsieve/rules"
)

// validate checks every value and every relation between values. It is the
// only place that does: Load calls it, nothing else re-checks.
func (c *Config) validate() []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}

	for i, b := range c.Kafka.Brokers {
		if err := checkHostPort(b, false); err != nil {
			bad("kafka.brokers", "item %d %q: %v", i, b, err)
		}
	}
	if strings.TrimSpace(c.Kafka.ClientID) == "" {
		bad("kafka.client_id", "%v", errNoValue)
	}
	if c.Kafka.ConnectTimeout < time.Second {
		bad("kafka.connect_timeout", "must be at least 1s, got %s", c.Kafka.ConnectTimeout)
	}
	t := c.Kafka.TLS
	if (t.CertFile == "") != (t.KeyFile == "") {
		bad("kafka.tls.cert_file", "kafka.tls.cert_file and kafka.tls.key_file go together")
	}
	if !t.Enabled && (t.CAFile != "" || t.CertFile != "" || t.ServerName != "" || t.InsecureSkipVerify) {
		bad("kafka.tls.enabled", "TLS settings are given but kafka.tls.enabled is false")
	}
	s := c.Kafka.SASL
	switch s.Mechanism {
	case "":
		if s.Username != "" || s.Password != "" || s.PasswordFile != "" {
			bad("kafka.sasl.mechanism", "SASL credentials are given but no mechanism (PLAIN, SCRAM-SHA-256, SCRAM-SHA-512)")
		}
	case "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
		if s.Username == "" {
			bad("kafka.sasl.username", "%v when kafka.sasl.mechanism is set", errNoValue)
		}
		if (s.Password == "") == (s.PasswordFile == "") {
			bad("kafka.sasl.password", "give exactly one of kafka.sasl.password and kafka.sasl.password_file")
		}
	default:
		bad("kafka.sasl.mechanism", "%q is not one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512", s.Mechanism)
	}

	in := c.Input
	var inputRE *regexp.Regexp
	switch {
	case len(in.Topics) > 0 && in.TopicRegex != "":
		bad("input.topic_regex", "set either input.topics or input.topic_regex, not both")
	case len(in.Topics) == 0 && in.TopicRegex == "":
		bad("input.topics", "no input: set input.topics or input.topic_regex")
	case in.TopicRegex != "":
		re, err := regexp.Compile(in.TopicRegex)
		if err != nil {
			bad("input.topic_regex", "%v", err)
		}
		inputRE = re
	}
	for i, tp := range in.Topics {
		if err := checkTopic(tp); err != nil {
			bad("input.topics", "item %d: %v", i, err)
		}
	}
	if strings.TrimSpace(in.Group) == "" {
		bad("input.group", "%v", errNoValue)
	}
	if in.StartOffset != "earliest" && in.StartOffset != "latest" {
		bad("input.start_offset", "%q is not earliest or latest", in.StartOffset)
	}
	if in.SessionTimeout < 6*time.Second || in.SessionTimeout > 30*time.Minute {
		bad("input.session_timeout", "must be between 6s and 30m (the brokers' usual limits), got %s", in.SessionTimeout)
	}
	if in.MaxInflightRecords < 1 {
		bad("input.max_inflight_records", "must be at least 1, got %d", in.MaxInflightRecords)
	}
	if in.MaxInflightBytes < 1024 {
		bad("input.max_inflight_bytes", "must be at least 1024, got %d", in.MaxInflightBytes)
	}
	if in.MaxRecordBytes < 1024 {
		bad("input.max_record_bytes", "must be at least 1024, got %d", in.MaxRecordBytes)
	}
	if in.MaxJSONMembers < 1 {
		bad("input.max_json_members", "must be at least 1, got %d", in.MaxJSONMembers)
	}
	if in.MaxJSONDepth < 1 || in.MaxJSONDepth > 512 {
		bad("input.max_json_depth", "must be between 1 and 512, got %d", in.MaxJSONDepth)
	}

	out := c.Output
	outputs := []struct{ key, topic string }{
		{"output.kept_topic", out.KeptTopic},
		{"output.threats_topic", out.ThreatsTopic},
		{"output.invalid_topic", out.InvalidTopic},
	}
	if out.ShadowTopic != "" {
		outputs = append(outputs, struct{ key, topic string }{"output.shadow_topic", out.ShadowTopic})
		if strings.TrimSpace(c.Rules.ShadowFile) == "" {
			bad("output.shadow_topic", "needs rules.shadow_file (the rules whose disagreements it receives)")
		}
	}
	if out.ShadowMaxPerSec < 1 {
		bad("output.shadow_max_per_sec", "must be at least 1, got %d", out.ShadowMaxPerSec)
	}
	for i, o := range outputs {
		if err := checkTopic(o.topic); err != nil {
			bad(o.key, "%v", err)
			continue
		}
		for _, earlier := range outputs[:i] {
			if earlier.topic == o.topic {
				bad(o.key, "%q is also %s: each output needs its own topic", o.topic, earlier.key)
			}
		}
		if slices.Contains(in.Topics, o.topic) || inputRE != nil && inputRE.MatchString(o.topic) {
			bad(o.key, "%q is also an input topic: the pipeline would read its own output", o.topic)
		}
	}
	if out.Format != "raw" && out.Format != "json" {
		bad("output.format", "%q is not raw or json", out.Format)
	}
	if len(out.Fields) > 0 {
		if _, err := rules.ParseFields(out.Fields); err != nil {
			bad("output.fields", "%v", strings.TrimPrefix(err.Error(), "fields: "))
		}
	}
	switch out.Compression {
	case "none", "gzip", "snappy", "lz4", "zstd":
	default:
		bad("output.compression", "%q is not one of none, gzip, snappy, lz4, zstd", out.Compression)
	}
	if out.Linger < 0 || out.Linger > time.Minute {
		bad("output.linger", "must be between 0 and 1m, got %s", out.Linger)
	}
	if out.BatchMaxBytes < 1024 || out.BatchMaxBytes > 64<<20 {
		bad("output.batch_max_bytes", "must be between 1024 and 67108864, got %d", out.BatchMaxBytes)
	}

	if strings.TrimSpace(c.Rules.File) == "" {
		bad("rules.file", "%v", errNoValue)
	}
	if c.Rules.ShadowFile != "" && c.Rules.ShadowFile == c.Rules.File {
		bad("rules.shadow_file", "is rules.file: the shadow rules would only agree")
	}
	if c.Rules.Debounce < 0 {
		bad("rules.debounce", "must not be negative, got %s", c.Rules.Debounce)
	}
	if c.Feeds.Timeout < time.Second {
		bad("feeds.timeout", "must be at least 1s, got %s", c.Feeds.Timeout)
	}
	if c.Feeds.MaxBytes < 1 {
		bad("feeds.max_bytes", "must be at least 1, got %d", c.Feeds.MaxBytes)
	}

	if c.Metrics.Listen != "" {
		if err := checkHostPort(c.Metrics.Listen, true); err != nil {
			bad("metrics.listen", "%q: %v", c.Metrics.Listen, err)
		}
	}
	if c.Metrics.Listen == "" {
		if c.Metrics.WebConfigFile != "" {
			bad("metrics.web_config_file", "set but metrics.listen is empty: there is no listener to secure")
		}
		if c.Metrics.Pprof {
			bad("metrics.pprof", "true but metrics.listen is empty: there is no listener to serve it")
		}
	}
	if c.Metrics.SummaryInterval < 0 {
		bad("metrics.summary_interval", "must not be negative, got %s", c.Metrics.SummaryInterval)
	}

	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "%q is not one of debug, info, warn, error", c.Log.Level)
	}
	switch c.Log.Format {
	case "auto", "json", "console":
	default:
		bad("log.format", "%q is not one of auto, json, console", c.Log.Format)
	}

	e := c.Embedded
	if err := checkHostPort(e.Listen, false); err != nil {
		bad("embedded.listen", "%q: %v", e.Listen, err)
	}
	if strings.TrimSpace(e.DataDir) == "" {
		bad("embedded.data_dir", "%v", errNoValue)
	}
	if e.Partitions < 1 || e.Partitions > 1000 {
		bad("embedded.partitions", "must be between 1 and 1000, got %d", e.Partitions)
	}
	if e.Retention < time.Minute {
		bad("embedded.retention", "must be at least 1m, got %s", e.Retention)
	}
	if (e.TLSCertFile == "") != (e.TLSKeyFile == "") {
		bad("embedded.tls_cert_file", "embedded.tls_cert_file and embedded.tls_key_file go together")
	}
	if e.TLSCertFile != "" && !c.Kafka.TLS.Enabled {
		bad("kafka.tls.enabled", "the embedded broker serves TLS (embedded.tls_cert_file) but kafka.tls.enabled is false")
	}

	switch c.Delivery {
	case "at_least_once", "exactly_once":
	default:
		bad("delivery", "%q is not at_least_once or exactly_once", c.Delivery)
	}
	tx := c.Transaction
	if tx.Timeout < time.Second || tx.Timeout > 15*time.Minute {
		bad("transaction.timeout", "must be between 1s and 15m (the brokers' usual limit), got %s", tx.Timeout)
	}
	if tx.MaxRecords < 1 {
		bad("transaction.max_records", "must be at least 1, got %d", tx.MaxRecords)
	}
	if tx.Interval < 0 || tx.Interval >= tx.Timeout {
		bad("transaction.interval", "must be between 0 and transaction.timeout (%s), got %s", tx.Timeout, tx.Interval)
	}
	if e.RetentionBytes != -1 && e.RetentionBytes < 1<<20 {
		bad("embedded.retention_bytes", "must be -1 (unbounded) or at least 1048576, got %d", e.RetentionBytes)
	}
	return errs
}

// checkHostPort accepts host:port; anyHost also allows an empty host
// (":9464", listen on every interface).
func checkHostPort(s string, anyHost bool) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("not host:port")
	}
	if host == "" && !anyHost {
		return fmt.Errorf("missing host")
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 || (n == 0 && !anyHost) {
		return fmt.Errorf("bad port %q", port)
	}
	return nil
}

var topicChars = regexp.MustCompile(`^[a-zA-Z0-9._-]+$`)

// checkTopic applies Kafka's rules for topic names.
func checkTopic(t string) error {
	switch {
	case t == "":
		return errNoValue
	case t == "." || t == "..":
		return fmt.Errorf("%q is not a valid topic name", t)
	case len(t) > 249:
		return fmt.Errorf("topic name longer than 249 characters")
	case !topicChars.MatchString(t):
		return fmt.Errorf("%q is not a valid topic name (letters, digits, '.', '_', '-')", t)
	}
	return nil
}
