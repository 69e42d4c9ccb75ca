package tests

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
)

const (
	chartDir  = ".."
	repoRoot  = "../../.."
	release   = "eucs-agent"
	namespace = "evidence"
)

// helmPath is the helm binary every test renders with.
var helmPath string

func TestMain(m *testing.M) {
	os.Exit(runTests(m))
}

func runTests(m *testing.M) int {
	helmPath = os.Getenv("HELM")
	if helmPath == "" {
		p, err := exec.LookPath("helm")
		if err != nil {
			fmt.Fprintln(os.Stderr, "helm not found: run charts/eucs-agent/tests/run.sh, or set HELM to a helm v3 binary")
			return 1
		}
		helmPath = p
	}
	code := m.Run()
	if agentDir != "" {
		os.RemoveAll(agentDir)
	}
	return code
}

// scenarios returns the names of the chart's ci/*-values.yaml files, without
// the suffix: "default", "monitoring", ...
func scenarios(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(chartDir, "ci", "*-values.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no ci/*-values.yaml scenarios found (err %v)", err)
	}
	var names []string
	for _, f := range files {
		names = append(names, strings.TrimSuffix(filepath.Base(f), "-values.yaml"))
	}
	sort.Strings(names)
	return names
}

// valuesFile is the path of a scenario's values file.
func valuesFile(scenario string) string {
	return filepath.Join(chartDir, "ci", scenario+"-values.yaml")
}

// helm runs the helm CLI and returns its stdout, or an error carrying its
// stderr.
func helm(args ...string) (string, error) {
	cmd := exec.Command(helmPath, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	// No cluster: template and lint must work offline, and a developer's
	// kubeconfig must not change what renders.
	cmd.Env = append(os.Environ(), "KUBECONFIG="+os.DevNull)
	if err := cmd.Run(); err != nil {
		return stdout.String(), fmt.Errorf("helm %s: %w\n%s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.String(), nil
}

// templateOut renders the chart with extra helm arguments (-f FILE, --set
// KEY=VALUE) and returns the manifests as text.
func templateOut(args ...string) (string, error) {
	return helm(append([]string{"template", release, chartDir, "--namespace", namespace}, args...)...)
}

// manifest is one rendered Kubernetes object.
type manifest struct {
	// Source is the template that produced it, as helm's "# Source:"
	// comment names it.
	Source string
	Raw    []byte
	Object runtime.Object
}

// render renders the chart and decodes every manifest strictly.
func render(t *testing.T, args ...string) []manifest {
	t.Helper()
	out, err := templateOut(args...)
	if err != nil {
		t.Fatal(err)
	}
	ms, err := decodeAll(out)
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

// renderScenario renders one ci/ scenario, with extra arguments after it.
func renderScenario(t *testing.T, scenario string, args ...string) []manifest {
	t.Helper()
	return render(t, append([]string{"-f", valuesFile(scenario)}, args...)...)
}

// decoder decodes strictly: an unknown or duplicated field is an error, as
// it would be for `kubectl apply --validate=strict`.
var decoder = sync.OnceValue(func() runtime.Decoder {
	s := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{
		corev1.AddToScheme, appsv1.AddToScheme, networkingv1.AddToScheme, monitoringv1.AddToScheme,
	} {
		if err := add(s); err != nil {
			panic(err) // only a broken scheme registration can fail here
		}
	}
	return serializer.NewCodecFactory(s, serializer.EnableStrict).UniversalDeserializer()
})

// decodeAll splits helm's output into documents and decodes each strictly
// into its API type.
func decodeAll(out string) ([]manifest, error) {
	r := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(out)))
	var ms []manifest
	var errs []error
	for {
		raw, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("split manifests: %w", err)
		}
		source, empty := "", true
		for _, line := range strings.Split(string(raw), "\n") {
			line = strings.TrimSpace(line)
			if s, ok := strings.CutPrefix(line, "# Source: "); ok {
				source = s
			}
			if line != "" && line != "---" && !strings.HasPrefix(line, "#") {
				empty = false
			}
		}
		if empty {
			continue
		}
		obj, _, err := decoder().Decode(raw, nil, nil)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", source, err))
			continue
		}
		ms = append(ms, manifest{Source: source, Raw: raw, Object: obj})
	}
	if len(ms) == 0 && len(errs) == 0 {
		return nil, errors.New("helm rendered no manifests")
	}
	return ms, errors.Join(errs...)
}

// all returns the rendered objects of type T.
func all[T runtime.Object](ms []manifest) []T {
	var out []T
	for _, m := range ms {
		if o, ok := m.Object.(T); ok {
			out = append(out, o)
		}
	}
	return out
}

// one returns the single rendered object of type T.
func one[T runtime.Object](t *testing.T, ms []manifest) T {
	t.Helper()
	objs := all[T](ms)
	if len(objs) != 1 {
		var zero T
		t.Fatalf("rendered %d objects of type %T, want 1", len(objs), zero)
	}
	return objs[0]
}

// kinds lists "Kind name" for every manifest, sorted.
func kinds(ms []manifest) []string {
	var out []string
	for _, m := range ms {
		gvk := m.Object.GetObjectKind().GroupVersionKind()
		out = append(out, gvk.Kind)
	}
	sort.Strings(out)
	return out
}

// agentDir holds the eucs-agent binary built for the config tests.
var agentDir string

// agentBinary builds cmd/eucs-agent from the repository once, or takes
// $EUCS_AGENT when the caller already built it.
var agentBinary = sync.OnceValues(func() (string, error) {
	if p := os.Getenv("EUCS_AGENT"); p != "" {
		return p, nil
	}
	dir, err := os.MkdirTemp("", "eucs-agent-chart-test-")
	if err != nil {
		return "", err
	}
	agentDir = dir
	bin := filepath.Join(dir, "eucs-agent")
	root, err := filepath.Abs(repoRoot)
	if err != nil {
		return "", err
	}
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/eucs-agent")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("build eucs-agent in %s: %w\n%s", root, err, out)
	}
	return bin, nil
})
