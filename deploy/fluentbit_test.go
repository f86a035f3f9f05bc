package deploy

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/yaml"

	"github.com/flowsieve/flowsieve/config"
	"github.com/flowsieve/flowsieve/rules/fluentbit"
)

var fluentBitDir = filepath.Join(k8sDir, "fluent-bit")

// classicSections splits a classic Fluent Bit config into sections of
// lower-cased keys. fluentbit.ParseClassic has checked the syntax first
// (as Fluent Bit's reader does); this only reads what it leaves aside.
func classicSections(text string) []map[string]string {
	var out []map[string]string
	for _, line := range strings.Split(text, "\n") {
		l := strings.TrimSpace(line)
		switch {
		case l == "" || l[0] == '#':
		case l[0] == '[':
			out = append(out, map[string]string{"[section]": strings.ToUpper(strings.Trim(l, "[]"))})
		case len(out) > 0:
			k, v, _ := strings.Cut(l, " ")
			out[len(out)-1][strings.ToLower(k)] = strings.TrimSpace(v)
		}
	}
	return out
}

// TestFluentBitRecipe: the Calico Enterprise recipe (a Fluent Bit
// DaemonSet tailing felix's flows.log into flows.raw) decodes strictly,
// its config is one Fluent Bit reads (the project's own parser) and ships
// each line unchanged to the pipeline's input topic, and every file and
// variable it names is mounted or set.
func TestFluentBitRecipe(t *testing.T) {
	var k kustomization
	readYAMLStrict(t, filepath.Join(fluentBitDir, "kustomization.yaml"), &k)
	base := decodeManifests(t)
	if k.Namespace != base.namespace.Name {
		t.Errorf("namespace %q, want the base's %q", k.Namespace, base.namespace.Name)
	}
	if !slices.Equal(slices.Sorted(slices.Values(k.Resources)), []string{"configmap.yaml", "daemonset.yaml"}) {
		t.Errorf("resources %v", k.Resources)
	}
	var cm corev1.ConfigMap
	var ds appsv1.DaemonSet
	for file, v := range map[string]any{"configmap.yaml": &cm, "daemonset.yaml": &ds} {
		data, err := os.ReadFile(filepath.Join(fluentBitDir, file))
		if err != nil {
			t.Fatal(err)
		}
		if err := yaml.UnmarshalStrict(data, v); err != nil {
			t.Fatalf("%s: %v", file, err)
		}
	}
	if cm.APIVersion != "v1" || cm.Kind != "ConfigMap" || ds.APIVersion != "apps/v1" || ds.Kind != "DaemonSet" {
		t.Fatalf("kinds: %s %s, %s %s", cm.APIVersion, cm.Kind, ds.APIVersion, ds.Kind)
	}
	pod := ds.Spec.Template.Spec
	selects(t, "DaemonSet", ds.Spec.Selector, ds.Spec.Template.Labels)
	if !slices.ContainsFunc(pod.Tolerations, func(tl corev1.Toleration) bool { return tl.Operator == corev1.TolerationOpExists && tl.Key == "" }) {
		t.Error("no toleration of every taint: felix writes flow logs on tainted nodes too")
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Error("the pod mounts a service account token it never uses")
	}
	if pod.ServiceAccountName != base.serviceAccount.Name {
		t.Errorf("serviceAccountName %q, want the base's %q", pod.ServiceAccountName, base.serviceAccount.Name)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers", len(pod.Containers))
	}
	c := pod.Containers[0]
	if sc := c.SecurityContext; sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
		sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
		t.Error("container securityContext: want a read-only root filesystem and no privilege escalation")
	}

	// The config file the container reads is the ConfigMap's.
	if len(c.Args) != 2 || c.Args[0] != "-c" {
		t.Fatalf("args %q, want -c FILE", c.Args)
	}
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}
	mountOf := func(path string) (corev1.VolumeMount, corev1.Volume, bool) {
		for _, vm := range c.VolumeMounts {
			if strings.HasPrefix(path, vm.MountPath+"/") {
				return vm, volumes[vm.Name], true
			}
		}
		return corev1.VolumeMount{}, corev1.Volume{}, false
	}
	vm, v, ok := mountOf(c.Args[1])
	if !ok || v.ConfigMap == nil || v.ConfigMap.Name != cm.Name {
		t.Fatalf("%s is not in the mount of ConfigMap %s", c.Args[1], cm.Name)
	}
	conf, ok := cm.Data[strings.TrimPrefix(c.Args[1], vm.MountPath+"/")]
	if !ok {
		t.Fatalf("ConfigMap %s has no key for %s", cm.Name, c.Args[1])
	}

	// Fluent Bit reads it; it filters nothing (flowsieve does).
	filters, err := fluentbit.ParseClassic("fluent-bit.conf", []byte(conf))
	if err != nil {
		t.Fatalf("fluent-bit.conf: %v", err)
	}
	if len(filters) != 0 {
		t.Errorf("%d [FILTER] sections: the recipe ships felix's records unchanged; filter with flowsieve's rules", len(filters))
	}
	var input, output, service map[string]string
	for _, s := range classicSections(conf) {
		switch s["[section]"] {
		case "INPUT":
			input = s
		case "OUTPUT":
			output = s
		case "SERVICE":
			service = s
		}
	}
	if input == nil || output == nil || service == nil {
		t.Fatal("want a SERVICE, an INPUT and an OUTPUT section")
	}
	if input["name"] != "tail" || input["path"] != "/var/log/calico/flowlogs/flows.log" {
		t.Errorf("input %v: want tail of felix's /var/log/calico/flowlogs/flows.log", input)
	}
	if _, v, ok := mountOf(input["path"]); !ok || v.HostPath == nil || v.HostPath.Path != filepath.Dir(input["path"]) {
		t.Errorf("%s is not under a mount of the node's %s", input["path"], filepath.Dir(input["path"]))
	}
	for what, p := range map[string]string{"tail DB": input["db"], "storage.path": service["storage.path"]} {
		if vm, v, ok := mountOf(p + "/"); !ok || v.HostPath == nil || vm.ReadOnly {
			t.Errorf("%s %s is not on a writable mount of the node (positions and buffers must outlive the pod)", what, p)
		}
	}
	// Each line as written: tail's "log" key, sent alone.
	if output["name"] != "kafka" || !strings.EqualFold(output["format"], "raw") || output["raw_log_key"] != "log" {
		t.Errorf("output %v: want kafka, format raw, raw_log_key log", output)
	}
	if output["match"] != input["tag"] {
		t.Errorf("output matches %q, the input's tag is %q", output["match"], input["tag"])
	}
	// The base Deployment sets the SASL user from the Secret.
	cfg, err := config.Load(config.Sources{Environ: []string{"FLOWSIEVE_KAFKA_SASL_USERNAME=flowsieve"}, File: writeTemp(t, base.configMaps["flowsieve-config"].Data["flowsieve.yaml"])})
	if err != nil {
		t.Fatalf("the base's config: %v", err)
	}
	if !slices.Contains(cfg.Input.Topics, output["topics"]) {
		t.Errorf("Fluent Bit produces to %q, which the pipeline does not read (%v)", output["topics"], cfg.Input.Topics)
	}
	if size := input["buffer_max_size"]; size != "1MB" {
		t.Errorf("tail Buffer_Max_Size %q: want 1MB, flowsieve's default record limit", size)
	}

	// Every ${VAR} is set in the container; the brokers are the pipeline's.
	env := containerEnv(t, base, c)
	for _, m := range regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)\}`).FindAllStringSubmatch(conf, -1) {
		if _, ok := env[m[1]]; !ok {
			t.Errorf("fluent-bit.conf uses ${%s}, which the container's env does not set", m[1])
		}
	}
	if brokers := strings.Join(cfg.Kafka.Brokers, ","); env["KAFKA_BROKERS"] != brokers {
		t.Errorf("KAFKA_BROKERS %q, want the pipeline's kafka.brokers %q", env["KAFKA_BROKERS"], brokers)
	}
	if cfg.Kafka.TLS.Enabled != strings.Contains(output["rdkafka.security.protocol"], "SSL") ||
		!strings.EqualFold(output["rdkafka.sasl.mechanisms"], cfg.Kafka.SASL.Mechanism) {
		t.Errorf("rdkafka security %q / %q, want the pipeline's TLS %v and SASL %s", output["rdkafka.security.protocol"],
			output["rdkafka.sasl.mechanisms"], cfg.Kafka.TLS.Enabled, cfg.Kafka.SASL.Mechanism)
	}
	if port, err := strconvAtoi(service["http_port"]); err != nil || len(c.Ports) != 1 || c.Ports[0].ContainerPort != port ||
		c.LivenessProbe == nil || c.LivenessProbe.HTTPGet == nil || c.LivenessProbe.HTTPGet.Port.String() != c.Ports[0].Name {
		t.Errorf("the liveness probe and port do not use Fluent Bit's HTTP_Port %s", service["http_port"])
	}
}

func writeTemp(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "flowsieve.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func strconvAtoi(s string) (int32, error) {
	n, err := strconv.Atoi(s)
	return int32(n), err
}
