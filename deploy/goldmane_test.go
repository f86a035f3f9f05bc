package deploy

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"
)

var goldmaneDir = filepath.Join(k8sDir, "goldmane")

// TestGoldmaneIngestDeployment: the optional `ingest goldmane` Deployment
// decodes strictly, runs one replica at a time, mounts every file its
// flags name, probes the ingester's own listener, and its arguments are
// ones the binary accepts.
func TestGoldmaneIngestDeployment(t *testing.T) {
	var k kustomization
	readYAMLStrict(t, filepath.Join(goldmaneDir, "kustomization.yaml"), &k)
	base := decodeManifests(t)
	if k.Namespace != base.namespace.Name {
		t.Errorf("namespace %q, want the base's %q", k.Namespace, base.namespace.Name)
	}
	if !slices.Equal(k.Resources, []string{"deployment.yaml", "podmonitor.yaml"}) {
		t.Errorf("resources %v", k.Resources)
	}
	var pm podMonitor
	readYAMLStrict(t, filepath.Join(goldmaneDir, "podmonitor.yaml"), &pm)
	if pm.APIVersion != "monitoring.coreos.com/v1" || pm.Kind != "PodMonitor" || len(pm.Spec.PodMetricsEndpoints) != 1 {
		t.Fatalf("podmonitor.yaml: %s %s with %d endpoints", pm.APIVersion, pm.Kind, len(pm.Spec.PodMetricsEndpoints))
	}
	data, err := os.ReadFile(filepath.Join(goldmaneDir, "deployment.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var d appsv1.Deployment
	if err := yaml.UnmarshalStrict(data, &d); err != nil {
		t.Fatalf("deployment.yaml: %v", err)
	}
	if d.APIVersion != "apps/v1" || d.Kind != "Deployment" {
		t.Fatalf("deployment.yaml is %s %s", d.APIVersion, d.Kind)
	}
	if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 {
		t.Errorf("replicas %v: one stream, one position; two would produce every flow twice", d.Spec.Replicas)
	}
	if d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		t.Errorf("strategy %q: a rolling update would run two ingesters at once", d.Spec.Strategy.Type)
	}
	pod := d.Spec.Template.Spec
	selects(t, "Deployment", d.Spec.Selector, d.Spec.Template.Labels)
	if selects := base.deployment.Spec.Selector; selects != nil {
		if s := selects.MatchLabels; s != nil && d.Spec.Template.Labels["app.kubernetes.io/name"] == s["app.kubernetes.io/name"] {
			t.Error("the ingester's pods carry the pipeline's selector labels: the pipeline's Deployment, Service and PDB would count them")
		}
	}
	if pod.ServiceAccountName != base.serviceAccount.Name {
		t.Errorf("serviceAccountName %q, want the base's %q", pod.ServiceAccountName, base.serviceAccount.Name)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Error("the pod mounts a service account token it never uses")
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers", len(pod.Containers))
	}
	c := pod.Containers[0]
	if image, _, _ := strings.Cut(c.Image, ":"); len(k.Images) != 1 || k.Images[0].Name != image {
		t.Errorf("kustomization images %+v, want one for %q", k.Images, c.Image)
	}
	sc := c.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("container securityContext: want a read-only root filesystem and no privilege escalation")
	}

	// Kubernetes expands $(VAR) in args from the container's env.
	env := containerEnv(t, base, c)
	ref := regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)
	flags := map[string]string{}
	args := slices.Clone(c.Args)
	for i, a := range args {
		args[i] = ref.ReplaceAllStringFunc(a, func(m string) string {
			v, ok := env[m[2:len(m)-1]]
			if !ok {
				t.Errorf("arg %q refers to %s, which the container's env lacks", a, m)
			}
			return v
		})
		if name, val, ok := strings.Cut(args[i], "="); ok {
			flags[name] = val
		}
	}
	if len(args) < 2 || args[0] != "ingest" || args[1] != "goldmane" {
		t.Fatalf("args %q, want ingest goldmane ...", c.Args)
	}

	// Every file a flag names is under a mount of the right volume.
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}
	mountOf := func(path string) (corev1.Volume, bool) {
		for _, vm := range c.VolumeMounts {
			if strings.HasPrefix(path, vm.MountPath+"/") {
				return volumes[vm.Name], true
			}
		}
		return corev1.Volume{}, false
	}
	for flag, want := range map[string]func(v corev1.Volume) bool{
		"--ca": func(v corev1.Volume) bool { return v.ConfigMap != nil && v.ConfigMap.Name == "goldmane-ca" },
		"--cert": func(v corev1.Volume) bool {
			return v.Secret != nil && v.Secret.SecretName == "flowsieve-goldmane-client"
		},
		"--key": func(v corev1.Volume) bool {
			return v.Secret != nil && v.Secret.SecretName == "flowsieve-goldmane-client"
		},
		"--kafka-sasl-password-file": func(v corev1.Volume) bool { return v.Secret != nil && v.Secret.SecretName == "flowsieve-kafka" },
		"--state-file":               func(v corev1.Volume) bool { return v.EmptyDir != nil },
	} {
		path, ok := flags[flag]
		if !ok {
			t.Errorf("no %s flag", flag)
			continue
		}
		if v, ok := mountOf(path); !ok || !want(v) {
			t.Errorf("%s=%s is not under the expected volume's mount", flag, path)
		}
	}
	for _, vm := range c.VolumeMounts {
		if vm.MountPath != "/var/lib/flowsieve" && !vm.ReadOnly {
			t.Errorf("volumeMount %s is writable; only the state directory needs to be", vm.Name)
		}
	}
	selects(t, "PodMonitor", &pm.Spec.Selector, d.Spec.Template.Labels)
	if ep := pm.Spec.PodMetricsEndpoints[0]; ep.Port != "metrics" || ep.Path != "/metrics" {
		t.Errorf("PodMonitor scrapes port %q path %q, want the metrics port's /metrics", ep.Port, ep.Path)
	}
	// The probes use the listener the flags open.
	_, port, _ := strings.Cut(flags["--metrics-listen"], ":")
	if len(c.Ports) != 1 || c.Ports[0].Name != "metrics" || port == "" || c.Ports[0].ContainerPort != atoi(t, port) {
		t.Errorf("ports %+v, want one named metrics on --metrics-listen's port %s", c.Ports, port)
	}
	for what, p := range map[string]*corev1.Probe{"/healthz": c.LivenessProbe, "/readyz": c.ReadinessProbe} {
		if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != what || p.HTTPGet.Port.String() != "metrics" {
			t.Errorf("probe for %s: %+v", what, p)
		}
	}

	// The binary takes the arguments: it gets past flag parsing and stops
	// at the first thing the test does not provide, the Kafka brokers.
	bin := buildLikeDockerfile(t)
	pw := filepath.Join(t.TempDir(), "password")
	if err := os.WriteFile(pw, []byte(base.secrets["flowsieve-kafka"].StringData["password"]), 0o600); err != nil {
		t.Fatal(err)
	}
	for i, a := range args {
		if strings.HasPrefix(a, "--kafka-sasl-password-file=") {
			args[i] = "--kafka-sasl-password-file=" + pw
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append(args, "--connect-timeout=1s", "--brokers=127.0.0.1:1")...)
	out, err := cmd.CombinedOutput()
	code := -1
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	}
	if code != 1 || !strings.Contains(string(out), "Kafka") {
		t.Errorf("flowsieve %s: exit %d (want 1, failing on Kafka, not on its flags):\n%s", strings.Join(args, " "), code, out)
	}
}

func atoi(t *testing.T, s string) int32 {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Errorf("%q: %v", s, err)
	}
	return int32(n)
}

// containerEnv is the container's environment as the pod sees it, values
// from the base's Secrets included; a reference to a Secret or key the
// base lacks fails the test.
func containerEnv(t *testing.T, base *manifests, c corev1.Container) map[string]string {
	t.Helper()
	env := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			s, ok := base.secrets[ref.Name]
			if !ok {
				t.Errorf("env %s: Secret %s is not in the base", e.Name, ref.Name)
				continue
			}
			v, ok := s.StringData[ref.Key]
			if !ok {
				t.Errorf("env %s: Secret %s has no key %s", e.Name, ref.Name, ref.Key)
			}
			env[e.Name] = v
		default:
			env[e.Name] = e.Value
		}
	}
	return env
}
