// Package embedkafka runs a single-node Kafka-protocol broker (franz-go's
// kfake) inside the flowsieve process, for local use: `flowsieve run`
// starts one when no brokers are configured, and `flowsieve bench` measures
// the pipeline against one. It keeps its log segments in a data directory,
// so records and committed offsets survive a restart, and it applies a
// retention limit so that directory does not grow without bound.
//
// It is not a Kafka cluster: one node, no replication. Point flowsieve at a
// real cluster with kafka.brokers for anything that matters.
package embedkafka

import (
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
)

// Config describes the broker.
type Config struct {
	// Listen is host:port; port 0 picks a free port (see Broker.Addr).
	Listen string
	// DataDir holds the log segments and group offsets; "" keeps
	// everything in memory (tests).
	DataDir string
	// Topics are created, if missing, with Partitions partitions each.
	Topics     []string
	Partitions int
	// Retention and RetentionBytes (per partition; -1 unbounded) apply to
	// the created topics.
	Retention      time.Duration
	RetentionBytes int64
	// SyncWrites fsyncs every batch: slower, but a host crash loses
	// nothing acknowledged. A process crash loses nothing either way.
	SyncWrites bool
	// TLS, when set, makes the broker accept only TLS connections.
	TLS *tls.Config
	// Users, when any, turn SASL on: every client must authenticate as
	// one of them. They are superusers (no ACLs).
	Users []User
}

// User is a SASL user of the embedded broker.
type User struct {
	Mechanism string // PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512
	Name      string
	Password  string
}

// Broker is a running embedded broker.
type Broker struct {
	c    *kfake.Cluster
	addr string
}

// cleanerInterval is how often retention is enforced.
const cleanerInterval = time.Minute

// Start starts the broker and creates the topics. The caller must Close it.
func Start(cfg Config) (*Broker, error) {
	host, portStr, err := net.SplitHostPort(cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("embedded broker listen address %q: %w", cfg.Listen, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("embedded broker listen address %q: bad port", cfg.Listen)
	}
	opts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.Ports(port),
		kfake.DefaultNumPartitions(max(cfg.Partitions, 1)),
		// kfake binds 127.0.0.1; honour the configured host instead.
		kfake.ListenFn(func(network, address string) (net.Listener, error) {
			_, p, err := net.SplitHostPort(address)
			if err != nil {
				return nil, err
			}
			return net.Listen(network, net.JoinHostPort(host, p))
		}),
		kfake.BrokerConfigs(map[string]string{
			"log.cleaner.backoff.ms": strconv.FormatInt(cleanerInterval.Milliseconds(), 10),
		}),
	}
	if cfg.TLS != nil {
		opts = append(opts, kfake.TLS(cfg.TLS))
	}
	if len(cfg.Users) > 0 {
		opts = append(opts, kfake.EnableSASL())
		for _, u := range cfg.Users {
			opts = append(opts, kfake.Superuser(u.Mechanism, u.Name, u.Password))
		}
	}
	if cfg.DataDir != "" {
		if err := os.MkdirAll(cfg.DataDir, 0o755); err != nil {
			return nil, fmt.Errorf("embedded broker data directory: %w", err)
		}
		opts = append(opts, kfake.DataDir(cfg.DataDir))
		if cfg.SyncWrites {
			opts = append(opts, kfake.SyncWrites())
		}
	}
	c, err := kfake.NewCluster(opts...)
	if err != nil {
		if errors.Is(err, syscall.EADDRINUSE) {
			return nil, fmt.Errorf("embedded broker cannot listen on %s: the address is in use (another flowsieve or Kafka? set embedded.listen, or kafka.brokers to use that broker): %w", cfg.Listen, err)
		}
		return nil, fmt.Errorf("starting embedded broker on %s: %w", cfg.Listen, err)
	}
	b := &Broker{c: c, addr: c.ListenAddrs()[0]}
	if err := b.CreateTopics(cfg.Partitions, cfg.Retention, cfg.RetentionBytes, cfg.Topics...); err != nil {
		c.Close()
		return nil, err
	}
	return b, nil
}

// CreateTopics creates the topics that do not exist yet; existing topics
// (from the data directory) are left as they are.
func (b *Broker) CreateTopics(partitions int, retention time.Duration, retentionBytes int64, topics ...string) error {
	configs := map[string]string{}
	if retention > 0 {
		configs["retention.ms"] = strconv.FormatInt(retention.Milliseconds(), 10)
	}
	if retentionBytes != 0 {
		configs["retention.bytes"] = strconv.FormatInt(retentionBytes, 10)
	}
	for _, t := range topics {
		if b.c.TopicInfo(t) != nil {
			continue
		}
		if err := b.c.CreateTopic(t, int32(partitions), configs); err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			return fmt.Errorf("embedded broker: creating topic %s: %w", t, err)
		}
	}
	return nil
}

// Addr is the host:port clients connect to.
func (b *Broker) Addr() string { return b.addr }

// Cluster exposes the kfake cluster (tests inject faults through it).
func (b *Broker) Cluster() *kfake.Cluster { return b.c }

// Close stops the broker, flushing its data directory.
func (b *Broker) Close() { b.c.Close() }
