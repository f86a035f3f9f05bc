package config

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func TestGoodFiles(t *testing.T) {
	files, err := filepath.Glob("testdata/*.good.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no good files: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			if _, err := Load(Sources{File: f}); err != nil {
				t.Fatalf("Load: %v", err)
			}
		})
	}
}

func TestFullFileValues(t *testing.T) {
	c, err := Load(Sources{File: "testdata/full.good.yaml"})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Kafka.Brokers, []string{"kafka-0.kafka:9092", "kafka-1.kafka:9092"}) {
		t.Errorf("brokers = %v", c.Kafka.Brokers)
	}
	if c.UseEmbedded() {
		t.Error("UseEmbedded with brokers set")
	}
	if c.Input.MaxInflightBytes != 8<<20 {
		t.Errorf("max_inflight_bytes = %d, want 8MiB", c.Input.MaxInflightBytes)
	}
	if c.Input.TopicRegex != `^flows\.raw\..*$` || len(c.Input.Topics) != 0 {
		t.Errorf("input = %+v", c.Input)
	}
	if len(c.Output.Fields) != 6 || c.Output.Fields[5] != "$.kubernetes.pod" {
		t.Errorf("output.fields: %q", c.Output.Fields)
	}
	if c.Output.Linger != 10*time.Millisecond || c.Rules.Debounce != time.Second {
		t.Errorf("durations: linger %s debounce %s", c.Output.Linger, c.Rules.Debounce)
	}
	if c.Metrics.WebConfigFile != "/etc/flowsieve/web/web.yml" || !c.Metrics.Pprof {
		t.Errorf("metrics = %+v", c.Metrics)
	}
	if c.Embedded.Partitions != 12 || c.Embedded.RetentionBytes != -1 {
		t.Errorf("embedded = %+v", c.Embedded)
	}
}

// expectedErrors pairs each bad file with text its error must contain: the
// key at fault, and what is wrong with it.
var expectedErrors = []struct {
	file string
	want []string
}{
	{"unknown_key.bad.yaml", []string{`unknown key "kafka.brokrs"`, `did you mean "kafka.brokers"`}},
	{"unknown_section.bad.yaml", []string{`unknown key "outputs.kept_topic"`}},
	{"bad_partitions.bad.yaml", []string{`embedded.partitions: "many" is not an integer`}},
	{"zero_partitions.bad.yaml", []string{"embedded.partitions: must be between 1 and 1000, got 0"}},
	{"bad_duration.bad.yaml", []string{"metrics.summary_interval: 10 is not a duration"}},
	{"both_inputs.bad.yaml", []string{"input.topic_regex: set either input.topics or input.topic_regex, not both"}},
	{"no_input.bad.yaml", []string{"input.topics: no input"}},
	{"output_is_input.bad.yaml", []string{`output.kept_topic: "flows.kept" is also an input topic`}},
	{"same_outputs.bad.yaml", []string{`output.threats_topic: "flows.out" is also output.kept_topic`}},
	{"bad_fields.bad.yaml", []string{`output.fields: unknown field "source_namespce" (for a member that is not a Calico field, write $.source_namespce`}},
	{"bad_format.bad.yaml", []string{`output.format: "xml" is not raw or json`, `output.compression: "brotli"`}},
	{"bad_broker.bad.yaml", []string{`kafka.brokers: item 0 "localhost": not host:port`}},
	{"sasl_no_user.bad.yaml", []string{"kafka.sasl.username: must not be empty"}},
	{"bad_mechanism.bad.yaml", []string{`kafka.sasl.mechanism: "GSSAPI" is not one of`}},
	{"list_for_scalar.bad.yaml", []string{"input.group: must be a single value, not a list"}},
	{"bad_topic_name.bad.yaml", []string{`output.kept_topic: "flows kept" is not a valid topic name`}},
	{"bad_regex.bad.yaml", []string{"input.topic_regex: error parsing regexp"}},
	{"bad_level.bad.yaml", []string{`log.level: "verbose" is not one of`}},
	{"not_yaml.bad.yaml", []string{"reading config file testdata/not_yaml.bad.yaml"}},
	{"bad_delivery.bad.yaml", []string{`delivery: "at_most_once" is not at_least_once or exactly_once`,
		"transaction.max_records: must be at least 1", "transaction.interval: must be between 0 and transaction.timeout"}},
	{"web_config_no_listener.bad.yaml", []string{"metrics.web_config_file: set but metrics.listen is empty",
		"metrics.pprof: true but metrics.listen is empty"}},
	{"bad_limits.bad.yaml", []string{"input.max_record_bytes: must be at least 1024, got 100",
		"input.max_json_members: must be at least 1, got 0", "input.max_json_depth: must be between 1 and 512, got 600"}},
}

func TestBadFiles(t *testing.T) {
	files, _ := filepath.Glob("testdata/*.bad.yaml")
	if len(files) != len(expectedErrors) {
		t.Errorf("%d bad files but %d expectations: every bad file needs an entry", len(files), len(expectedErrors))
	}
	for _, tc := range expectedErrors {
		t.Run(tc.file, func(t *testing.T) {
			_, err := Load(Sources{File: filepath.Join("testdata", tc.file)})
			if err == nil {
				t.Fatal("Load succeeded")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q\ndoes not contain %q", err, w)
				}
			}
		})
	}
}

func TestLayers(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "c.yaml")
	if err := os.WriteFile(path, []byte("input:\n  group: from-file\n  topics: [a, b]\nlog:\n  level: warn\nembedded:\n  partitions: 3\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name      string
		env       []string
		flags     []string
		group     string
		level     string
		parts     int
		topics    []string
		brokers   []string
		wantError string
	}{
		{name: "file only", group: "from-file", level: "warn", parts: 3, topics: []string{"a", "b"}},
		{name: "env over file", env: []string{"FLOWSIEVE_INPUT_GROUP=from-env", "FLOWSIEVE_EMBEDDED_PARTITIONS=9", "FLOWSIEVE_KAFKA_BROKERS=k1:9092,k2:9092", "HOME=/x"},
			group: "from-env", level: "warn", parts: 9, topics: []string{"a", "b"}, brokers: []string{"k1:9092", "k2:9092"}},
		{name: "flag over env", env: []string{"FLOWSIEVE_INPUT_GROUP=from-env"}, flags: []string{"--input.group=from-flag", "--input.topics=c", "--log.level=debug"},
			group: "from-flag", level: "debug", parts: 3, topics: []string{"c"}},
		{name: "unknown env", env: []string{"FLOWSIEVE_INPUT_GRUOP=x"}, wantError: "unknown variable FLOWSIEVE_INPUT_GRUOP"},
		{name: "kubernetes service links ignored", env: []string{"FLOWSIEVE_METRICS_SERVICE_HOST=10.0.0.9", "FLOWSIEVE_METRICS_SERVICE_PORT=9464",
			"FLOWSIEVE_METRICS_SERVICE_PORT_METRICS=9464", "FLOWSIEVE_METRICS_PORT=tcp://10.0.0.9:9464", "FLOWSIEVE_METRICS_PORT_9464_TCP=tcp://10.0.0.9:9464",
			"FLOWSIEVE_METRICS_PORT_9464_TCP_PROTO=tcp", "FLOWSIEVE_METRICS_PORT_9464_TCP_PORT=9464", "FLOWSIEVE_METRICS_PORT_9464_TCP_ADDR=10.0.0.9"},
			group: "from-file", level: "warn", parts: 3, topics: []string{"a", "b"}},
		{name: "unknown env near a service link", env: []string{"FLOWSIEVE_METRICS_SERVICE_HOSTS=x"}, wantError: "unknown variable FLOWSIEVE_METRICS_SERVICE_HOSTS"},
		{name: "bad env value", env: []string{"FLOWSIEVE_EMBEDDED_PARTITIONS=lots"}, wantError: `embedded.partitions: "lots" is not an integer`},
		{name: "bad flag value", flags: []string{"--output.linger=soon"}, wantError: `output.linger: "soon" is not a duration`},
		{name: "shadow topic without shadow rules", flags: []string{"--output.shadow_topic=flows.shadow"},
			wantError: "output.shadow_topic: needs rules.shadow_file"},
		{name: "shadow topic is an output", flags: []string{"--rules.shadow_file=c.yaml", "--output.shadow_topic=flows.kept"},
			wantError: `output.shadow_topic: "flows.kept" is also output.kept_topic`},
		{name: "shadow rate", env: []string{"FLOWSIEVE_OUTPUT_SHADOW_MAX_PER_SEC=0"}, wantError: "output.shadow_max_per_sec: must be at least 1, got 0"},
		{name: "shadow rules are the live ones", flags: []string{"--rules.shadow_file=rules.yaml"}, wantError: "rules.shadow_file: is rules.file"},
		{name: "shadow keys", flags: []string{"--rules.shadow_file=cand.yaml", "--output.shadow_topic=flows.shadow", "--output.shadow_max_per_sec=5"},
			group: "from-file", level: "warn", parts: 3, topics: []string{"a", "b"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
			RegisterFlags(fs)
			if err := fs.Parse(tc.flags); err != nil {
				t.Fatal(err)
			}
			c, err := Load(Sources{File: path, Environ: tc.env, Flags: fs})
			if tc.wantError != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantError) {
					t.Fatalf("error = %v, want it to contain %q", err, tc.wantError)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Input.Group != tc.group || c.Log.Level != tc.level || c.Embedded.Partitions != tc.parts ||
				!slices.Equal(c.Input.Topics, tc.topics) || !slices.Equal(c.Kafka.Brokers, tc.brokers) {
				t.Errorf("got group %q level %q partitions %d topics %v brokers %v", c.Input.Group, c.Log.Level, c.Embedded.Partitions, c.Input.Topics, c.Kafka.Brokers)
			}
		})
	}
}

func TestPrintMasksSecrets(t *testing.T) {
	c, err := Load(Sources{File: "testdata/full.good.yaml"})
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := c.Print(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if strings.Contains(out, "hunter2") {
		t.Errorf("password printed:\n%s", out)
	}
	// The web config holds paths and bcrypt hashes: its path is shown.
	for _, want := range []string{"password: '********'", "mechanism: SCRAM-SHA-512", "partitions: 12", "linger: 10ms",
		"web_config_file: /etc/flowsieve/web/web.yml", "pprof: true"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	// The printed config is itself a valid config file.
	path := filepath.Join(t.TempDir(), "printed.yaml")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(out, "'********'", "x")), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Load(Sources{File: path}); err != nil {
		t.Errorf("printed config does not load: %v", err)
	}
}

func TestEveryKeyHasFlagAndEnv(t *testing.T) {
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	RegisterFlags(fs)
	for _, k := range Keys() {
		if fs.Lookup(k) == nil {
			t.Errorf("no flag for %s", k)
		}
		if keysByEnv[envName(k)] != k {
			t.Errorf("env name %s does not map back to %s", envName(k), k)
		}
	}
}

func TestSampleConfig(t *testing.T) {
	c, err := Load(Sources{File: "flowsieve.yaml"})
	if err != nil {
		t.Fatal(err)
	}
	if !c.UseEmbedded() || c.Rules.File != "config/rules.yaml" {
		t.Errorf("sample config: embedded %v rules %q", c.UseEmbedded(), c.Rules.File)
	}
}
