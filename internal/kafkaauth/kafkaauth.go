// Package kafkaauth turns flowsieve's connection security settings (TLS,
// mutual TLS, SASL PLAIN and SCRAM) into franz-go client options, the ones
// every Kafka client of the process takes: the pipeline's consumer and
// producer, the admin look-ups, the demo generator and the end-to-end
// tests' clients. Errors name the configuration key at fault and never
// include a password.
package kafkaauth

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// Config is how a Kafka client authenticates and encrypts.
type Config struct {
	TLS  bool
	CA   string // PEM file of CAs to trust; "" trusts the system pool
	Cert string // PEM client certificate, with Key, for mutual TLS
	Key  string
	// ServerName is verified against the broker certificate; "" uses the
	// host of the address dialled.
	ServerName         string
	InsecureSkipVerify bool

	// Mechanism is PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512; "" disables SASL.
	Mechanism string
	Username  string
	// Password, or PasswordFile (read once here, trailing newline dropped).
	Password     string
	PasswordFile string
}

// ClientOpts turns s into client options. Errors name the setting at
// fault and never include the password.
func ClientOpts(s Config) ([]kgo.Opt, error) {
	var opts []kgo.Opt
	if s.TLS {
		cfg, err := s.TLSConfig()
		if err != nil {
			return nil, err
		}
		// kgo sets the server name per broker from the address dialled
		// when cfg leaves it empty.
		opts = append(opts, kgo.DialTLSConfig(cfg))
	}
	if s.Mechanism != "" {
		m, err := s.saslMechanism()
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.SASL(m))
	}
	return opts, nil
}

// TLSConfig is the client TLS configuration s describes.
func (s Config) TLSConfig() (*tls.Config, error) {
	cfg := &tls.Config{
		MinVersion:         tls.VersionTLS12,
		ServerName:         s.ServerName,
		InsecureSkipVerify: s.InsecureSkipVerify, //nolint:gosec // off by default; the operator's explicit choice
	}
	if s.CA != "" {
		pem, err := os.ReadFile(s.CA)
		if err != nil {
			return nil, fmt.Errorf("kafka.tls.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("kafka.tls.ca_file %s: no PEM certificate in it", s.CA)
		}
		cfg.RootCAs = pool
	}
	if s.Cert != "" || s.Key != "" {
		cert, err := tls.LoadX509KeyPair(s.Cert, s.Key)
		if err != nil {
			return nil, fmt.Errorf("kafka.tls.cert_file/key_file: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// SASLPassword returns the password, from the file when one is named.
func (s Config) SASLPassword() (string, error) {
	if s.PasswordFile == "" {
		return s.Password, nil
	}
	b, err := os.ReadFile(s.PasswordFile)
	if err != nil {
		return "", fmt.Errorf("kafka.sasl.password_file: %w", err)
	}
	pw := strings.TrimRight(string(b), "\r\n")
	if pw == "" {
		return "", fmt.Errorf("kafka.sasl.password_file %s is empty", s.PasswordFile)
	}
	return pw, nil
}

func (s Config) saslMechanism() (sasl.Mechanism, error) {
	if s.Username == "" {
		return nil, errors.New("kafka.sasl.username: required with a SASL mechanism")
	}
	pw, err := s.SASLPassword()
	if err != nil {
		return nil, err
	}
	switch s.Mechanism {
	case "PLAIN":
		return plain.Auth{User: s.Username, Pass: pw}.AsMechanism(), nil
	case "SCRAM-SHA-256":
		return scram.Auth{User: s.Username, Pass: pw}.AsSha256Mechanism(), nil
	case "SCRAM-SHA-512":
		return scram.Auth{User: s.Username, Pass: pw}.AsSha512Mechanism(), nil
	}
	return nil, fmt.Errorf("kafka.sasl.mechanism %q is not PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", s.Mechanism)
}
