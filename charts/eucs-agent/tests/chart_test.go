package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	"go.yaml.in/yaml/v3"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
)

// Where the chart mounts things; the image and the default config agree.
const (
	configPath  = "/etc/eucs-agent/agent.yaml"
	keyDir      = "/etc/eucs-agent/keys"
	defaultKey  = "file:///etc/eucs-agent/keys/key.pem"
	dataDir     = "/var/lib/eucs-agent"
	nonrootUser = 65532
)

func TestScenariosRenderKnownKinds(t *testing.T) {
	want := map[string][]string{
		"default":           {"ConfigMap", "Deployment", "PersistentVolumeClaim", "ServiceAccount"},
		"existing-secrets":  {"ConfigMap", "Deployment", "ServiceAccount"},
		"monitoring":        {"ConfigMap", "Deployment", "NetworkPolicy", "PersistentVolumeClaim", "Service", "ServiceAccount", "ServiceMonitor"},
		"no-persistence":    {"ConfigMap", "Deployment", "ServiceAccount"},
		"workload-identity": {"ConfigMap", "Deployment", "PersistentVolumeClaim", "Secret", "ServiceAccount"},
		// The StatefulSet makes each replica's claim; the second Service is
		// its headless one.
		"sharded": {"ConfigMap", "NetworkPolicy", "Service", "Service", "ServiceAccount", "ServiceMonitor", "StatefulSet"},
	}
	for _, sc := range scenarios(t) {
		t.Run(sc, func(t *testing.T) {
			// render decodes every manifest strictly into its API type
			// (ServiceMonitor into the Prometheus Operator's), so an unknown
			// or misplaced field fails here.
			ms := renderScenario(t, sc)
			w, ok := want[sc]
			if !ok {
				t.Fatalf("scenario %s has no expected kinds in this test; add it", sc)
			}
			if diff := cmp.Diff(w, kinds(ms)); diff != "" {
				t.Errorf("kinds (-want +got):\n%s", diff)
			}
			for _, m := range ms {
				meta := m.Object.(interface {
					GetNamespace() string
					GetLabels() map[string]string
				})
				if meta.GetNamespace() != namespace {
					t.Errorf("%s: namespace %q, want the release's %q", m.Source, meta.GetNamespace(), namespace)
				}
				for _, l := range []string{"app.kubernetes.io/name", "app.kubernetes.io/instance", "app.kubernetes.io/version", "app.kubernetes.io/managed-by", "helm.sh/chart"} {
					if meta.GetLabels()[l] == "" {
						t.Errorf("%s: no %s label", m.Source, l)
					}
				}
			}
		})
	}
}

func TestStrictDecodingRejectsUnknownFields(t *testing.T) {
	// The guard the scenario tests rely on: a field the API does not have is
	// an error, not silently dropped.
	const doc = `apiVersion: v1
kind: ConfigMap
metadata:
  name: x
  lables: {a: b}
`
	_, err := decodeAll(doc)
	if err == nil || !strings.Contains(err.Error(), `unknown field "metadata.lables"`) {
		t.Fatalf("decodeAll accepted an unknown field: err = %v", err)
	}
}

func TestPodMeetsRestrictedPodSecurityStandard(t *testing.T) {
	eval, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	lv := api.LevelVersion{Level: api.LevelRestricted, Version: api.LatestVersion()}
	for _, sc := range scenarios(t) {
		t.Run(sc, func(t *testing.T) {
			pod := podTemplate(t, renderScenario(t, sc, "--set", "probes.enabled=true"))
			for _, r := range eval.EvaluatePod(lv, &pod.ObjectMeta, &pod.Spec) {
				if !r.Allowed {
					t.Errorf("restricted Pod Security Standard: %s (%s)", r.ForbiddenReason, r.ForbiddenDetail)
				}
			}
		})
	}
}

func TestSecureDefaults(t *testing.T) {
	// Asserted one by one as well, so that a regression names the setting,
	// and so that defaults stricter than "restricted" (read-only root
	// filesystem, no API token) are held too.
	for _, sc := range scenarios(t) {
		t.Run(sc, func(t *testing.T) {
			pod := podTemplate(t, renderScenario(t, sc)).Spec
			psc := pod.SecurityContext
			if psc == nil {
				t.Fatal("pod has no securityContext")
			}
			check := func(what string, got, want any) {
				t.Helper()
				if !reflect.DeepEqual(got, want) {
					t.Errorf("%s = %v, want %v", what, got, want)
				}
			}
			check("pod runAsNonRoot", deref(psc.RunAsNonRoot), true)
			check("pod runAsUser", deref(psc.RunAsUser), int64(nonrootUser))
			check("pod runAsGroup", deref(psc.RunAsGroup), int64(nonrootUser))
			check("pod fsGroup", deref(psc.FSGroup), int64(nonrootUser))
			if psc.SeccompProfile == nil {
				t.Error("pod has no seccompProfile")
			} else {
				check("pod seccompProfile.type", psc.SeccompProfile.Type, corev1.SeccompProfileTypeRuntimeDefault)
			}
			check("automountServiceAccountToken", deref(pod.AutomountServiceAccountToken), false)
			check("hostNetwork", pod.HostNetwork, false)
			check("hostPID", pod.HostPID, false)
			check("hostIPC", pod.HostIPC, false)
			if len(pod.Containers) != 1 || len(pod.InitContainers) != 0 {
				t.Fatalf("pod has %d containers and %d init containers, want 1 and 0", len(pod.Containers), len(pod.InitContainers))
			}
			c := pod.Containers[0]
			csc := c.SecurityContext
			if csc == nil {
				t.Fatal("container has no securityContext")
			}
			check("container runAsNonRoot", deref(csc.RunAsNonRoot), true)
			check("container readOnlyRootFilesystem", deref(csc.ReadOnlyRootFilesystem), true)
			check("container allowPrivilegeEscalation", deref(csc.AllowPrivilegeEscalation), false)
			check("container privileged", deref(csc.Privileged), false)
			if csc.Capabilities == nil {
				t.Error("container drops no capabilities")
			} else {
				check("container capabilities.drop", csc.Capabilities.Drop, []corev1.Capability{"ALL"})
				check("container capabilities.add", len(csc.Capabilities.Add), 0)
			}
			if c.Resources.Requests.Memory().IsZero() || c.Resources.Limits.Memory().IsZero() || c.Resources.Requests.Cpu().IsZero() {
				t.Errorf("resources %v: want cpu and memory requests and a memory limit", c.Resources)
			}
			if _, ok := mountAt(c, "/tmp"); !ok {
				t.Error("no writable /tmp: the root filesystem is read-only")
			}
		})
	}
}

func TestExactlyOneSigner(t *testing.T) {
	for _, sc := range scenarios(t) {
		t.Run(sc, func(t *testing.T) {
			ms := renderScenario(t, sc)
			if sts := all[*appsv1.StatefulSet](ms); len(sts) > 0 {
				// Sharded: one signer per chain. Each pod's data volume is
				// its own claim, made from the StatefulSet's template.
				if len(all[*corev1.PersistentVolumeClaim](ms)) != 0 {
					t.Error("a sharded release renders a claim all replicas would share")
				}
				if len(sts[0].Spec.VolumeClaimTemplates) != 1 || sts[0].Spec.VolumeClaimTemplates[0].Name != "data" {
					t.Errorf("volumeClaimTemplates %+v, want one named data", sts[0].Spec.VolumeClaimTemplates)
				}
				return
			}
			d := one[*appsv1.Deployment](t, ms)
			if deref(d.Spec.Replicas) != 1 {
				t.Errorf("replicas = %d, want 1", deref(d.Spec.Replicas))
			}
			if d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
				t.Errorf("strategy = %q, want Recreate: a rolling update would run two signers at once", d.Spec.Strategy.Type)
			}
		})
	}
	t.Run("replicas is not a value", func(t *testing.T) {
		_, err := templateOut("-f", valuesFile("default"), "--set", "replicas=2")
		if err == nil || !strings.Contains(err.Error(), "additional properties 'replicas' not allowed") {
			t.Fatalf("--set replicas=2: err = %v, want the schema to reject it", err)
		}
	})
}

// checksum returns the pod template's checksum/config annotation.
func checksum(t *testing.T, args ...string) string {
	t.Helper()
	d := one[*appsv1.Deployment](t, renderScenario(t, "default", args...))
	sum := d.Spec.Template.Annotations["checksum/config"]
	if len(sum) != 64 {
		t.Fatalf("checksum/config = %q, want a sha256", sum)
	}
	return sum
}

func TestConfigChangeRollsThePod(t *testing.T) {
	base := checksum(t)
	if got := checksum(t, "--set", "config.level=basic"); got == base {
		t.Error("changing config.level left checksum/config unchanged: the pod would keep the old config")
	}
	if got := checksum(t, "--set", "config.collectors.aws.regions={eu-north-1}"); got == base {
		t.Error("changing config.collectors.aws.regions left checksum/config unchanged")
	}
	if got := checksum(t, "--set", "resources.limits.memory=1Gi"); got != base {
		t.Error("a change outside config changed checksum/config")
	}
}

func TestSchemaRejectsMisspelledKeys(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{
			name: "top-level key",
			args: []string{"--set", "persistance.enabled=false"},
			want: "- at '': additional properties 'persistance' not allowed",
		},
		{
			name: "nested key",
			args: []string{"--set", "securityContext.runAsNonroot=true"},
			want: "- at '/securityContext': additional properties 'runAsNonroot' not allowed",
		},
		{
			name: "key two levels down",
			args: []string{"--set", "podSecurityContext.seccompProfile.typ=RuntimeDefault"},
			want: "- at '/podSecurityContext/seccompProfile': additional properties 'typ' not allowed",
		},
		{
			name: "wrong type",
			args: []string{"--set", "persistence.enabled=yes"},
			want: "- at '/persistence/enabled': got string, want boolean",
		},
		{
			name: "misspelling in a values file",
			args: []string{"-f", writeFile(t, "typo.yaml", "serviceAcount:\n  create: false\n")},
			want: "- at '': additional properties 'serviceAcount' not allowed",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := templateOut(append([]string{"-f", valuesFile("default")}, tt.args...)...)
			if err == nil {
				t.Fatal("helm template accepted the values")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error does not say %q:\n%v", tt.want, err)
			}
		})
	}
	t.Run("config stays free-form", func(t *testing.T) {
		// config is checked by the agent itself (TestRenderedConfigIsAcceptedByTheAgent).
		render(t, "-f", valuesFile("default"), "--set", "config.timezone=Europe/Paris")
	})
}

func TestSchemaSecurityContextsMatchKubernetes(t *testing.T) {
	// The schema spells out the security contexts so that a misspelling is
	// caught; it must still accept every field Kubernetes has, and nothing
	// it does not.
	data, err := os.ReadFile(filepath.Join(chartDir, "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := yaml.Unmarshal(data, &schema); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		path []string
		typ  any
	}{
		{[]string{"podSecurityContext"}, corev1.PodSecurityContext{}},
		{[]string{"podSecurityContext", "seccompProfile"}, corev1.SeccompProfile{}},
		{[]string{"podSecurityContext", "appArmorProfile"}, corev1.AppArmorProfile{}},
		{[]string{"podSecurityContext", "seLinuxOptions"}, corev1.SELinuxOptions{}},
		{[]string{"podSecurityContext", "windowsOptions"}, corev1.WindowsSecurityContextOptions{}},
		{[]string{"securityContext"}, corev1.SecurityContext{}},
		{[]string{"securityContext", "capabilities"}, corev1.Capabilities{}},
		{[]string{"securityContext", "seccompProfile"}, corev1.SeccompProfile{}},
		{[]string{"resources"}, corev1.ResourceRequirements{}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.path, "."), func(t *testing.T) {
			node := schema
			for _, p := range tt.path {
				node = node["properties"].(map[string]any)[p].(map[string]any)
			}
			if node["additionalProperties"] != false {
				t.Error("additionalProperties is not false: a misspelt key would pass")
			}
			var got []string
			for k := range node["properties"].(map[string]any) {
				got = append(got, k)
			}
			slices.Sort(got)
			if diff := cmp.Diff(jsonFields(reflect.TypeOf(tt.typ)), got); diff != "" {
				t.Errorf("schema properties differ from the Kubernetes type's fields (-kubernetes +schema):\n%s", diff)
			}
		})
	}
}

// jsonFields lists a struct's JSON field names, sorted.
func jsonFields(t reflect.Type) []string {
	var out []string
	for i := range t.NumField() {
		name, _, _ := strings.Cut(t.Field(i).Tag.Get("json"), ",")
		if name != "" && name != "-" {
			out = append(out, name)
		}
	}
	slices.Sort(out)
	return out
}

func TestRenderedConfigIsAcceptedByTheAgent(t *testing.T) {
	bin, err := agentBinary()
	if err != nil {
		t.Fatal(err)
	}
	keys := t.TempDir()
	if out, err := exec.Command(bin, "keygen", "--out", keys).CombinedOutput(); err != nil {
		t.Fatalf("eucs-agent keygen: %v\n%s", err, out)
	}
	for _, sc := range scenarios(t) {
		t.Run(sc, func(t *testing.T) {
			ms := renderScenario(t, sc)
			cfg := agentConfig(t, ms)
			if got := scalar(t, cfg, "signing", "key"); got != defaultKey {
				t.Fatalf("signing.key = %q, want %q, where the chart mounts the key", got, defaultKey)
			}
			for _, path := range [][]string{{"state_dir"}, {"exporters", "directory", "path"}} {
				if got := scalar(t, cfg, path...); !strings.HasPrefix(got, dataDir+"/") {
					t.Errorf("%s = %q, want it on the data volume %s", strings.Join(path, "."), got, dataDir)
				}
			}
			// The key is a Secret in the cluster; here it is a throwaway one
			// in its place, and the rest of agent.yaml is checked as rendered.
			setScalar(t, cfg, "file://"+filepath.Join(keys, "key.pem"), "signing", "key")
			out, err := validate(t, bin, cfg)
			if err != nil {
				t.Fatalf("eucs-agent validate rejected the rendered agent.yaml: %v\n%s", err, out)
			}
		})
	}
	t.Run("a misspelt config key passes the chart but not the agent", func(t *testing.T) {
		ms := renderScenario(t, "default", "--set", "config.levl=high")
		cfg := agentConfig(t, ms)
		setScalar(t, cfg, "file://"+filepath.Join(keys, "key.pem"), "signing", "key")
		out, err := validate(t, bin, cfg)
		if err == nil || !strings.Contains(out, `unknown key "levl"`) {
			t.Fatalf("eucs-agent validate: err = %v, want it to name the unknown key:\n%s", err, out)
		}
	})
}

// agentConfig parses the agent.yaml the chart rendered into its ConfigMap.
func agentConfig(t *testing.T, ms []manifest) *yaml.Node {
	t.Helper()
	cm := one[*corev1.ConfigMap](t, ms)
	text, ok := cm.Data["agent.yaml"]
	if !ok {
		t.Fatalf("ConfigMap has no agent.yaml, only %v", cm.Data)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(text), &doc); err != nil {
		t.Fatalf("agent.yaml: %v", err)
	}
	return &doc
}

// lookup finds the scalar node at path in a YAML document.
func lookup(t *testing.T, doc *yaml.Node, path ...string) *yaml.Node {
	t.Helper()
	n := doc.Content[0]
	for _, key := range path {
		var next *yaml.Node
		for i := 0; i+1 < len(n.Content); i += 2 {
			if n.Content[i].Value == key {
				next = n.Content[i+1]
			}
		}
		if next == nil {
			t.Fatalf("agent.yaml has no %s", strings.Join(path, "."))
		}
		n = next
	}
	return n
}

func scalar(t *testing.T, doc *yaml.Node, path ...string) string {
	t.Helper()
	return lookup(t, doc, path...).Value
}

func setScalar(t *testing.T, doc *yaml.Node, value string, path ...string) {
	t.Helper()
	lookup(t, doc, path...).Value = value
}

// validate runs `eucs-agent validate` on a config document.
func validate(t *testing.T, bin string, doc *yaml.Node) (string, error) {
	t.Helper()
	data, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	path := writeFile(t, "agent.yaml", string(data))
	out, err := exec.Command(bin, "validate", "--config", path).CombinedOutput()
	return string(out), err
}

func TestMountsMatchConfig(t *testing.T) {
	for _, sc := range scenarios(t) {
		t.Run(sc, func(t *testing.T) {
			ms := renderScenario(t, sc)
			pod := podTemplate(t, ms)
			c := pod.Spec.Containers[0]
			want := []string{"run", "--config", configPath, "--grace", "45s"}
			if sts := all[*appsv1.StatefulSet](ms); len(sts) == 1 {
				want = append(want, "--shard-index=$(EUCS_SHARD_INDEX)", fmt.Sprintf("--shard-count=%d", deref(sts[0].Spec.Replicas)))
			}
			if !slices.Equal(c.Args, want) {
				t.Errorf("args = %q, want %q", c.Args, want)
			}
			for path, volume := range map[string]string{configPath: "config", keyDir: "signing-key", dataDir: "data", "/tmp": "tmp"} {
				m, ok := mountAt(c, path)
				if !ok || m.Name != volume {
					t.Errorf("%s: mount %+v, want volume %q", path, m, volume)
				}
			}
			for _, path := range []string{configPath, keyDir} {
				if m, _ := mountAt(c, path); !m.ReadOnly {
					t.Errorf("%s is mounted writable", path)
				}
			}
			key := volume(t, pod, "signing-key").Secret
			if key == nil || len(key.Items) != 1 || key.Items[0].Path != "key.pem" {
				t.Fatalf("signing-key volume %+v: want the Secret's key mapped to key.pem", key)
			}
			if deref(key.DefaultMode) != 0o440 {
				t.Errorf("signing key mode %o, want 0440", deref(key.DefaultMode))
			}
		})
	}
}

func TestPersistence(t *testing.T) {
	t.Run("default claim is kept on uninstall", func(t *testing.T) {
		ms := renderScenario(t, "default")
		pvc := one[*corev1.PersistentVolumeClaim](t, ms)
		if pvc.Annotations["helm.sh/resource-policy"] != "keep" {
			t.Error("the claim has no helm.sh/resource-policy: keep; helm uninstall would delete the evidence")
		}
		if pvc.Spec.StorageClassName != nil {
			t.Errorf("storageClassName = %q, want unset (the cluster default)", *pvc.Spec.StorageClassName)
		}
		d := one[*appsv1.Deployment](t, ms)
		if got := volume(t, &d.Spec.Template, "data").PersistentVolumeClaim; got == nil || got.ClaimName != pvc.Name {
			t.Errorf("data volume %+v, want claim %s", got, pvc.Name)
		}
	})
	t.Run("storageClass dash means no class", func(t *testing.T) {
		pvc := one[*corev1.PersistentVolumeClaim](t, renderScenario(t, "default", "--set", "persistence.storageClass=-"))
		if pvc.Spec.StorageClassName == nil || *pvc.Spec.StorageClassName != "" {
			t.Errorf("storageClassName = %v, want \"\"", pvc.Spec.StorageClassName)
		}
	})
	t.Run("existing claim", func(t *testing.T) {
		d := one[*appsv1.Deployment](t, renderScenario(t, "existing-secrets"))
		if got := volume(t, &d.Spec.Template, "data").PersistentVolumeClaim; got == nil || got.ClaimName != "evidence-archive" {
			t.Errorf("data volume %+v, want claim evidence-archive", got)
		}
	})
	t.Run("disabled", func(t *testing.T) {
		d := one[*appsv1.Deployment](t, renderScenario(t, "no-persistence"))
		if volume(t, &d.Spec.Template, "data").EmptyDir == nil {
			t.Error("data volume is not an emptyDir")
		}
	})
}

func TestSecrets(t *testing.T) {
	t.Run("existing secrets", func(t *testing.T) {
		d := one[*appsv1.Deployment](t, renderScenario(t, "existing-secrets"))
		key := volume(t, &d.Spec.Template, "signing-key").Secret
		if key.SecretName != "agent-keys" || key.Items[0].Key != "signing.pem" {
			t.Errorf("signing-key volume %+v, want secret agent-keys, key signing.pem", key)
		}
		if got := volume(t, &d.Spec.Template, "tls").Secret; got == nil || got.SecretName != "agent-mtls" {
			t.Errorf("tls volume %+v, want secret agent-mtls", got)
		}
		if m, ok := mountAt(d.Spec.Template.Spec.Containers[0], "/etc/eucs-agent/tls"); !ok || !m.ReadOnly {
			t.Errorf("tls mount %+v, want read-only at /etc/eucs-agent/tls", m)
		}
	})
	t.Run("created signing key", func(t *testing.T) {
		ms := renderScenario(t, "workload-identity")
		s := one[*corev1.Secret](t, ms)
		if !strings.Contains(string(s.Data["key.pem"]), "BEGIN PRIVATE KEY") {
			t.Errorf("secret %s has no key.pem PEM: %v", s.Name, s.Data)
		}
		d := one[*appsv1.Deployment](t, ms)
		if volume(t, &d.Spec.Template, "signing-key").Secret.SecretName != s.Name {
			t.Error("the pod does not mount the created secret")
		}
		if d.Spec.Template.Annotations["checksum/signing-key"] == "" {
			t.Error("no checksum/signing-key: a rotated key would not roll the pod")
		}
	})
	t.Run("created tls", func(t *testing.T) {
		ms := renderScenario(t, "default", "--set", "tls.enabled=true,tls.create=true,tls.cert=CERT,tls.key=KEY,tls.ca=CA")
		s := one[*corev1.Secret](t, ms)
		if s.Type != corev1.SecretTypeTLS || string(s.Data["ca.crt"]) != "CA" {
			t.Errorf("secret %+v, want kubernetes.io/tls with ca.crt", s)
		}
	})
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no signing key", []string{"--set", "signingKey.existingSecret="}, "signingKey: the agent needs a signing key. Create one with `eucs-agent keygen --out DIR`"},
		{"both key sources", []string{"--set", "signingKey.create=true"}, "signingKey: set either create (with pem) or existingSecret, not both"},
		{"created key is not PEM", []string{"--set", "signingKey.existingSecret=,signingKey.create=true,signingKey.pem=secret"}, "signingKey.pem: must be the PKCS#8 PEM (-----BEGIN PRIVATE KEY-----)"},
		{"tls without source", []string{"--set", "tls.enabled=true"}, "tls.enabled needs tls.existingSecret, or tls.create=true with tls.cert and tls.key"},
		{"no service name", []string{"--set", "config.service="}, "config.service: name the cloud service under certification"},
		{"state off the volume", []string{"--set", "config.state_dir=/tmp/state"}, `config.state_dir: "/tmp/state" is not under /var/lib/eucs-agent/, the data volume`},
		{"evidence off the volume", []string{"--set", "config.exporters.directory.path=/evidence"}, `config.exporters.directory.path: "/evidence" is not under /var/lib/eucs-agent/, the data volume`},
		{"outbox off the volume", []string{"--set", "config.exporters.certification_body.outbox=/outbox"}, `config.exporters.certification_body.outbox: "/outbox" is not under /var/lib/eucs-agent/, the data volume`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := templateOut(append([]string{"-f", valuesFile("default")}, tt.args...)...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want it to say %q", err, tt.want)
			}
		})
	}
}

func TestWorkloadIdentity(t *testing.T) {
	ms := renderScenario(t, "workload-identity")
	sa := one[*corev1.ServiceAccount](t, ms)
	for _, a := range []string{"eks.amazonaws.com/role-arn", "iam.gke.io/gcp-service-account", "azure.workload.identity/client-id"} {
		if sa.Annotations[a] == "" {
			t.Errorf("service account has no %s annotation", a)
		}
	}
	if deref(sa.AutomountServiceAccountToken) {
		t.Error("service account automounts an API token")
	}
	d := one[*appsv1.Deployment](t, ms)
	if d.Spec.Template.Spec.ServiceAccountName != sa.Name || sa.Name != "eucs-agent" {
		t.Errorf("pod runs as %q, service account is %q, want both eucs-agent", d.Spec.Template.Spec.ServiceAccountName, sa.Name)
	}
	if d.Spec.Template.Labels["azure.workload.identity/use"] != "true" {
		t.Error("pod lacks the azure.workload.identity/use label the Azure webhook selects pods by")
	}
}

func TestNetworkPolicy(t *testing.T) {
	t.Run("monitoring", func(t *testing.T) {
		np := one[*networkingv1.NetworkPolicy](t, renderScenario(t, "monitoring"))
		if diff := cmp.Diff([]networkingv1.PolicyType{"Ingress", "Egress"}, np.Spec.PolicyTypes); diff != "" {
			t.Errorf("policyTypes (-want +got):\n%s", diff)
		}
		if len(np.Spec.Ingress) != 1 || len(np.Spec.Ingress[0].From) != 1 || len(np.Spec.Ingress[0].Ports) != 1 {
			t.Fatalf("ingress %+v, want one rule from the configured peer to one port", np.Spec.Ingress)
		}
		if p := np.Spec.Ingress[0].Ports[0]; p.Port.String() != "metrics" {
			t.Errorf("ingress port %v, want metrics", p.Port)
		}
		if got := np.Spec.Ingress[0].From[0].NamespaceSelector.MatchLabels["kubernetes.io/metadata.name"]; got != "monitoring" {
			t.Errorf("ingress from namespace %q, want monitoring", got)
		}
		var egress []string
		for _, r := range np.Spec.Egress {
			if len(r.To) != 0 {
				t.Errorf("egress rule %+v is limited to peers; want ports to anywhere", r)
			}
			for _, p := range r.Ports {
				egress = append(egress, string(*p.Protocol)+"/"+p.Port.String())
			}
		}
		if diff := cmp.Diff([]string{"UDP/53", "TCP/53", "TCP/443"}, egress); diff != "" {
			t.Errorf("egress (-want +got):\n%s", diff)
		}
	})
	t.Run("no metrics peers denies all ingress", func(t *testing.T) {
		// An ingress rule without "from" would admit everyone.
		np := one[*networkingv1.NetworkPolicy](t, renderScenario(t, "default", "--set", "networkPolicy.enabled=true"))
		if len(np.Spec.Ingress) != 0 || !slices.Contains(np.Spec.PolicyTypes, "Ingress") {
			t.Errorf("ingress %+v with policyTypes %v, want no rules under an Ingress policy", np.Spec.Ingress, np.Spec.PolicyTypes)
		}
	})
}

func TestServiceMonitor(t *testing.T) {
	ms := renderScenario(t, "monitoring")
	sm := one[*monitoringv1.ServiceMonitor](t, ms)
	svc := one[*corev1.Service](t, ms)
	if sm.Labels["release"] != "prometheus" {
		t.Errorf("ServiceMonitor labels %v lack serviceMonitor.labels", sm.Labels)
	}
	for k, v := range sm.Spec.Selector.MatchLabels {
		if svc.Labels[k] != v {
			t.Errorf("ServiceMonitor selects %s=%s, the Service has %q", k, v, svc.Labels[k])
		}
	}
	if len(sm.Spec.Endpoints) != 1 || sm.Spec.Endpoints[0].Port != svc.Spec.Ports[0].Name {
		t.Errorf("endpoints %+v do not name the Service's port %q", sm.Spec.Endpoints, svc.Spec.Ports[0].Name)
	}
}

func TestProbesAreOnByDefaultAndCanBeTurnedOff(t *testing.T) {
	c := one[*appsv1.Deployment](t, renderScenario(t, "default")).Spec.Template.Spec.Containers[0]
	if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" || c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Errorf("default probes: liveness %+v, readiness %+v", c.LivenessProbe, c.ReadinessProbe)
	}
	c = one[*appsv1.Deployment](t, renderScenario(t, "default", "--set", "probes.enabled=false")).Spec.Template.Spec.Containers[0]
	if c.LivenessProbe != nil || c.ReadinessProbe != nil {
		t.Error("probes.enabled=false still renders probes")
	}
}

func TestNotesRender(t *testing.T) {
	// NOTES.txt is rendered by install, not by template, and a broken one
	// fails every install.
	for _, sc := range scenarios(t) {
		t.Run(sc, func(t *testing.T) {
			notes := renderNotes(t, "-f", valuesFile(sc))
			for _, want := range []string{"openssl pkey -pubout", "eucs-agent verify --key key.pub", "docs/kubernetes.md"} {
				if !strings.Contains(notes, want) {
					t.Errorf("NOTES do not mention %q:\n%s", want, notes)
				}
			}
		})
	}
	t.Run("public key command", func(t *testing.T) {
		notes := renderNotes(t, "-f", valuesFile("existing-secrets"))
		want := `kubectl -n evidence get secret agent-keys \
    -o jsonpath='{.data.signing\.pem}' | base64 -d | openssl pkey -pubout > key.pub`
		if !strings.Contains(notes, want) {
			t.Errorf("NOTES do not say\n%s\nin:\n%s", want, notes)
		}
	})
	t.Run("warnings", func(t *testing.T) {
		if notes := renderNotes(t, "-f", valuesFile("no-persistence")); !strings.Contains(notes, "WARNING: persistence.enabled=false") {
			t.Errorf("no warning about the emptyDir in:\n%s", notes)
		}
		if notes := renderNotes(t, "-f", valuesFile("monitoring")); strings.Contains(notes, "does not serve /metrics") {
			t.Errorf("NOTES still claim the agent serves no metrics:\n%s", notes)
		}
	})
}

// renderNotes renders NOTES.txt offline. helm template leaves NOTES out and
// helm v3's install --dry-run=client still wants a cluster, so a copy of the
// chart carries the notes in a ConfigMap instead.
func renderNotes(t *testing.T, args ...string) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "eucs-agent")
	if err := os.CopyFS(dir, os.DirFS(chartDir)); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(filepath.Join(dir, "tests"))
	notes := filepath.Join(dir, "templates", "NOTES.txt")
	text, err := os.ReadFile(notes)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(notes)
	wrapped := `{{- define "notes-test" -}}` + string(text) + `{{- end -}}
apiVersion: v1
kind: ConfigMap
metadata:
  name: notes
data:
  NOTES: {{ include "notes-test" . | toJson }}
`
	if err := os.WriteFile(filepath.Join(dir, "templates", "notes-test.yaml"), []byte(wrapped), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := helm(append([]string{"template", release, dir, "--namespace", namespace, "--show-only", "templates/notes-test.yaml"}, args...)...)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := decodeAll(out)
	if err != nil {
		t.Fatal(err)
	}
	return one[*corev1.ConfigMap](t, ms).Data["NOTES"]
}

// podTemplate returns the pod of the one workload the chart rendered: the
// Deployment, or the StatefulSet of a sharded release.
func podTemplate(t *testing.T, ms []manifest) *corev1.PodTemplateSpec {
	t.Helper()
	ds, ss := all[*appsv1.Deployment](ms), all[*appsv1.StatefulSet](ms)
	switch {
	case len(ds) == 1 && len(ss) == 0:
		return &ds[0].Spec.Template
	case len(ds) == 0 && len(ss) == 1:
		return &ss[0].Spec.Template
	}
	t.Fatalf("rendered %d Deployments and %d StatefulSets, want one of either", len(ds), len(ss))
	return nil
}

func mountAt(c corev1.Container, path string) (corev1.VolumeMount, bool) {
	for _, m := range c.VolumeMounts {
		if m.MountPath == path {
			return m, true
		}
	}
	return corev1.VolumeMount{}, false
}

func volume(t *testing.T, pod *corev1.PodTemplateSpec, name string) corev1.Volume {
	t.Helper()
	for _, v := range pod.Spec.Volumes {
		if v.Name == name {
			return v
		}
	}
	t.Fatalf("the pod has no volume %q", name)
	return corev1.Volume{}
}

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSchemaIsClosedEverywhereButTheFreeFormMaps(t *testing.T) {
	// A new value added to the schema without additionalProperties: false
	// would let its misspellings through again.
	data, err := os.ReadFile(filepath.Join(chartDir, "values.schema.json"))
	if err != nil {
		t.Fatal(err)
	}
	var schema map[string]any
	if err := yaml.Unmarshal(data, &schema); err != nil {
		t.Fatal(err)
	}
	freeForm := map[string]bool{
		"global": true, "config": true, "affinity": true,
		"podAnnotations": true, "podLabels": true, "nodeSelector": true,
		"serviceAccount.annotations": true, "persistence.annotations": true, "service.annotations": true,
		"serviceMonitor.labels": true, "resources.requests": true, "resources.limits": true,
		// Lists of Kubernetes objects, checked when the manifests are decoded.
		"extraEnv[]": true, "tolerations[]": true, "networkPolicy.metricsFrom[]": true, "networkPolicy.extraEgress[]": true,
	}
	var walk func(path string, node map[string]any)
	walk = func(path string, node map[string]any) {
		if items, ok := node["items"].(map[string]any); ok {
			walk(path+"[]", items)
		}
		if node["type"] != "object" {
			return
		}
		props, hasProps := node["properties"].(map[string]any)
		switch {
		case freeForm[path]:
		case !hasProps:
			t.Errorf("%s: an object without properties; list them (or add it to the free-form maps here)", path)
		case node["additionalProperties"] != false:
			t.Errorf("%s: additionalProperties is not false", path)
		}
		for k, v := range props {
			p := k
			if path != "" {
				p = path + "." + k
			}
			walk(p, v.(map[string]any))
		}
	}
	walk("", schema)
}

func TestAWSWebIdentityOutsideEKS(t *testing.T) {
	const role = "arn:aws:iam::111111111111:role/eucs-agent"
	ms := renderScenario(t, "default", "--set", "awsWebIdentity.roleArn="+role)
	d := one[*appsv1.Deployment](t, ms)
	pod := d.Spec.Template.Spec
	src := volume(t, &d.Spec.Template, "aws-token").Projected
	if src == nil || len(src.Sources) != 1 || src.Sources[0].ServiceAccountToken == nil {
		t.Fatalf("aws-token volume %+v, want one projected service account token", src)
	}
	if tok := src.Sources[0].ServiceAccountToken; tok.Audience != "sts.amazonaws.com" || deref(tok.ExpirationSeconds) != 3600 {
		t.Errorf("token audience %q, expiry %d; want sts.amazonaws.com, 3600", tok.Audience, deref(tok.ExpirationSeconds))
	}
	env := map[string]string{}
	for _, e := range pod.Containers[0].Env {
		env[e.Name] = e.Value
	}
	if env["AWS_ROLE_ARN"] != role || env["AWS_WEB_IDENTITY_TOKEN_FILE"] != "/var/run/secrets/eucs-agent/aws/token" {
		t.Errorf("env %v, want AWS_ROLE_ARN and AWS_WEB_IDENTITY_TOKEN_FILE", env)
	}
	if m, ok := mountAt(pod.Containers[0], "/var/run/secrets/eucs-agent/aws"); !ok || !m.ReadOnly {
		t.Errorf("token mount %+v, want read-only", m)
	}
	if deref(pod.AutomountServiceAccountToken) {
		t.Error("the API token is mounted as well")
	}
	eval, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range eval.EvaluatePod(api.LevelVersion{Level: api.LevelRestricted, Version: api.LatestVersion()}, &metav1.ObjectMeta{}, &pod) {
		if !r.Allowed {
			t.Errorf("restricted Pod Security Standard: %s (%s)", r.ForbiddenReason, r.ForbiddenDetail)
		}
	}
	if _, err := templateOut("-f", valuesFile("default"), "--set", "awsWebIdentity.roleArn=eucs-agent"); err == nil ||
		!strings.Contains(err.Error(), "- at '/awsWebIdentity/roleArn': 'eucs-agent' does not match pattern") {
		t.Errorf("a role name instead of an ARN: err = %v, want the schema to reject it", err)
	}
}

func TestWorksAsSubchart(t *testing.T) {
	// Helm hands a dependency a "global" value; a closed schema that did not
	// allow it would reject every umbrella chart.
	parent := t.TempDir()
	if err := os.CopyFS(filepath.Join(parent, "charts", "eucs-agent"), os.DirFS(chartDir)); err != nil {
		t.Fatal(err)
	}
	os.RemoveAll(filepath.Join(parent, "charts", "eucs-agent", "tests"))
	files := map[string]string{
		"Chart.yaml":  "apiVersion: v2\nname: platform\nversion: 1.0.0\ndependencies:\n  - name: eucs-agent\n    version: 0.1.0\n",
		"values.yaml": "global:\n  region: eu\neucs-agent:\n  config:\n    service: Example Object Storage\n  signingKey:\n    existingSecret: eucs-agent-signing-key\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(parent, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	out, err := helm("template", "platform", parent, "--namespace", namespace)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := decodeAll(out)
	if err != nil {
		t.Fatal(err)
	}
	one[*appsv1.Deployment](t, ms)
}
