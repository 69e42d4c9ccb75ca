package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/api/option"

	"github.com/eucs-agent/eucs-agent/internal/config"
	"github.com/eucs-agent/eucs-agent/internal/sim/awssim"
	"github.com/eucs-agent/eucs-agent/internal/sim/gcpsim"
	"github.com/eucs-agent/eucs-agent/internal/telemetry"
)

// simConfig writes an agent.yaml for one simulated AWS account and returns
// its path; the ambient credentials are the account's.
func simConfig(t *testing.T, telemetry string) string {
	t.Helper()
	estate := &awssim.Estate{
		Regions: []string{"eu-west-1"},
		Accounts: []*awssim.Account{{
			ID: "111111111111", RootMFA: true,
			Regions: map[string]*awssim.Region{"eu-west-1": {Name: "eu-west-1"}},
		}},
	}
	sim := awssim.NewServer(estate)
	sim.Inject(awssim.Fault{Service: "kms", Kind: awssim.Throttle})
	srv := sim.Start()
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	if code, _, stderr := runCmd(t, "keygen", "--out", dir); code != exitOK {
		t.Fatal(stderr)
	}
	cfg := fmt.Sprintf(`service: Telemetry Test
state_dir: %s
signing:
  key: %s
collectors:
  aws:
    regions: [eu-west-1]
    endpoint_url: %s
    s3_path_style: true
    max_attempts: 1
exporters:
  directory:
    path: %s
log:
  level: warn
%s`, filepath.Join(dir, "state"), filepath.Join(dir, "key.pem"), srv.URL, filepath.Join(dir, "evidence"), telemetry)
	path := filepath.Join(dir, "agent.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_ACCESS_KEY_ID", awssim.AccessKeyFor(estate.Accounts[0].ID))
	t.Setenv("AWS_SECRET_ACCESS_KEY", "sim-secret-value")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", filepath.Join(dir, "no-config"))
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", filepath.Join(dir, "no-credentials"))
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	return path
}

func TestCollectWritesTheRunsMetricsFile(t *testing.T) {
	cfg := simConfig(t, "")
	file := filepath.Join(t.TempDir(), "eucs_agent.prom")
	code, stdout, stderr := runCmd(t, "collect", "--config", cfg, "--metrics-file", file)
	if code != exitOK {
		t.Fatalf("collect: exit %d\n%s%s", code, stdout, stderr)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	for _, want := range []string{
		`eucs_agent_runs_total{outcome="success"} 1`,
		`eucs_agent_chain_sequence 1`,
		`eucs_agent_api_calls_total{provider="aws",service="s3"} `,
		`eucs_agent_api_throttles_total{provider="aws",service="kms"} `,
		`eucs_agent_findings_not_assessed_total{reason="throttled"} `,
		`eucs_agent_collector_success{collector="aws"} 1`,
	} {
		if !strings.Contains(text, want) {
			t.Errorf("metrics file lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "sim-secret-value") {
		t.Error("the secret access key reached the metrics")
	}
}

func TestCollectLingersServingMetrics(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := simConfig(t, fmt.Sprintf("telemetry:\n  listen: %q\n", addr))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan int)
	var stdout, stderr bytes.Buffer
	go func() { done <- run(ctx, []string{"collect", "--config", cfg, "--linger", "1m"}, &stdout, &stderr) }()

	// The run is short; poll until its figures are served, then end the
	// linger as SIGTERM would.
	deadline := time.Now().Add(30 * time.Second)
	var body string
	for time.Now().Before(deadline) && !strings.Contains(body, `eucs_agent_runs_total{outcome="success"} 1`) {
		if resp, err := http.Get("http://" + addr + "/metrics"); err == nil {
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			body = string(b)
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel()
	if code := <-done; code != exitOK {
		t.Fatalf("collect: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	if !strings.Contains(body, `eucs_agent_runs_total{outcome="success"} 1`) {
		t.Fatalf("/metrics during the linger never showed the run:\n%s", body)
	}
	if _, err := http.Get("http://" + addr + "/healthz"); err == nil {
		t.Error("the server still answers after collect returned")
	}
}

func TestAzureServiceIsTheProviderNamespace(t *testing.T) {
	for path, want := range map[string]string{
		"/subscriptions/s1/providers/Microsoft.Storage/storageAccounts":                                     "microsoft.storage",
		"/subscriptions/s1/resourceGroups/g/providers/Microsoft.Sql/servers/x/providers/Microsoft.Security": "microsoft.security",
		"/subscriptions": "resources",
	} {
		if got := azureService(path); got != want {
			t.Errorf("azureService(%q) = %q, want %q", path, got, want)
		}
	}
}

// TestGCPCallsReachTheMetrics wires a GCP-only agent with telemetry as
// `collect` does and checks that the collector's attempts and throttles
// are counted in eucs_agent_api_* by service.
func TestGCPCallsReachTheMetrics(t *testing.T) {
	estate := gcpsim.Demo()
	sim := gcpsim.NewServer(estate)
	sim.Inject(gcpsim.Fault{Service: "compute", Method: "firewalls.list", Kind: gcpsim.Throttle, Times: 1})
	srv := sim.Start()
	t.Cleanup(srv.Close)
	dir := t.TempDir()
	if code, _, stderr := runCmd(t, "keygen", "--out", dir); code != exitOK {
		t.Fatal(stderr)
	}
	cfg, err := config.Parse([]byte(fmt.Sprintf(`service: GCP Telemetry Test
state_dir: %s
signing: {key: %s}
collectors:
  gcp: {organization: %q, endpoint: %s, max_attempts: 2}
exporters:
  directory: {path: %s}
`, filepath.Join(dir, "state"), filepath.Join(dir, "key.pem"), estate.Organization, srv.URL, filepath.Join(dir, "evidence"))))
	if err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	tel, err := telemetry.Setup(context.Background(), cfg.Telemetry, version, log)
	if err != nil {
		t.Fatal(err)
	}
	defer shutdownTelemetry(context.Background(), tel, log)
	a, err := buildAgent(context.Background(), cfg, sources{tel: tel, gcpOptions: []option.ClientOption{option.WithoutAuthentication()}}, log)
	if err != nil {
		t.Fatal(err)
	}
	instrument(a, cfg, tel)
	if _, err := a.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "metrics.prom")
	if err := tel.WriteMetrics(file); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		fmt.Sprintf(`eucs_agent_api_calls_total{provider="gcp",service="compute"} %d`, sim.Calls("compute", "")),
		fmt.Sprintf(`eucs_agent_api_calls_total{provider="gcp",service="cloudkms"} %d`, sim.Calls("cloudkms", "")),
		`eucs_agent_api_throttles_total{provider="gcp",service="compute"} 1`,
	} {
		if !strings.Contains(string(data), want+"\n") {
			t.Errorf("metrics lack %q:\n%s", want, data)
		}
	}
}

// TestTheChainSequenceIsReportedFromTheStart checks that an agent started
// on an existing chain reports where the chain stands before its first run.
func TestTheChainSequenceIsReportedFromTheStart(t *testing.T) {
	cfg := simConfig(t, "")
	for range 2 {
		if code, _, stderr := runCmd(t, "collect", "--config", cfg); code != exitOK {
			t.Fatal(stderr)
		}
	}
	var stderr bytes.Buffer
	_, _, tel, log, ok := loadAgent(context.Background(), cfg, config.Overrides{}, &stderr)
	if !ok {
		t.Fatal(stderr.String())
	}
	defer shutdownTelemetry(context.Background(), tel, log)
	file := filepath.Join(t.TempDir(), "metrics.prom")
	if err := tel.WriteMetrics(file); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), "eucs_agent_chain_sequence 2\n") {
		t.Errorf("metrics before the first run lack the chain sequence 2:\n%s", data)
	}
}
