package deploy

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"
	"sigs.k8s.io/yaml"

	"github.com/flowsieve/flowsieve/config"
)

// loadCompose loads docker-compose.yml, and then the override files
// given (as `docker compose -f docker-compose.yml -f FILE` does), the way
// `docker compose` does (schema validation, interpolation, normalisation,
// consistency checks), with an empty environment so the host's variables
// cannot change it.
func loadCompose(t *testing.T, overrides ...string) *types.Project {
	t.Helper()
	files := []string{filepath.Join(repoRoot, "docker-compose.yml")}
	for _, o := range overrides {
		files = append(files, filepath.Join(repoRoot, o))
	}
	opts, err := cli.NewProjectOptions(
		files,
		cli.WithWorkingDirectory(repoRoot),
		cli.WithInterpolation(true),
		cli.WithNormalization(true),
		cli.WithConsistency(true),
		cli.WithResolvedPaths(true),
	)
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("%v: %v", files, err)
	}
	return p
}

func env(t *testing.T, s types.ServiceConfig, name string) string {
	t.Helper()
	v, ok := s.Environment[name]
	if !ok || v == nil {
		t.Fatalf("service %s: no environment variable %s", s.Name, name)
	}
	return *v
}

// bindMount returns the service's bind mount at target, or fails.
func bindMount(t *testing.T, s types.ServiceConfig, target string) types.ServiceVolumeConfig {
	t.Helper()
	for _, v := range s.Volumes {
		if v.Target == target {
			if v.Type != types.VolumeTypeBind {
				t.Fatalf("service %s: %s is a %s mount, want bind", s.Name, target, v.Type)
			}
			return v
		}
	}
	t.Fatalf("service %s: nothing mounted at %s", s.Name, target)
	return types.ServiceVolumeConfig{}
}

// hostPath maps a path inside a service's container to the host through
// its bind mounts ("" when no mount holds it).
func hostPath(s types.ServiceConfig, inContainer string) string {
	best := types.ServiceVolumeConfig{}
	for _, v := range s.Volumes {
		if v.Type != types.VolumeTypeBind {
			continue
		}
		if (inContainer == v.Target || strings.HasPrefix(inContainer, v.Target+"/")) && len(v.Target) > len(best.Target) {
			best = v
		}
	}
	if best.Target == "" {
		return ""
	}
	return filepath.Join(best.Source, strings.TrimPrefix(inContainer, best.Target))
}

func publishes(s types.ServiceConfig, port string) bool {
	for _, p := range s.Ports {
		if p.Published == port {
			return true
		}
	}
	return false
}

func dependsOn(t *testing.T, s types.ServiceConfig, on, condition string) {
	t.Helper()
	d, ok := s.DependsOn[on]
	if !ok || d.Condition != condition {
		t.Errorf("service %s: depends_on %s %+v, want condition %s", s.Name, on, d, condition)
	}
}

// kafkaListeners reads the kafka service's listener settings: name ->
// host:port advertised, and the names it binds.
func kafkaListeners(t *testing.T, kafka types.ServiceConfig) (advertised map[string]string, bound []string) {
	t.Helper()
	advertised = map[string]string{}
	for _, l := range strings.Split(env(t, kafka, "KAFKA_ADVERTISED_LISTENERS"), ",") {
		name, addr, ok := strings.Cut(l, "://")
		if !ok {
			t.Fatalf("KAFKA_ADVERTISED_LISTENERS item %q", l)
		}
		advertised[name] = addr
	}
	protocols := map[string]bool{}
	for _, m := range strings.Split(env(t, kafka, "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP"), ",") {
		name, _, _ := strings.Cut(m, ":")
		protocols[name] = true
	}
	for _, l := range strings.Split(env(t, kafka, "KAFKA_LISTENERS"), ",") {
		name, _, _ := strings.Cut(l, "://")
		bound = append(bound, name)
		if !protocols[name] {
			t.Errorf("listener %s has no KAFKA_LISTENER_SECURITY_PROTOCOL_MAP entry", name)
		}
	}
	for name := range advertised {
		if !slices.Contains(bound, name) {
			t.Errorf("advertised listener %s is not in KAFKA_LISTENERS", name)
		}
	}
	return advertised, bound
}

func TestComposeFile(t *testing.T) {
	p := loadCompose(t)

	wantServices := []string{"feeds", "flowsieve", "gen", "grafana", "kafka", "kafka-init", "prometheus"}
	if got := p.ServiceNames(); !slices.Equal(slices.Sorted(slices.Values(got)), wantServices) {
		t.Fatalf("services %v, want %v", got, wantServices)
	}
	if got := slices.Sorted(func(yield func(string) bool) {
		for name := range p.Volumes {
			if !yield(name) {
				return
			}
		}
	}); !slices.Equal(got, []string{"grafana-data", "prometheus-data"}) {
		t.Errorf("volumes %v, want grafana-data and prometheus-data", got)
	}

	// Every bind-mounted host path exists: `docker compose up` would
	// otherwise create an empty directory in its place and start the
	// service without its config.
	for _, s := range p.Services {
		for _, v := range s.Volumes {
			if v.Type != types.VolumeTypeBind {
				continue
			}
			if _, err := os.Stat(v.Source); err != nil {
				t.Errorf("service %s mounts %s, which does not exist: %v", s.Name, v.Source, err)
			}
			if !v.ReadOnly {
				t.Errorf("service %s: bind mount %s is writable; the containers only read the repository's files", s.Name, v.Source)
			}
		}
	}

	kafka := p.Services["kafka"]
	if !strings.HasPrefix(kafka.Image, "apache/kafka:") {
		t.Errorf("kafka image %q, want the official apache/kafka", kafka.Image)
	}
	if roles := env(t, kafka, "KAFKA_PROCESS_ROLES"); roles != "broker,controller" {
		t.Errorf("KAFKA_PROCESS_ROLES %q: want one KRaft node, broker and controller", roles)
	}
	if env(t, kafka, "CLUSTER_ID") == "" {
		t.Error("KRaft needs CLUSTER_ID")
	}
	advertised, _ := kafkaListeners(t, kafka)
	internal := advertised[env(t, kafka, "KAFKA_INTER_BROKER_LISTENER_NAME")]
	if host, _, _ := net.SplitHostPort(internal); host != "kafka" {
		t.Errorf("inter-broker listener advertises %q; containers reach the broker as kafka:PORT", internal)
	}
	hostReachable := false
	for _, addr := range advertised {
		host, port, _ := net.SplitHostPort(addr)
		if host == "localhost" && publishes(kafka, port) {
			hostReachable = true
		}
	}
	if !hostReachable {
		t.Errorf("no advertised listener is localhost:PORT with PORT published: the host cannot reach Kafka (%v)", advertised)
	}
	if kafka.HealthCheck == nil || len(kafka.HealthCheck.Test) == 0 {
		t.Error("kafka has no healthcheck; kafka-init would start before the broker answers")
	}

	// The flowsieve service's config, as flowsieve itself loads it: the
	// sample config file through the mount, then the service's environment.
	fs := p.Services["flowsieve"]
	if fs.Build == nil || fs.Build.Context != repoRoot {
		t.Errorf("flowsieve build %+v, want the repository's Dockerfile", fs.Build)
	}
	if len(fs.Command) != 3 || fs.Command[0] != "run" || fs.Command[1] != "--config" {
		t.Fatalf("flowsieve command %q, want run --config FILE", fs.Command)
	}
	cfgMount := bindMount(t, fs, "/etc/flowsieve")
	if cfgMount.Source != filepath.Join(repoRoot, "config") {
		t.Errorf("flowsieve mounts %s at /etc/flowsieve, want the repository's config directory (hot reload of the rules)", cfgMount.Source)
	}
	var environ []string
	for k, v := range fs.Environment {
		environ = append(environ, k+"="+*v)
	}
	cfgFile := hostPath(fs, fs.Command[2])
	cfg, err := config.Load(config.Sources{File: cfgFile, Environ: environ})
	if err != nil {
		t.Fatalf("flowsieve's config in compose does not load: %v", err)
	}
	if cfg.UseEmbedded() {
		t.Error("flowsieve in compose would start its embedded broker: set kafka.brokers")
	}
	if !slices.Equal(cfg.Kafka.Brokers, []string{internal}) {
		t.Errorf("flowsieve brokers %v, want the broker's container listener %s", cfg.Kafka.Brokers, internal)
	}
	if rf := hostPath(fs, cfg.Rules.File); rf == "" {
		t.Errorf("rules.file %s is not in a mounted directory", cfg.Rules.File)
	} else if _, err := os.Stat(rf); err != nil {
		t.Errorf("rules.file %s (%s on the host): %v", cfg.Rules.File, rf, err)
	}
	_, metricsPort, err := net.SplitHostPort(cfg.Metrics.Listen)
	if err != nil {
		t.Fatalf("metrics.listen %q: %v", cfg.Metrics.Listen, err)
	}
	if host, _, _ := net.SplitHostPort(cfg.Metrics.Listen); host != "" && host != "0.0.0.0" {
		t.Errorf("metrics.listen %q: Prometheus, in another container, cannot reach a loopback address", cfg.Metrics.Listen)
	}
	dependsOn(t, fs, "kafka-init", types.ServiceConditionCompletedSuccessfully)

	// kafka-init creates every topic flowsieve reads and writes, each with
	// partitions and retention.
	initSvc := p.Services["kafka-init"]
	dependsOn(t, initSvc, "kafka", types.ServiceConditionHealthy)
	script := strings.Join(initSvc.Command, "\n")
	for _, topic := range append(slices.Clone(cfg.Input.Topics), cfg.Output.KeptTopic, cfg.Output.ThreatsTopic, cfg.Output.InvalidTopic) {
		re := regexp.MustCompile(`(?m)^\s*create ` + regexp.QuoteMeta(topic) + `\s+(\d+)\s+(\d+)\s+(\d+)\s*$`)
		if !re.MatchString(script) {
			t.Errorf("kafka-init does not create topic %s with partitions and retention", topic)
		}
	}
	for _, flag := range []string{"--partitions", "retention.ms", "--bootstrap-server kafka:19092"} {
		if !strings.Contains(script, flag) {
			t.Errorf("kafka-init's script has no %s", flag)
		}
	}
	if !strings.Contains(script, internal) {
		t.Errorf("kafka-init does not talk to %s", internal)
	}

	// The generator writes to flowsieve's input topic, through the broker's
	// container listener, until stopped, to threat-feed addresses that
	// exist in its mounted copy of config/.
	gen := p.Services["gen"]
	dependsOn(t, gen, "kafka-init", types.ServiceConditionCompletedSuccessfully)
	flags := genFlags(t, gen.Command)
	if flags["brokers"] != internal || flags["topic"] != cfg.Input.Topics[0] || flags["rate"] == "" || flags["count"] != "0" {
		t.Errorf("gen command %q: want --brokers=%s --topic=%s --rate=R --count=0", gen.Command, internal, cfg.Input.Topics[0])
	}
	if f := flags["threat-ips"]; f != "" {
		if hp := hostPath(gen, f); hp == "" {
			t.Errorf("gen --threat-ips %s is not in a mounted directory", f)
		} else if _, err := os.Stat(hp); err != nil {
			t.Errorf("gen --threat-ips %s: %v", f, err)
		}
	}

	// Prometheus scrapes flowsieve's metrics port and loads the alerts.
	prom := p.Services["prometheus"]
	promCfgPath := ""
	for _, a := range prom.Command {
		if v, ok := strings.CutPrefix(a, "--config.file="); ok {
			promCfgPath = hostPath(prom, v)
		}
	}
	if promCfgPath == "" {
		t.Fatal("prometheus: --config.file is not in a mounted directory")
	}
	pc := readPrometheusConfig(t, promCfgPath)
	if !slices.Contains(pc.targets(), net.JoinHostPort("flowsieve", metricsPort)) {
		t.Errorf("prometheus scrapes %v, want flowsieve:%s", pc.targets(), metricsPort)
	}
	for _, rf := range pc.RuleFiles {
		if _, err := os.Stat(filepath.Join(filepath.Dir(promCfgPath), rf)); err != nil {
			t.Errorf("prometheus rule_files %s: %v", rf, err)
		}
	}
	if !slices.Contains(pc.RuleFiles, "alerts.yml") {
		t.Errorf("prometheus rule_files %v do not load alerts.yml", pc.RuleFiles)
	}

	// Grafana: the data source points at the prometheus service and the
	// dashboard provider at the directory the dashboard is mounted in.
	graf := p.Services["grafana"]
	prov := hostPath(graf, "/etc/grafana/provisioning")
	if prov == "" {
		t.Fatal("grafana: /etc/grafana/provisioning is not mounted")
	}
	var ds struct {
		APIVersion  int `json:"apiVersion"`
		Datasources []struct {
			Name, UID, Type, Access, URL string
			IsDefault                    bool           `json:"isDefault"`
			Editable                     bool           `json:"editable"`
			JSONData                     map[string]any `json:"jsonData"`
		} `json:"datasources"`
	}
	readYAMLStrict(t, filepath.Join(prov, "datasources", "prometheus.yml"), &ds)
	if len(ds.Datasources) != 1 || ds.Datasources[0].Type != "prometheus" || ds.Datasources[0].URL != "http://prometheus:9090" || !ds.Datasources[0].IsDefault {
		t.Errorf("grafana data sources %+v, want the default one, prometheus at http://prometheus:9090", ds.Datasources)
	}
	if !publishes(prom, "9090") {
		t.Error("prometheus does not publish 9090")
	}
	var dp struct {
		APIVersion int `json:"apiVersion"`
		Providers  []struct {
			Name                  string `json:"name"`
			Folder                string `json:"folder"`
			Type                  string `json:"type"`
			DisableDeletion       bool   `json:"disableDeletion"`
			AllowUIUpdates        bool   `json:"allowUiUpdates"`
			UpdateIntervalSeconds int    `json:"updateIntervalSeconds"`
			Options               struct {
				Path                      string `json:"path"`
				FoldersFromFilesStructure bool   `json:"foldersFromFilesStructure"`
			} `json:"options"`
		} `json:"providers"`
	}
	readYAMLStrict(t, filepath.Join(prov, "dashboards", "flowsieve.yml"), &dp)
	if len(dp.Providers) != 1 {
		t.Fatalf("grafana dashboard providers %+v, want one", dp.Providers)
	}
	dash := hostPath(graf, filepath.Join(dp.Providers[0].Options.Path, "flowsieve.json"))
	if dash != filepath.Join(repoRoot, "deploy", "grafana", "flowsieve.json") {
		t.Errorf("grafana's dashboard directory %s holds %q, want deploy/grafana/flowsieve.json", dp.Providers[0].Options.Path, dash)
	}
	if home := env(t, graf, "GF_DASHBOARDS_DEFAULT_HOME_DASHBOARD_PATH"); hostPath(graf, home) != dash {
		t.Errorf("grafana home dashboard %s is not the flowsieve dashboard", home)
	}
	for name, port := range map[string]string{"flowsieve": metricsPort, "grafana": "3000", "kafka": "9092"} {
		if !publishes(p.Services[name], port) {
			t.Errorf("%s does not publish port %s to the host", name, port)
		}
	}
}

// genFlags reads a `flowsieve gen` command line written as --flag=value.
func genFlags(t *testing.T, cmd types.ShellCommand) map[string]string {
	t.Helper()
	if len(cmd) == 0 || cmd[0] != "gen" {
		t.Fatalf("gen command %q does not start with gen", cmd)
	}
	flags := map[string]string{}
	for _, a := range cmd[1:] {
		name, value, ok := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if !ok || !strings.HasPrefix(a, "--") {
			t.Fatalf("gen argument %q: write flags as --name=value", a)
		}
		flags[name] = value
	}
	return flags
}

// prometheusConfig is the part of Prometheus' config file the compose stack
// uses; decoding it strictly catches a misspelt key, which Prometheus
// itself would refuse at start.
type prometheusConfig struct {
	prometheusConfigBase
	ScrapeConfigs []struct {
		JobName       string `json:"job_name"`
		MetricsPath   string `json:"metrics_path"`
		StaticConfigs []struct {
			Targets []string `json:"targets"`
		} `json:"static_configs"`
	} `json:"scrape_configs"`
}

// prometheusConfigBase is what both Prometheus configs have besides their
// scrape configs.
type prometheusConfigBase struct {
	Global struct {
		ScrapeInterval     string `json:"scrape_interval"`
		EvaluationInterval string `json:"evaluation_interval"`
	} `json:"global"`
	RuleFiles []string `json:"rule_files"`
}

func (c prometheusConfig) targets() []string {
	var out []string
	for _, sc := range c.ScrapeConfigs {
		for _, st := range sc.StaticConfigs {
			out = append(out, st.Targets...)
		}
	}
	return out
}

func readPrometheusConfig(t *testing.T, path string) prometheusConfig {
	t.Helper()
	var c prometheusConfig
	readYAMLStrict(t, path, &c)
	return c
}

// readYAMLStrict decodes a YAML file into v, failing on unknown or
// duplicate keys.
func readYAMLStrict(t *testing.T, path string, v any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.UnmarshalStrict(data, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// TestComposeGoldmaneProfile: `docker compose --profile goldmane up` adds
// the stand-in Goldmane and the ingester, which reads the certificates the
// fake writes, from the volume it shares, and produces to flowsieve's
// input topic through the broker's container listener.
func TestComposeGoldmaneProfile(t *testing.T) {
	base := loadCompose(t)
	for _, name := range []string{"goldmane-fake", "ingest-goldmane"} {
		if _, ok := base.Services[name]; ok {
			t.Errorf("service %s runs without --profile goldmane", name)
		}
	}
	opts, err := cli.NewProjectOptions(
		[]string{filepath.Join(repoRoot, "docker-compose.yml")},
		cli.WithWorkingDirectory(repoRoot), cli.WithInterpolation(true), cli.WithNormalization(true),
		cli.WithConsistency(true), cli.WithResolvedPaths(true), cli.WithProfiles([]string{"goldmane"}),
	)
	if err != nil {
		t.Fatal(err)
	}
	p, err := opts.LoadProject(context.Background())
	if err != nil {
		t.Fatalf("docker-compose.yml with --profile goldmane: %v", err)
	}
	fake, ok := p.Services["goldmane-fake"]
	if !ok {
		t.Fatal("no goldmane-fake service in the goldmane profile")
	}
	in, ok := p.Services["ingest-goldmane"]
	if !ok {
		t.Fatal("no ingest-goldmane service in the goldmane profile")
	}
	flags := func(s types.ServiceConfig, want ...string) map[string]string {
		t.Helper()
		if len(s.Command) < len(want) || !slices.Equal(s.Command[:len(want)], want) {
			t.Fatalf("service %s command %q, want %q ...", s.Name, s.Command, want)
		}
		m := map[string]string{}
		for _, a := range s.Command[len(want):] {
			k, v, _ := strings.Cut(a, "=")
			m[k] = v
		}
		return m
	}
	ff := flags(fake, "ingest", "goldmane-fake")
	inf := flags(in, "ingest", "goldmane")
	if len(fake.Volumes) != 1 || fake.Volumes[0].Type != types.VolumeTypeVolume || !strings.HasPrefix(ff["--certs"], fake.Volumes[0].Target+"/") {
		t.Errorf("goldmane-fake writes its certificates to %s, which is not in its one volume %+v", ff["--certs"], fake.Volumes)
	}
	if !slices.Equal(in.VolumesFrom, []string{"goldmane-fake:ro"}) {
		t.Errorf("ingest-goldmane volumes_from %v, want [goldmane-fake:ro]", in.VolumesFrom)
	}
	for flag, file := range map[string]string{"--ca": "ca.crt", "--cert": "client.crt", "--key": "client.key"} {
		if inf[flag] != ff["--certs"]+"/"+file {
			t.Errorf("ingest-goldmane %s=%s, want the fake's %s/%s", flag, inf[flag], ff["--certs"], file)
		}
	}
	_, fakePort, _ := net.SplitHostPort(ff["--listen"])
	if inf["--goldmane"] != "goldmane-fake:"+fakePort {
		t.Errorf("ingest-goldmane --goldmane=%s, want goldmane-fake:%s", inf["--goldmane"], fakePort)
	}
	// The fake's server certificate names "goldmane" (goldmanefake.NewCerts).
	if inf["--server-name"] != "goldmane" {
		t.Errorf("--server-name=%s: the fake's certificate is for goldmane", inf["--server-name"])
	}
	advertised, _ := kafkaListeners(t, p.Services["kafka"])
	internal := advertised[env(t, p.Services["kafka"], "KAFKA_INTER_BROKER_LISTENER_NAME")]
	if inf["--brokers"] != internal {
		t.Errorf("ingest-goldmane --brokers=%s, want %s", inf["--brokers"], internal)
	}
	fs := p.Services["flowsieve"]
	var environ []string
	for k, v := range fs.Environment {
		environ = append(environ, k+"="+*v)
	}
	cfg, err := config.Load(config.Sources{File: hostPath(fs, fs.Command[2]), Environ: environ})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(cfg.Input.Topics, inf["--topic"]) {
		t.Errorf("ingest-goldmane produces to %s, which flowsieve does not read (%v)", inf["--topic"], cfg.Input.Topics)
	}
	dependsOn(t, in, "kafka-init", types.ServiceConditionCompletedSuccessfully)
	_, metricsPort, _ := net.SplitHostPort(inf["--metrics-listen"])
	if !publishes(in, metricsPort) {
		t.Errorf("ingest-goldmane does not publish its metrics port %s", metricsPort)
	}
}
