package deploy

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/flowsieve/flowsieve/config"
	"github.com/flowsieve/flowsieve/rules"
)

var k8sDir = filepath.Join(repoRoot, "deploy", "kubernetes")

// The Prometheus Operator's custom resources, as far as these manifests use
// them. Decoded strictly like the rest: a misspelt field fails here rather
// than being dropped by the API server's pruning.
type podMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Selector            metav1.LabelSelector `json:"selector"`
		PodMetricsEndpoints []struct {
			Port      string `json:"port"`
			Path      string `json:"path"`
			Interval  string `json:"interval"`
			Scheme    string `json:"scheme,omitempty"`
			TLSConfig *struct {
				ServerName string        `json:"serverName,omitempty"`
				CA         *secretOrMap  `json:"ca,omitempty"`
				Cert       *secretOrMap  `json:"cert,omitempty"`
				KeySecret  *secretKeyRef `json:"keySecret,omitempty"`
			} `json:"tlsConfig,omitempty"`
			BasicAuth *struct {
				Username secretKeyRef `json:"username"`
				Password secretKeyRef `json:"password"`
			} `json:"basicAuth,omitempty"`
		} `json:"podMetricsEndpoints"`
	} `json:"spec"`
}

// secretKeyRef and secretOrMap are the operator's references to a key
// of a Secret (or ConfigMap) in the PodMonitor's namespace.
type secretKeyRef struct {
	Name string `json:"name"`
	Key  string `json:"key"`
}

type secretOrMap struct {
	Secret *secretKeyRef `json:"secret,omitempty"`
}

type prometheusRule struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              ruleFile `json:"spec"`
}

// ruleFile is Prometheus' rule-file format (alerting rules only), shared by
// deploy/prometheus/alerts.yml and the PrometheusRule's spec.
type ruleFile struct {
	Groups []struct {
		Name     string `json:"name"`
		Interval string `json:"interval,omitempty"`
		Rules    []struct {
			Alert       string            `json:"alert"`
			Expr        string            `json:"expr"`
			For         string            `json:"for,omitempty"`
			Labels      map[string]string `json:"labels,omitempty"`
			Annotations map[string]string `json:"annotations,omitempty"`
		} `json:"rules"`
	} `json:"groups"`
}

type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Namespace  string   `json:"namespace"`
	Resources  []string `json:"resources"`
	Images     []struct {
		Name    string `json:"name"`
		NewName string `json:"newName"`
		NewTag  string `json:"newTag"`
	} `json:"images"`
}

// manifests is every object of deploy/kubernetes, decoded.
type manifests struct {
	files          []string // base names, kustomization.yaml excluded
	namespace      *corev1.Namespace
	serviceAccount *corev1.ServiceAccount
	configMaps     map[string]*corev1.ConfigMap
	secrets        map[string]*corev1.Secret
	deployment     *appsv1.Deployment
	service        *corev1.Service
	pdb            *policyv1.PodDisruptionBudget
	podMonitor     *podMonitor
	rule           *prometheusRule
}

// decodeManifests decodes each document of each file strictly into the
// Go type of its kind, as the API server would: an unknown or misplaced
// field, a duplicate key or a wrong type fails.
func decodeManifests(t *testing.T) *manifests {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(k8sDir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	m := &manifests{configMaps: map[string]*corev1.ConfigMap{}, secrets: map[string]*corev1.Secret{}}
	for _, path := range paths {
		name := filepath.Base(path)
		if name == "kustomization.yaml" {
			continue
		}
		m.files = append(m.files, name)
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		for i, doc := range splitYAML(data) {
			where := fmt.Sprintf("%s document %d", name, i+1)
			var tm metav1.TypeMeta
			if err := yaml.Unmarshal(doc, &tm); err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			strict := func(want string, v any) {
				t.Helper()
				if tm.APIVersion != want {
					t.Errorf("%s: %s has apiVersion %q, want %q", where, tm.Kind, tm.APIVersion, want)
				}
				if err := yaml.UnmarshalStrict(doc, v); err != nil {
					t.Errorf("%s (%s): %v", where, tm.Kind, err)
				}
			}
			switch tm.Kind {
			case "Namespace":
				m.namespace = &corev1.Namespace{}
				strict("v1", m.namespace)
			case "ServiceAccount":
				m.serviceAccount = &corev1.ServiceAccount{}
				strict("v1", m.serviceAccount)
			case "ConfigMap":
				cm := &corev1.ConfigMap{}
				strict("v1", cm)
				m.configMaps[cm.Name] = cm
			case "Secret":
				s := &corev1.Secret{}
				strict("v1", s)
				m.secrets[s.Name] = s
			case "Deployment":
				m.deployment = &appsv1.Deployment{}
				strict("apps/v1", m.deployment)
			case "Service":
				m.service = &corev1.Service{}
				strict("v1", m.service)
			case "PodDisruptionBudget":
				m.pdb = &policyv1.PodDisruptionBudget{}
				strict("policy/v1", m.pdb)
			case "PodMonitor":
				m.podMonitor = &podMonitor{}
				strict("monitoring.coreos.com/v1", m.podMonitor)
			case "PrometheusRule":
				m.rule = &prometheusRule{}
				strict("monitoring.coreos.com/v1", m.rule)
			default:
				t.Errorf("%s: kind %q has no test; add it to decodeManifests", where, tm.Kind)
			}
		}
	}
	for what, missing := range map[string]bool{
		"Namespace": m.namespace == nil, "ServiceAccount": m.serviceAccount == nil,
		"Deployment": m.deployment == nil, "Service": m.service == nil,
		"PodDisruptionBudget": m.pdb == nil, "PodMonitor": m.podMonitor == nil,
		"PrometheusRule": m.rule == nil, "ConfigMap": len(m.configMaps) == 0, "Secret": len(m.secrets) == 0,
	} {
		if missing {
			t.Errorf("deploy/kubernetes has no %s", what)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	return m
}

// splitYAML splits a multi-document YAML stream, dropping empty documents.
func splitYAML(data []byte) [][]byte {
	var docs [][]byte
	for _, d := range bytes.Split(append([]byte("\n"), data...), []byte("\n---")) {
		if len(bytes.TrimSpace(stripComments(d))) > 0 {
			// The newline the separator took ends the document's last
			// line (a block scalar there keeps it).
			docs = append(docs, append(d, '\n'))
		}
	}
	return docs
}

func stripComments(d []byte) []byte {
	var out []byte
	for _, l := range bytes.Split(d, []byte("\n")) {
		if !bytes.HasPrefix(bytes.TrimSpace(l), []byte("#")) {
			out = append(append(out, l...), '\n')
		}
	}
	return out
}

func TestKustomizationListsEveryManifest(t *testing.T) {
	m := decodeManifests(t)
	var k kustomization
	readYAMLStrict(t, filepath.Join(k8sDir, "kustomization.yaml"), &k)
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" {
		t.Errorf("kustomization.yaml is %s %s", k.APIVersion, k.Kind)
	}
	if got, want := slices.Sorted(slices.Values(k.Resources)), m.files; !slices.Equal(got, want) {
		t.Errorf("kustomization resources %v, want every manifest in the directory %v", got, want)
	}
	if k.Namespace != m.namespace.Name {
		t.Errorf("kustomization namespace %q, but the Namespace manifest creates %q", k.Namespace, m.namespace.Name)
	}
	image := m.deployment.Spec.Template.Spec.Containers[0].Image
	imageName, _, _ := strings.Cut(image, ":")
	if len(k.Images) != 1 || k.Images[0].Name != imageName {
		t.Errorf("kustomization images %+v, want one entry for the Deployment's image %q (so `kustomize edit set image` works)", k.Images, imageName)
	}
}

func selects(t *testing.T, what string, sel *metav1.LabelSelector, podLabels map[string]string) {
	t.Helper()
	if sel == nil || len(sel.MatchLabels)+len(sel.MatchExpressions) == 0 {
		t.Errorf("%s: empty selector (would select every pod in the namespace)", what)
		return
	}
	s, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		t.Errorf("%s: %v", what, err)
		return
	}
	if !s.Matches(labels.Set(podLabels)) {
		t.Errorf("%s: selector %s does not select the flowsieve pods %v", what, s, podLabels)
	}
}

// podFiles writes what the pod sees under its ConfigMap and Secret mounts
// into a temporary directory and returns a function mapping a path inside
// the container to that copy ("" for a path no mount holds).
func podFiles(t *testing.T, m *manifests, pod corev1.PodSpec, c corev1.Container) func(string) string {
	t.Helper()
	root := t.TempDir()
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}
	var mounts []string
	for _, vm := range c.VolumeMounts {
		v, ok := volumes[vm.Name]
		if !ok {
			t.Errorf("volumeMount %s: no such volume", vm.Name)
			continue
		}
		if vm.SubPath != "" || vm.SubPathExpr != "" {
			t.Errorf("volumeMount %s uses subPath: the kubelet never updates such a mount, so rule changes would not arrive", vm.Name)
		}
		files := map[string]string{}
		switch {
		case v.ConfigMap != nil:
			cm, ok := m.configMaps[v.ConfigMap.Name]
			if !ok {
				t.Errorf("volume %s: ConfigMap %s is not in deploy/kubernetes", v.Name, v.ConfigMap.Name)
				continue
			}
			if len(v.ConfigMap.Items) > 0 {
				t.Errorf("volume %s lists items: new keys in the ConfigMap (a new feed) would not appear", v.Name)
			}
			files = cm.Data
		case v.Secret != nil:
			s, ok := m.secrets[v.Secret.SecretName]
			if !ok {
				t.Errorf("volume %s: Secret %s is not in deploy/kubernetes", v.Name, v.Secret.SecretName)
				continue
			}
			for _, it := range v.Secret.Items {
				val, ok := s.StringData[it.Key]
				if !ok {
					t.Errorf("volume %s: Secret %s has no key %s", v.Name, s.Name, it.Key)
				}
				files[it.Path] = val
			}
		case v.EmptyDir != nil:
		default:
			t.Errorf("volume %s: unexpected source", v.Name)
		}
		dir := filepath.Join(root, vm.MountPath)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		for name, content := range files {
			if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		mounts = append(mounts, vm.MountPath)
	}
	return func(p string) string {
		for _, mp := range mounts {
			if strings.HasPrefix(p, mp+"/") {
				return filepath.Join(root, p)
			}
		}
		return ""
	}
}

// loadPodConfig loads the config the container's process reads: the file
// its args name, through the mounts, and its environment, with values
// from the Secrets. It returns the config and podFiles' mapping.
func loadPodConfig(t *testing.T, m *manifests, pod corev1.PodSpec, c corev1.Container) (*config.Config, func(string) string) {
	t.Helper()
	inPod := podFiles(t, m, pod, c)
	cfgFile := inPod(c.Args[2])
	if cfgFile == "" {
		t.Fatalf("--config %s is not in a mounted ConfigMap", c.Args[2])
	}
	var environ []string
	for _, e := range c.Env {
		v := e.Value
		if ref := e.ValueFrom; ref != nil {
			if ref.SecretKeyRef == nil {
				t.Errorf("env %s: only secretKeyRef is expected", e.Name)
				continue
			}
			s, ok := m.secrets[ref.SecretKeyRef.Name]
			if !ok {
				t.Errorf("env %s: Secret %s is not in deploy/kubernetes", e.Name, ref.SecretKeyRef.Name)
				continue
			}
			if v, ok = s.StringData[ref.SecretKeyRef.Key]; !ok {
				t.Errorf("env %s: Secret %s has no key %s", e.Name, s.Name, ref.SecretKeyRef.Key)
			}
		}
		environ = append(environ, e.Name+"="+v)
	}
	cfg, err := config.Load(config.Sources{File: cfgFile, Environ: environ})
	if err != nil {
		t.Fatalf("the pod's config does not load: %v", err)
	}
	return cfg, inPod
}

func TestDeployment(t *testing.T) {
	m := decodeManifests(t)
	d := m.deployment
	pod := d.Spec.Template.Spec
	podLabels := d.Spec.Template.Labels

	if d.Spec.Replicas == nil || *d.Spec.Replicas < 2 {
		t.Errorf("replicas %v: want at least 2 sharing the consumer group", d.Spec.Replicas)
	}
	selects(t, "Deployment", d.Spec.Selector, podLabels)
	selects(t, "PodDisruptionBudget", m.pdb.Spec.Selector, podLabels)
	selects(t, "Service", &metav1.LabelSelector{MatchLabels: m.service.Spec.Selector}, podLabels)
	selects(t, "PodMonitor", &m.podMonitor.Spec.Selector, podLabels)
	if m.pdb.Spec.MaxUnavailable == nil && m.pdb.Spec.MinAvailable == nil {
		t.Error("PodDisruptionBudget sets neither maxUnavailable nor minAvailable")
	}

	if pod.ServiceAccountName != m.serviceAccount.Name {
		t.Errorf("serviceAccountName %q, want %q", pod.ServiceAccountName, m.serviceAccount.Name)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Error("the pod mounts a service account token it never uses")
	}
	// Kubernetes injects <SERVICE>_SERVICE_HOST etc. for each Service in the
	// namespace; for flowsieve-metrics they start with FLOWSIEVE_, and the
	// config loader rejects FLOWSIEVE_* variables that are not keys.
	if pod.EnableServiceLinks == nil || *pod.EnableServiceLinks {
		t.Error("enableServiceLinks must be false: the injected FLOWSIEVE_METRICS_SERVICE_* variables would fail the config")
	}
	if pod.TerminationGracePeriodSeconds == nil || *pod.TerminationGracePeriodSeconds < 30 {
		t.Error("terminationGracePeriodSeconds: give shutdown at least 30s to drain and commit")
	}

	img := readDockerfile(t)
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot {
		t.Error("pod securityContext: runAsNonRoot must be true")
	} else if psc.RunAsUser == nil || int(*psc.RunAsUser) != img.uid {
		t.Errorf("pod runAsUser is not the image's USER %d", img.uid)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Containers))
	}
	c := pod.Containers[0]
	sc := c.SecurityContext
	switch {
	case sc == nil:
		t.Fatal("container has no securityContext")
	case sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem:
		t.Error("readOnlyRootFilesystem must be true")
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		t.Error("allowPrivilegeEscalation must be false")
	case sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0:
		t.Errorf("capabilities %+v: drop ALL, add none", sc.Capabilities)
	case sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot:
		t.Error("container runAsNonRoot must be true")
	}

	for _, res := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		req, okReq := c.Resources.Requests[res]
		lim, okLim := c.Resources.Limits[res]
		if !okReq || !okLim {
			t.Errorf("resources: %s needs a request and a limit", res)
		} else if req.Cmp(lim) > 0 {
			t.Errorf("resources: %s request %s above limit %s", res, req.String(), lim.String())
		}
	}

	// The process: the image's entrypoint with these args, reading the
	// config and rules from the mounted ConfigMaps.
	if len(c.Command) > 0 {
		t.Errorf("command %q replaces the image's entrypoint", c.Command)
	}
	if len(c.Args) != 3 || c.Args[0] != "run" || c.Args[1] != "--config" {
		t.Fatalf("args %q, want run --config FILE", c.Args)
	}
	cfg, inPod := loadPodConfig(t, m, pod, c)
	if cfg.UseEmbedded() || len(cfg.Kafka.Brokers) == 0 {
		t.Error("kafka.brokers is empty: each pod would start an embedded broker of its own")
	}
	if cfg.Kafka.SASL.Mechanism == "" {
		t.Error("kafka.sasl.mechanism is empty: the Secret's credentials would not be used")
	}
	if pf := cfg.Kafka.SASL.PasswordFile; pf != "" {
		if local := inPod(pf); local == "" {
			t.Errorf("kafka.sasl.password_file %s is not in a mounted Secret", pf)
		} else if b, err := os.ReadFile(local); err != nil || len(b) == 0 {
			t.Errorf("kafka.sasl.password_file %s: %v (%d bytes)", pf, err, len(b))
		}
	}
	rulesFile := inPod(cfg.Rules.File)
	if rulesFile == "" {
		t.Fatalf("rules.file %s is not in a mounted ConfigMap", cfg.Rules.File)
	}
	set, err := rules.LoadFile(rulesFile)
	if err != nil {
		t.Fatalf("the rules ConfigMap does not load: %v", err)
	}
	if len(set.ThreatRules()) == 0 || len(set.FilterNames()) == 0 {
		t.Errorf("the rules ConfigMap has %d threat rules and %d filters; ship at least one of each", len(set.ThreatRules()), len(set.FilterNames()))
	}
	if filepath.Dir(cfg.Rules.File) == filepath.Dir(c.Args[2]) {
		t.Error("rules and config share a mount: a rules edit should not need the config ConfigMap")
	}

	// Ports and probes: the metrics listener serves /metrics, /healthz and
	// /readyz; probes, the Service and the PodMonitor reach it by name.
	host, port, err := net.SplitHostPort(cfg.Metrics.Listen)
	if err != nil {
		t.Fatalf("metrics.listen %q: %v", cfg.Metrics.Listen, err)
	}
	if host != "" && host != "0.0.0.0" {
		t.Errorf("metrics.listen %q: the kubelet and Prometheus cannot reach a loopback address", cfg.Metrics.Listen)
	}
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	named := func(what string, p intstr.IntOrString) {
		t.Helper()
		n, ok := ports[p.String()]
		if p.Type == intstr.Int {
			n, ok = p.IntVal, true
		}
		if !ok || strconv.Itoa(int(n)) != port {
			t.Errorf("%s targets port %s, not the metrics listener :%s", what, p.String(), port)
		}
	}
	for _, pr := range []struct {
		what  string
		probe *corev1.Probe
		path  string
	}{{"livenessProbe", c.LivenessProbe, "/healthz"}, {"readinessProbe", c.ReadinessProbe, "/readyz"}} {
		if pr.probe == nil || pr.probe.HTTPGet == nil {
			t.Errorf("%s: want an httpGet probe on %s", pr.what, pr.path)
			continue
		}
		if pr.probe.HTTPGet.Path != pr.path {
			t.Errorf("%s path %s, want %s", pr.what, pr.probe.HTTPGet.Path, pr.path)
		}
		named(pr.what, pr.probe.HTTPGet.Port)
	}
	for _, sp := range m.service.Spec.Ports {
		named("Service port "+sp.Name, sp.TargetPort)
	}
	for _, ep := range m.podMonitor.Spec.PodMetricsEndpoints {
		named("PodMonitor endpoint", intstr.FromString(ep.Port))
		if ep.Path != "/metrics" {
			t.Errorf("PodMonitor path %q, want /metrics", ep.Path)
		}
	}

	// A read-only root filesystem still needs a writable /tmp for anything
	// that writes temporary files.
	hasTmp := false
	for _, vm := range c.VolumeMounts {
		if vm.MountPath == "/tmp" {
			hasTmp = true
		}
	}
	if !hasTmp {
		t.Error("no writable /tmp under the read-only root filesystem")
	}
}

func TestPrometheusRuleMatchesAlerts(t *testing.T) {
	m := decodeManifests(t)
	var alerts ruleFile
	readYAMLStrict(t, filepath.Join(repoRoot, "deploy", "prometheus", "alerts.yml"), &alerts)
	if !reflect.DeepEqual(alerts, m.rule.Spec) {
		t.Error("deploy/kubernetes/prometheusrule.yaml's groups differ from deploy/prometheus/alerts.yml; keep them the same")
	}
}
