package tests

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/pod-security-admission/api"
	"k8s.io/pod-security-admission/policy"
)

// podIndexField is the downward API path of the label the StatefulSet
// controller puts on each pod: its ordinal (Kubernetes 1.28+).
const podIndexField = "metadata.labels['" + appsv1.PodIndexLabel + "']"

// shardEnv is the variable the chart passes the ordinal in.
const shardEnv = "EUCS_SHARD_INDEX"

func TestShardedRendersAStatefulSet(t *testing.T) {
	ms := renderScenario(t, "sharded")
	if n := len(all[*appsv1.Deployment](ms)); n != 0 {
		t.Errorf("rendered %d Deployments next to the StatefulSet", n)
	}
	if n := len(all[*corev1.PersistentVolumeClaim](ms)); n != 0 {
		t.Errorf("rendered %d PersistentVolumeClaims; each replica's comes from the volumeClaimTemplate", n)
	}
	sts := one[*appsv1.StatefulSet](t, ms)
	spec := sts.Spec
	if deref(spec.Replicas) != 3 {
		t.Errorf("replicas = %d, want sharding.replicas, 3", deref(spec.Replicas))
	}
	if spec.PodManagementPolicy != appsv1.ParallelPodManagement {
		t.Errorf("podManagementPolicy = %q, want Parallel", spec.PodManagementPolicy)
	}
	if spec.UpdateStrategy.Type != appsv1.RollingUpdateStatefulSetStrategyType {
		t.Errorf("updateStrategy = %q, want RollingUpdate", spec.UpdateStrategy.Type)
	}
	if p := spec.PersistentVolumeClaimRetentionPolicy; p == nil ||
		p.WhenScaled != appsv1.RetainPersistentVolumeClaimRetentionPolicyType ||
		p.WhenDeleted != appsv1.RetainPersistentVolumeClaimRetentionPolicyType {
		t.Errorf("persistentVolumeClaimRetentionPolicy = %+v, want Retain on scale-down and on delete", p)
	}
	sel, err := metav1.LabelSelectorAsSelector(spec.Selector)
	if err != nil {
		t.Fatal(err)
	}
	if !sel.Matches(labels.Set(spec.Template.Labels)) {
		t.Errorf("selector %v does not match the pod's labels %v", sel, spec.Template.Labels)
	}

	t.Run("headless service", func(t *testing.T) {
		var svc *corev1.Service
		for _, s := range all[*corev1.Service](ms) {
			if s.Name == spec.ServiceName {
				svc = s
			}
		}
		if svc == nil {
			t.Fatalf("serviceName %q names no rendered Service", spec.ServiceName)
		}
		if svc.Spec.ClusterIP != corev1.ClusterIPNone || len(svc.Spec.Ports) != 0 {
			t.Errorf("Service %s: clusterIP %q, ports %v; want headless, without ports", svc.Name, svc.Spec.ClusterIP, svc.Spec.Ports)
		}
		if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(spec.Template.Labels)) {
			t.Errorf("Service %s selects %v, not the pods", svc.Name, svc.Spec.Selector)
		}
	})

	t.Run("each replica's claim", func(t *testing.T) {
		if len(spec.VolumeClaimTemplates) != 1 {
			t.Fatalf("%d volumeClaimTemplates, want 1", len(spec.VolumeClaimTemplates))
		}
		claim := spec.VolumeClaimTemplates[0]
		if claim.Name != "data" {
			t.Errorf("claim template %q, want data", claim.Name)
		}
		if got := deref(claim.Spec.StorageClassName); got != "fast-ssd" {
			t.Errorf("storageClassName = %q, want persistence.storageClass", got)
		}
		if got := claim.Spec.Resources.Requests.Storage().String(); got != "20Gi" {
			t.Errorf("storage = %s, want persistence.size", got)
		}
		if diff := cmp.Diff([]corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce}, claim.Spec.AccessModes); diff != "" {
			t.Errorf("accessModes (-want +got):\n%s", diff)
		}
		if claim.Annotations["backup.example.com/schedule"] != "daily" {
			t.Errorf("annotations %v lack persistence.annotations", claim.Annotations)
		}
		// A StatefulSet's claim templates cannot be changed: a label that
		// moves with the chart version would fail every upgrade.
		if diff := cmp.Diff(spec.Selector.MatchLabels, claim.Labels); diff != "" {
			t.Errorf("claim labels are not just the selector labels (-selector +claim):\n%s", diff)
		}
		c := spec.Template.Spec.Containers[0]
		m, ok := mountAt(c, dataDir)
		if !ok || m.Name != claim.Name || m.ReadOnly {
			t.Errorf("mount at %s = %+v, want the claim template %q, writable", dataDir, m, claim.Name)
		}
		for _, v := range spec.Template.Spec.Volumes {
			if v.Name == claim.Name {
				t.Errorf("the pod has a volume %q of its own (%+v), which would shadow the claim template", v.Name, v.VolumeSource)
			}
		}
		// The agent's chain state and evidence are where the claim is.
		cfg := agentConfig(t, ms)
		for _, path := range [][]string{{"state_dir"}, {"exporters", "directory", "path"}} {
			if got := scalar(t, cfg, path...); !strings.HasPrefix(got, m.MountPath+"/") {
				t.Errorf("%s = %q, not on the replica's claim at %s", strings.Join(path, "."), got, m.MountPath)
			}
		}
	})

	t.Run("shard from the pod's ordinal", func(t *testing.T) {
		c := spec.Template.Spec.Containers[0]
		want := []string{"run", "--config", configPath, "--grace", "45s", "--shard-index=$(EUCS_SHARD_INDEX)", "--shard-count=3"}
		if !slices.Equal(c.Args, want) {
			t.Errorf("args = %q, want %q", c.Args, want)
		}
		if len(c.Env) == 0 {
			t.Fatal("no env")
		}
		// Last, after extraEnv: for duplicate names the last one wins.
		e := c.Env[len(c.Env)-1]
		if e.Name != shardEnv || e.ValueFrom == nil || e.ValueFrom.FieldRef == nil || e.ValueFrom.FieldRef.FieldPath != podIndexField {
			t.Errorf("last env %+v, want %s from the downward API's %s", e, shardEnv, podIndexField)
		}
		if !slices.ContainsFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "AWS_REGION" }) {
			t.Error("extraEnv is lost")
		}
	})

	t.Run("same pod as the Deployment's", func(t *testing.T) {
		pod := spec.Template
		if len(pod.Annotations["checksum/config"]) != 64 {
			t.Errorf("checksum/config = %q, want a sha256: a changed config must roll the replicas", pod.Annotations["checksum/config"])
		}
		if pod.Spec.ServiceAccountName != release || deref(pod.Spec.AutomountServiceAccountToken) {
			t.Errorf("serviceAccountName %q, automount %v; want %s without an API token", pod.Spec.ServiceAccountName, deref(pod.Spec.AutomountServiceAccountToken), release)
		}
		c := pod.Spec.Containers[0]
		if c.LivenessProbe == nil || c.ReadinessProbe == nil {
			t.Error("no probes")
		}
		if v := volume(t, &pod, "signing-key").Secret; v == nil || v.SecretName != "eucs-agent-signing-key" {
			t.Errorf("signing-key volume %+v, want signingKey.existingSecret", v)
		}
		eval, err := policy.NewEvaluator(policy.DefaultChecks(), nil)
		if err != nil {
			t.Fatal(err)
		}
		lv := api.LevelVersion{Level: api.LevelRestricted, Version: api.LatestVersion()}
		for _, r := range eval.EvaluatePod(lv, &pod.ObjectMeta, &pod.Spec) {
			if !r.Allowed {
				t.Errorf("restricted Pod Security Standard: %s (%s)", r.ForbiddenReason, r.ForbiddenDetail)
			}
		}
	})
}

func TestShardedValues(t *testing.T) {
	t.Run("replicas set the count", func(t *testing.T) {
		sts := one[*appsv1.StatefulSet](t, renderScenario(t, "sharded", "--set", "sharding.replicas=5"))
		if deref(sts.Spec.Replicas) != 5 {
			t.Errorf("replicas = %d, want 5", deref(sts.Spec.Replicas))
		}
		if args := sts.Spec.Template.Spec.Containers[0].Args; !slices.Contains(args, "--shard-count=5") {
			t.Errorf("args %q lack --shard-count=5", args)
		}
	})
	t.Run("a replica count alone does not shard", func(t *testing.T) {
		ms := renderScenario(t, "default", "--set", "sharding.replicas=5")
		one[*appsv1.Deployment](t, ms)
		one[*corev1.PersistentVolumeClaim](t, ms)
		if n := len(all[*appsv1.StatefulSet](ms)); n != 0 {
			t.Errorf("rendered %d StatefulSets without sharding.enabled", n)
		}
	})
	t.Run("claims go with the release when asked", func(t *testing.T) {
		sts := one[*appsv1.StatefulSet](t, renderScenario(t, "sharded", "--set", "persistence.keepOnUninstall=false,persistence.storageClass=-"))
		p := sts.Spec.PersistentVolumeClaimRetentionPolicy
		if p.WhenDeleted != appsv1.DeletePersistentVolumeClaimRetentionPolicyType || p.WhenScaled != appsv1.RetainPersistentVolumeClaimRetentionPolicyType {
			t.Errorf("persistentVolumeClaimRetentionPolicy = %+v, want Delete on delete, still Retain on scale-down", p)
		}
		if got := sts.Spec.VolumeClaimTemplates[0].Spec.StorageClassName; got == nil || *got != "" {
			t.Errorf("storageClassName = %v, want \"\"", got)
		}
	})
	t.Run("names fit", func(t *testing.T) {
		long := strings.Repeat("a", 63)
		ms := renderScenario(t, "sharded", "--set", "fullnameOverride="+long)
		sts := one[*appsv1.StatefulSet](t, ms)
		// The controller labels pods controller-revision-hash=NAME-HASH
		// (up to 11 characters of it), a label value of at most 63.
		if len(sts.Name) > 52 {
			t.Errorf("StatefulSet name %q is %d characters, want at most 52", sts.Name, len(sts.Name))
		}
		if len(sts.Spec.ServiceName) > 63 || !strings.HasSuffix(sts.Spec.ServiceName, "-shards") {
			t.Errorf("serviceName %q, want at most 63 characters ending in -shards", sts.Spec.ServiceName)
		}
	})
}

// failMessage is what a template's `fail` told the user: helm prints it
// after "execution error at (FILE:LINE:COL): ".
func failMessage(err error) string {
	if err == nil {
		return ""
	}
	_, msg, ok := strings.Cut(err.Error(), "execution error at (")
	if !ok {
		return ""
	}
	_, msg, _ = strings.Cut(msg, "): ")
	msg, _, _ = strings.Cut(msg, "\n")
	return msg
}

func TestShardedRefusesWhatWouldBreakTheChains(t *testing.T) {
	const fromChart = "leave it out with sharding.enabled; the chart gives each replica its shard (--shard-index is the pod's ordinal, --shard-count is sharding.replicas)"
	tests := []struct {
		name string
		args []string
		want string
	}{
		{
			name: "shard in the config",
			args: []string{"--set", "config.shard.index=0,config.shard.count=3"},
			want: "config.shard: " + fromChart,
		},
		{
			name: "shard in a collector",
			args: []string{"--set", "config.collectors.aws.shard.index=1,config.collectors.aws.shard.count=3"},
			want: "config.collectors.aws.shard: " + fromChart,
		},
		{
			name: "no persistence",
			args: []string{"--set", "persistence.enabled=false"},
			want: "persistence.enabled: must be true with sharding.enabled; each replica keeps its chain on a claim of its own, which an emptyDir would lose with the pod",
		},
		{
			name: "one claim for all",
			args: []string{"--set", "persistence.existingClaim=evidence-archive"},
			want: "persistence.existingClaim: cannot be used with sharding.enabled; every replica needs a claim of its own, which the StatefulSet makes from persistence.storageClass, accessModes and size",
		},
		{
			name: "no pod-index label before Kubernetes 1.28",
			args: []string{"--kube-version", "1.27.9"},
			want: "sharding.enabled: needs Kubernetes 1.28 or later, which labels each StatefulSet pod with its ordinal (apps.kubernetes.io/pod-index); this cluster is v1.27.9",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := templateOut(append([]string{"-f", valuesFile("sharded")}, tt.args...)...)
			if got := failMessage(err); got != tt.want {
				t.Errorf("fail message\n got: %q\nwant: %q\n(err = %v)", got, tt.want, err)
			}
		})
	}
	t.Run("Kubernetes 1.28 is enough", func(t *testing.T) {
		one[*appsv1.StatefulSet](t, renderScenario(t, "sharded", "--kube-version", "1.28.0"))
	})
	t.Run("a shard in an unsharded release is the agent's business", func(t *testing.T) {
		one[*appsv1.Deployment](t, renderScenario(t, "default", "--set", "config.shard.index=0,config.shard.count=3"))
	})
	for _, tt := range []struct{ value, want string }{
		// One replica would keep the unsharded chain, which its claim could
		// not continue as shard-0 once scaled up.
		{"1", "- at '/sharding/replicas': minimum: got 1, want 2"},
		{"0", "- at '/sharding/replicas': minimum: got 0, want 2"},
		{"three", "- at '/sharding/replicas': got string, want integer"},
	} {
		t.Run("replicas "+tt.value, func(t *testing.T) {
			_, err := templateOut("-f", valuesFile("sharded"), "--set", "sharding.replicas="+tt.value)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want the schema to say %q", err, tt.want)
			}
		})
	}
}

// varRef is Kubernetes' $(VAR) reference in a container's args.
var varRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

func TestShardArgsAreTheAgentsFlags(t *testing.T) {
	// The agent takes the args the kubelet would give pod i, after $(VAR)
	// expansion. It checks its flags, the shard among them, before it reads
	// its config, so each replica gets as far as the (here missing) file,
	// and an ordinal past the count is refused.
	bin, err := agentBinary()
	if err != nil {
		t.Fatal(err)
	}
	sts := one[*appsv1.StatefulSet](t, renderScenario(t, "sharded"))
	c := sts.Spec.Template.Spec.Containers[0]
	n := int(deref(sts.Spec.Replicas))
	missing := filepath.Join(t.TempDir(), "agent.yaml")
	for i := range n + 1 {
		name := fmt.Sprintf("ordinal %d", i)
		if i == n {
			name = "ordinal past the count"
		}
		t.Run(name, func(t *testing.T) {
			env := map[string]string{}
			for _, e := range c.Env {
				switch {
				case e.ValueFrom == nil:
					env[e.Name] = e.Value
				case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == podIndexField:
					env[e.Name] = strconv.Itoa(i)
				}
			}
			var args []string
			for _, a := range c.Args {
				a = varRef.ReplaceAllStringFunc(a, func(ref string) string {
					name := varRef.FindStringSubmatch(ref)[1]
					v, ok := env[name]
					if !ok {
						t.Errorf("arg %q refers to $(%s), which the container's env does not define", a, name)
					}
					return v
				})
				args = append(args, a)
			}
			at := slices.Index(args, "--config")
			if at < 0 || at+1 == len(args) {
				t.Fatalf("args %q have no --config", args)
			}
			args[at+1] = missing
			out, err := exec.Command(bin, args...).CombinedOutput()
			if err == nil {
				t.Fatalf("eucs-agent %q ran without its config:\n%s", args, out)
			}
			want := "read config: open " + missing
			if i == n {
				want = fmt.Sprintf("run: --shard-index: must be from 0 to count-1 (%d), got %d", n-1, n)
			}
			if !strings.Contains(string(out), want) {
				t.Errorf("eucs-agent %q says\n%s\nwant %q", args, out, want)
			}
		})
	}
}

func TestShardedMetricsAndNetworkPolicy(t *testing.T) {
	ms := renderScenario(t, "sharded")
	pod := labels.Set(one[*appsv1.StatefulSet](t, ms).Spec.Template.Labels)
	// What the StatefulSet controller adds to every pod it makes.
	pod["apps.kubernetes.io/pod-index"] = "2"
	pod["statefulset.kubernetes.io/pod-name"] = release + "-2"
	pod["controller-revision-hash"] = release + "-5d4f8b7c9"

	sm := one[*monitoringv1.ServiceMonitor](t, ms)
	sel, err := metav1.LabelSelectorAsSelector(&sm.Spec.Selector)
	if err != nil {
		t.Fatal(err)
	}
	// Each replica is scraped once: through the metrics Service only, not
	// again through the headless one that carries the same labels.
	var scraped []string
	for _, svc := range all[*corev1.Service](ms) {
		if sel.Matches(labels.Set(svc.Labels)) {
			scraped = append(scraped, svc.Name)
			if !labels.SelectorFromSet(svc.Spec.Selector).Matches(pod) {
				t.Errorf("Service %s selects %v, not the replicas", svc.Name, svc.Spec.Selector)
			}
		}
	}
	if diff := cmp.Diff([]string{release}, scraped); diff != "" {
		t.Errorf("Services the ServiceMonitor selects (-want +got):\n%s", diff)
	}

	np := one[*networkingv1.NetworkPolicy](t, ms)
	npSel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
	if err != nil {
		t.Fatal(err)
	}
	if !npSel.Matches(pod) {
		t.Errorf("NetworkPolicy selects %v, not the replicas (%v)", npSel, pod)
	}
}

func TestShardedNotes(t *testing.T) {
	notes := renderNotes(t, "-f", valuesFile("sharded"))
	for _, want := range []string{
		"runs one agent per shard, 3 in all",
		`signs them into a chain of its own, "shard-<i>"`,
		"kubectl -n evidence logs eucs-agent-0 -f",
		"data-eucs-agent-0 to data-eucs-agent-2, into its own chain, shard-0 to shard-2.",
		"Auditors verify each replica's evidence separately",
		"  for i in $(seq 0 2); do\n    eucs-agent verify --key key.pub shard-$i/evidence/bundle-*.dsse.json\n  done",
		"keep every replica's claim",
		"`helm uninstall` keeps the claims data-eucs-agent-*",
	} {
		if !strings.Contains(notes, want) {
			t.Errorf("NOTES do not say %q:\n%s", want, notes)
		}
	}
	for _, unwanted := range []string{"deploy/", "claim eucs-agent-data"} {
		if strings.Contains(notes, unwanted) {
			t.Errorf("NOTES of a sharded release mention %q, which it does not have:\n%s", unwanted, notes)
		}
	}
}
