package kafkaauth

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestClientOpts(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pw := write("pw", "s3cret\n")
	empty := write("empty", "\n")
	notPEM := write("ca.txt", "not a certificate")
	for _, tc := range []struct {
		name    string
		s       Config
		opts    int
		wantErr string
	}{
		{name: "nothing", s: Config{}, opts: 0},
		{name: "tls system roots", s: Config{TLS: true}, opts: 1},
		{name: "scram password", s: Config{Mechanism: "SCRAM-SHA-512", Username: "u", Password: "p"}, opts: 1},
		{name: "plain password file", s: Config{Mechanism: "PLAIN", Username: "u", PasswordFile: pw}, opts: 1},
		{name: "tls and sasl", s: Config{TLS: true, Mechanism: "SCRAM-SHA-256", Username: "u", Password: "p"}, opts: 2},
		{name: "unknown mechanism", s: Config{Mechanism: "GSSAPI", Username: "u", Password: "p"}, wantErr: `"GSSAPI" is not PLAIN`},
		{name: "no user", s: Config{Mechanism: "PLAIN", Password: "p"}, wantErr: "kafka.sasl.username"},
		{name: "missing password file", s: Config{Mechanism: "PLAIN", Username: "u", PasswordFile: filepath.Join(dir, "nope")}, wantErr: "kafka.sasl.password_file"},
		{name: "empty password file", s: Config{Mechanism: "PLAIN", Username: "u", PasswordFile: empty}, wantErr: "is empty"},
		{name: "CA not PEM", s: Config{TLS: true, CA: notPEM}, wantErr: "no PEM certificate"},
		{name: "missing CA", s: Config{TLS: true, CA: filepath.Join(dir, "nope.pem")}, wantErr: "kafka.tls.ca_file"},
		{name: "bad key pair", s: Config{TLS: true, Cert: notPEM, Key: notPEM}, wantErr: "kafka.tls.cert_file/key_file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			opts, err := ClientOpts(tc.s)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "s3cret") {
					t.Errorf("error shows the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(opts) != tc.opts {
				t.Errorf("%d options, want %d", len(opts), tc.opts)
			}
		})
	}
}

func TestSASLPasswordFromFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "pw")
	if err := os.WriteFile(p, []byte("pa ss\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := Config{PasswordFile: p, Password: "ignored"}.SASLPassword()
	if err != nil || got != "pa ss" {
		t.Fatalf("got %q, %v; want the file's line without its line ending", got, err)
	}
}
