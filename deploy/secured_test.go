package deploy

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/compose-spec/compose-go/v2/types"
	config_util "github.com/prometheus/common/config"
	"golang.org/x/crypto/bcrypt"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
	"sigs.k8s.io/yaml"

	"github.com/flowsieve/flowsieve/processor"
)

// The secured form of the metrics listener (docs/operations.md, "Securing
// the metrics listener") shares one web configuration between compose and
// Kubernetes, and one certificate generator.
var (
	webConfigFile = filepath.Join(repoRoot, "deploy", "web", "web.yml")
	gencertsDir   = filepath.Join(repoRoot, "deploy", "web", "gencerts")
)

// gencerts runs deploy/web/gencerts with args (its flags but -dir) into a
// new directory and returns the directory.
func gencerts(t *testing.T, args ...string) string {
	t.Helper()
	dir := t.TempDir()
	cmd := exec.Command("go", append([]string{"run", ".", "-dir", dir}, args...)...)
	cmd.Dir = gencertsDir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go run gencerts %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return dir
}

// webUsers returns web.yml's basic-auth users and their bcrypt hashes.
func webUsers(t *testing.T, webYML []byte) map[string]string {
	t.Helper()
	var c struct {
		Users map[string]string `json:"basic_auth_users"`
	}
	if err := yaml.Unmarshal(webYML, &c); err != nil {
		t.Fatal(err)
	}
	return c.Users
}

// checkPassword fails unless web.yml lets user in with password.
func checkPassword(t *testing.T, what string, users map[string]string, user, password string) {
	t.Helper()
	hash, ok := users[user]
	if !ok {
		t.Errorf("%s logs in as %q, which web.yml does not know", what, user)
		return
	}
	if err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(password)); err != nil {
		t.Errorf("%s: the password for %q does not match web.yml's hash: %v", what, user, err)
	}
}

// layOut copies the files into root as a container sees them: each
// container path gets the content of the host file it maps to.
func layOut(t *testing.T, root string, files map[string]string) func(string) string {
	t.Helper()
	for inContainer, host := range files {
		data, err := os.ReadFile(host)
		if err != nil {
			t.Fatal(err)
		}
		local := filepath.Join(root, inContainer)
		if err := os.MkdirAll(filepath.Dir(local), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(local, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return func(inContainer string) string { return filepath.Join(root, inContainer) }
}

// TestComposeSecured: docker-compose.secured.yml over docker-compose.yml
// makes the certificates, serves flowsieve's metrics with deploy/web/web.yml,
// and has Prometheus scrape it with prometheus-secured.yml. The test runs
// the compose file's own gencerts command and the binary the Dockerfile
// builds with the files laid out as in the containers, and scrapes it with
// the HTTP client Prometheus builds from that scrape config.
func TestComposeSecured(t *testing.T) {
	p := loadCompose(t, "docker-compose.secured.yml")
	if _, ok := p.Volumes["metrics-tls"]; !ok {
		t.Fatal("no metrics-tls volume")
	}
	volumeAt := func(s types.ServiceConfig, target string) {
		t.Helper()
		for _, v := range s.Volumes {
			if v.Target == target && v.Type == types.VolumeTypeVolume && v.Source == "metrics-tls" {
				return
			}
		}
		t.Errorf("service %s does not mount the metrics-tls volume at %s", s.Name, target)
	}

	// metrics-certs: gencerts into the volume; the same command here.
	certs := p.Services["metrics-certs"]
	if hostPath(certs, certs.WorkingDir) != gencertsDir {
		t.Errorf("metrics-certs runs in %s, which is not deploy/web/gencerts", certs.WorkingDir)
	}
	cmd := certs.Command
	if len(cmd) < 3 || cmd[0] != "go" || cmd[1] != "run" || cmd[2] != "." {
		t.Fatalf("metrics-certs command %q, want go run . FLAGS", cmd)
	}
	var args []string
	tlsDir := ""
	for i := 3; i < len(cmd); i++ {
		if cmd[i] == "-dir" && i+1 < len(cmd) {
			tlsDir = cmd[i+1]
			i++
			continue
		}
		args = append(args, cmd[i])
	}
	volumeAt(certs, tlsDir)
	generated := gencerts(t, args...)

	fs := p.Services["flowsieve"]
	dependsOn(t, fs, "metrics-certs", types.ServiceConditionCompletedSuccessfully)
	webFile := env(t, fs, "FLOWSIEVE_METRICS_WEB_CONFIG_FILE")
	if hostPath(fs, webFile) != webConfigFile {
		t.Fatalf("FLOWSIEVE_METRICS_WEB_CONFIG_FILE %s is not deploy/web/web.yml through a mount", webFile)
	}
	const tlsInFlowsieve = "/etc/flowsieve-tls"
	volumeAt(fs, tlsInFlowsieve)

	prom := p.Services["prometheus"]
	dependsOn(t, prom, "metrics-certs", types.ServiceConditionCompletedSuccessfully)
	promCfgPath := ""
	for _, a := range prom.Command {
		if v, ok := strings.CutPrefix(a, "--config.file="); ok {
			promCfgPath = hostPath(prom, v)
		}
	}
	if promCfgPath != filepath.Join(repoRoot, "deploy", "prometheus", "prometheus-secured.yml") {
		t.Fatalf("prometheus reads %q, want deploy/prometheus/prometheus-secured.yml", promCfgPath)
	}
	// Decoded strictly, the scrape job's HTTP settings into Prometheus'
	// own type, and checked by its Validate as Prometheus does at load.
	var pc struct {
		prometheusConfigBase
		ScrapeConfigs []struct {
			JobName       string `json:"job_name"`
			MetricsPath   string `json:"metrics_path"`
			Scheme        string `json:"scheme"`
			StaticConfigs []struct {
				Targets []string `json:"targets"`
			} `json:"static_configs"`
			config_util.HTTPClientConfig
		} `json:"scrape_configs"`
	}
	readYAMLStrict(t, promCfgPath, &pc)
	if len(pc.ScrapeConfigs) != 1 {
		t.Fatalf("prometheus-secured.yml: %d scrape configs, want flowsieve's", len(pc.ScrapeConfigs))
	}
	job := pc.ScrapeConfigs[0]
	if job.JobName != "flowsieve" || job.Scheme != "https" || job.MetricsPath != "/metrics" ||
		len(job.StaticConfigs) != 1 || !slices.Equal(job.StaticConfigs[0].Targets, []string{"flowsieve:9464"}) {
		t.Fatalf("prometheus-secured.yml: job %+v, want flowsieve, https, /metrics, flowsieve:9464", job)
	}
	if err := job.HTTPClientConfig.Validate(); err != nil {
		t.Fatalf("prometheus-secured.yml: %v", err)
	}
	if !slices.Contains(pc.RuleFiles, "alerts.yml") {
		t.Errorf("prometheus-secured.yml: rule_files %v do not load alerts.yml", pc.RuleFiles)
	}
	// The files Prometheus reads: the certificates from the volume, the
	// password from its config directory.
	hc := job.HTTPClientConfig
	tlsFiles := map[string]string{}
	for _, f := range []string{hc.TLSConfig.CAFile, hc.TLSConfig.CertFile, hc.TLSConfig.KeyFile} {
		rel, ok := strings.CutPrefix(f, tlsInFlowsieve+"/")
		if !ok {
			t.Fatalf("prometheus reads %s, which is not in the metrics-tls volume at %s", f, tlsInFlowsieve)
		}
		tlsFiles[f] = filepath.Join(generated, rel)
	}
	volumeAt(prom, tlsInFlowsieve)
	if hc.BasicAuth == nil || hostPath(prom, hc.BasicAuth.PasswordFile) == "" {
		t.Fatalf("prometheus-secured.yml: basic_auth %+v, want a password_file in a mounted directory", hc.BasicAuth)
	}
	password, err := os.ReadFile(hostPath(prom, hc.BasicAuth.PasswordFile))
	if err != nil {
		t.Fatal(err)
	}
	webYML, err := os.ReadFile(webConfigFile)
	if err != nil {
		t.Fatal(err)
	}
	checkPassword(t, "prometheus-secured.yml", webUsers(t, webYML), hc.BasicAuth.Username, strings.TrimSpace(string(password)))

	// flowsieve's container, laid out: web.yml and the certificates.
	files := map[string]string{webFile: webConfigFile}
	for _, n := range []string{"tls.crt", "tls.key", "ca.crt"} {
		files[tlsInFlowsieve+"/"+n] = filepath.Join(generated, n)
	}
	local := layOut(t, t.TempDir(), files)
	if err := processor.CheckWebConfig(local(webFile)); err != nil {
		t.Fatalf("flowsieve would not start: %v", err)
	}

	// The stack, scraped: flowsieve (the image's binary, with the sample
	// config and an embedded broker) behind web.yml, Prometheus' client
	// from its scrape config, the target's host name pinned to the
	// listener as the compose network resolves it.
	bin := buildLikeDockerfile(t)
	metricsAddr := freeAddr(t)
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	startRun(t, ctx, bin, filepath.Join(repoRoot, "config", "flowsieve.yaml"),
		"FLOWSIEVE_EMBEDDED_LISTEN="+freeAddr(t),
		"FLOWSIEVE_EMBEDDED_DATA_DIR="+filepath.Join(t.TempDir(), "kafka"),
		"FLOWSIEVE_EMBEDDED_PARTITIONS=1",
		"FLOWSIEVE_METRICS_LISTEN="+metricsAddr,
		"FLOWSIEVE_METRICS_WEB_CONFIG_FILE="+local(webFile),
		"FLOWSIEVE_LOG_FORMAT=json",
	)
	scrapeCfg := hc
	scrapeCfg.TLSConfig.CAFile = tlsFiles[hc.TLSConfig.CAFile]
	scrapeCfg.TLSConfig.CertFile = tlsFiles[hc.TLSConfig.CertFile]
	scrapeCfg.TLSConfig.KeyFile = tlsFiles[hc.TLSConfig.KeyFile]
	ba := *hc.BasicAuth
	ba.PasswordFile = hostPath(prom, hc.BasicAuth.PasswordFile)
	scrapeCfg.BasicAuth = &ba
	client, err := config_util.NewClientFromConfig(scrapeCfg, "flowsieve")
	if err != nil {
		t.Fatal(err)
	}
	// The job's target is flowsieve:9464; the certificate is for the name
	// (tls_config.server_name), the connection goes to the test's port.
	url := "https://" + metricsAddr + job.MetricsPath
	waitFor(t, ctx, "Prometheus' client to scrape "+url, func() (bool, error) {
		resp, err := client.Get(url)
		if err != nil {
			return false, nil
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			return false, nil
		}
		return bytes.Contains(body, []byte("flowsieve_build_info")), nil
	})
	// And without the credentials, nothing.
	plain, err := http.Get("http://" + metricsAddr + "/healthz")
	if err == nil {
		plain.Body.Close()
		if plain.StatusCode != http.StatusBadRequest {
			t.Errorf("plain HTTP /healthz: %s, want 400", plain.Status)
		}
	}
}

// TestKubernetesSecured: deploy/kubernetes/secured, applied over
// deploy/kubernetes as kustomize does, gives a pod whose config loads with
// the web config and certificates mounted, probes that pass web.yml's
// basic auth over HTTPS, and a PodMonitor scraping with TLS and a password
// web.yml takes.
func TestKubernetesSecured(t *testing.T) {
	base := decodeManifests(t)
	dir := filepath.Join(k8sDir, "secured")
	var k struct {
		APIVersion string   `json:"apiVersion"`
		Kind       string   `json:"kind"`
		Namespace  string   `json:"namespace"`
		Resources  []string `json:"resources"`
		Patches    []struct {
			Path string `json:"path"`
		} `json:"patches"`
	}
	readYAMLStrict(t, filepath.Join(dir, "kustomization.yaml"), &k)
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" || k.Namespace != base.namespace.Name {
		t.Errorf("secured/kustomization.yaml is %s %s in namespace %q", k.APIVersion, k.Kind, k.Namespace)
	}
	paths, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	listed := append([]string{"kustomization.yaml"}, k.Resources...)
	for _, p := range k.Patches {
		listed = append(listed, p.Path)
	}
	var inDir []string
	for _, p := range paths {
		inDir = append(inDir, filepath.Base(p))
	}
	if want := append([]string{".."}, inDir...); !slices.Equal(slices.Sorted(slices.Values(listed)), slices.Sorted(slices.Values(want))) {
		t.Errorf("secured/kustomization.yaml lists %v; want deploy/kubernetes (..) and every file beside it %v", listed, inDir)
	}

	m := *base
	m.secrets = maps.Clone(base.secrets)
	data, err := os.ReadFile(filepath.Join(dir, "secret-metrics-web.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, doc := range splitYAML(data) {
		s := &corev1.Secret{}
		if err := yaml.UnmarshalStrict(doc, s); err != nil || s.Kind != "Secret" {
			t.Fatalf("secret-metrics-web.yaml: %v (kind %q)", err, s.Kind)
		}
		m.secrets[s.Name] = s
	}
	webYML, err := os.ReadFile(webConfigFile)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.secrets["flowsieve-metrics-web"].StringData["web.yml"]; got != string(webYML) {
		t.Errorf("Secret flowsieve-metrics-web's web.yml differs from deploy/web/web.yml; keep them the same")
	}
	users := webUsers(t, webYML)

	// The certificates Secret, made out of band as the kustomization's
	// comment says.
	tlsName := "flowsieve-metrics"
	generated := gencerts(t, "-hosts", tlsName)
	certs := &corev1.Secret{StringData: map[string]string{}}
	certs.Name = "flowsieve-metrics-tls"
	for _, n := range []string{"tls.crt", "tls.key", "ca.crt", "client.crt", "client.key"} {
		b, err := os.ReadFile(filepath.Join(generated, n))
		if err != nil {
			t.Fatal(err)
		}
		certs.StringData[n] = string(b)
	}
	m.secrets[certs.Name] = certs

	// The patches, applied as kustomize applies them: a strategic merge
	// for the Deployment, and for the PodMonitor (no merge keys) a merge
	// that replaces lists.
	patch := func(file string, obj, into any) {
		t.Helper()
		p, err := os.ReadFile(filepath.Join(dir, file))
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.UnmarshalStrict(p, into); err != nil { // a misspelt field fails here
			t.Fatalf("%s: %v", file, err)
		}
		pj, err := yaml.YAMLToJSON(p)
		if err != nil {
			t.Fatal(err)
		}
		orig, err := json.Marshal(obj)
		if err != nil {
			t.Fatal(err)
		}
		merged, err := strategicpatch.StrategicMergePatch(orig, pj, obj)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if err := json.Unmarshal(merged, into); err != nil {
			t.Fatalf("%s applied: %v", file, err)
		}
	}
	d := &appsv1.Deployment{}
	patch("deployment-patch.yaml", base.deployment, d)
	pm := &podMonitor{}
	patch("podmonitor-patch.yaml", base.podMonitor, pm)
	m.deployment, m.podMonitor = d, pm

	pod := d.Spec.Template.Spec
	c := pod.Containers[0]
	cfg, inPod := loadPodConfig(t, &m, pod, c)
	if cfg.Metrics.WebConfigFile == "" || inPod(cfg.Metrics.WebConfigFile) == "" {
		t.Fatalf("metrics.web_config_file %q is not in a mounted Secret", cfg.Metrics.WebConfigFile)
	}
	if err := processor.CheckWebConfig(inPod(cfg.Metrics.WebConfigFile)); err != nil {
		t.Fatalf("flowsieve would not start: %v", err)
	}
	if _, err := os.Stat(inPod("/etc/flowsieve-tls/client.key")); err == nil {
		t.Error("Prometheus' client key is mounted into the flowsieve pod")
	}
	for _, pr := range []struct {
		what  string
		probe *corev1.Probe
	}{{"livenessProbe", c.LivenessProbe}, {"readinessProbe", c.ReadinessProbe}} {
		g := pr.probe.HTTPGet
		if g.Scheme != corev1.URISchemeHTTPS {
			t.Errorf("%s speaks %s to a TLS listener", pr.what, g.Scheme)
		}
		var auth string
		for _, h := range g.HTTPHeaders {
			if h.Name == "Authorization" {
				auth = h.Value
			}
		}
		creds, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(auth, "Basic "))
		user, password, ok := strings.Cut(string(creds), ":")
		if err != nil || !ok || !strings.HasPrefix(auth, "Basic ") {
			t.Errorf("%s: Authorization header %q, want Basic user:password", pr.what, auth)
			continue
		}
		checkPassword(t, pr.what, users, user, password)
	}

	if len(pm.Spec.PodMetricsEndpoints) != 1 {
		t.Fatalf("PodMonitor endpoints %+v, want one", pm.Spec.PodMetricsEndpoints)
	}
	ep := pm.Spec.PodMetricsEndpoints[0]
	if ep.Port != "metrics" || ep.Path != "/metrics" || ep.Scheme != "https" || ep.TLSConfig == nil || ep.BasicAuth == nil {
		t.Fatalf("PodMonitor endpoint %+v, want https to port metrics, /metrics, with tlsConfig and basicAuth", ep)
	}
	secretValue := func(what string, ref *secretKeyRef) string {
		t.Helper()
		if ref == nil {
			t.Fatalf("PodMonitor %s: no Secret reference", what)
		}
		s, ok := m.secrets[ref.Name]
		if !ok {
			t.Fatalf("PodMonitor %s: no Secret %s", what, ref.Name)
		}
		v, ok := s.StringData[ref.Key]
		if !ok {
			t.Fatalf("PodMonitor %s: Secret %s has no key %s", what, ref.Name, ref.Key)
		}
		return v
	}
	checkPassword(t, "the PodMonitor", users, secretValue("basicAuth.username", &ep.BasicAuth.Username),
		secretValue("basicAuth.password", &ep.BasicAuth.Password))
	ca := x509.NewCertPool()
	if !ca.AppendCertsFromPEM([]byte(secretValue("tlsConfig.ca", ep.TLSConfig.CA.Secret))) {
		t.Fatal("PodMonitor tlsConfig.ca is no PEM certificate")
	}
	// Prometheus verifies the listener's certificate for serverName.
	block, _ := pem.Decode([]byte(certs.StringData["tls.crt"]))
	leaf, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := leaf.Verify(x509.VerifyOptions{DNSName: ep.TLSConfig.ServerName, Roots: ca}); err != nil {
		t.Errorf("PodMonitor tlsConfig.serverName %q: %v", ep.TLSConfig.ServerName, err)
	}
	secretValue("tlsConfig.cert", ep.TLSConfig.Cert.Secret)
	secretValue("tlsConfig.keySecret", ep.TLSConfig.KeySecret)
}
