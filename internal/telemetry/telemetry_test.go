package telemetry

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/eucs-agent/eucs-agent/collectors"
	"github.com/eucs-agent/eucs-agent/controls"
	"github.com/eucs-agent/eucs-agent/exporters"
	"github.com/eucs-agent/eucs-agent/exporters/directory"
	"github.com/eucs-agent/eucs-agent/internal/agent"
	"github.com/eucs-agent/eucs-agent/internal/bundle"
	"github.com/eucs-agent/eucs-agent/internal/finding"
	"go.opentelemetry.io/otel/trace"
)

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

// fakeCollector emits fixed findings; it opens one scope span below the
// collector's, as the AWS collector does, so that the test sees the span
// context travel through the agent.
type fakeCollector struct {
	findings []finding.Finding
}

func (c *fakeCollector) Name() string { return "fake" }

func (c *fakeCollector) Collect(ctx context.Context, sink finding.Sink) error {
	_, span := trace.SpanFromContext(ctx).TracerProvider().Tracer("fake").Start(ctx, "fake.scope")
	defer span.End()
	for _, f := range c.findings {
		if err := sink.Finding(ctx, f); err != nil {
			return err
		}
	}
	return nil
}

// fakeOutbox queues bundles: a Queue that can also be full and flushed.
type fakeOutbox struct {
	depth    int
	flushErr error
}

func (o *fakeOutbox) Name() string                                   { return "outbox" }
func (o *fakeOutbox) Export(context.Context, exporters.Bundle) error { o.depth++; return nil }
func (o *fakeOutbox) Depth() int                                     { return o.depth }
func (o *fakeOutbox) Full() bool                                     { return o.depth >= 2 }
func (o *fakeOutbox) Flush(context.Context) error {
	if o.flushErr != nil {
		return o.flushErr
	}
	o.depth = 0
	return nil
}

// failing is an exporter whose every export fails.
type failing struct{}

func (failing) Name() string { return "failing" }
func (failing) Export(context.Context, exporters.Bundle) error {
	return errors.New("receiver unreachable")
}

func findings() []finding.Finding {
	mk := func(res string, st finding.Status, r finding.Reason) finding.Finding {
		return finding.Finding{Check: "aws.s3.versioning", Provider: "aws", Account: "111111111111", Region: "eu-west-1",
			Service: "s3", Resource: res, Status: st, Reason: r}
	}
	return []finding.Finding{
		mk("arn:aws:s3:::a", finding.Pass, ""),
		mk("arn:aws:s3:::b", finding.Pass, ""),
		mk("arn:aws:s3:::c", finding.Fail, ""),
		mk("arn:aws:s3:::d", finding.NotAssessed, finding.Throttled),
		mk("arn:aws:s3:::e", finding.NotAssessed, finding.AccessDenied),
		mk("arn:aws:s3:::f", finding.NotAssessed, finding.AccessDenied),
	}
}

// newAgent wires a real agent (real mapping, sealing and signing) around a
// fake collector, reporting to tel.
func newAgent(t *testing.T, tel *Telemetry, exps ...exporters.Exporter) *agent.Agent {
	t.Helper()
	dir := t.TempDir()
	set, err := controls.Load()
	if err != nil {
		t.Fatal(err)
	}
	priv, _, err := bundle.GenerateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := bundle.LoadFileSigner(priv)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := directory.New(directory.Config{Path: filepath.Join(dir, "evidence")})
	if err != nil {
		t.Fatal(err)
	}
	a := &agent.Agent{
		Service: "test", Level: controls.High, Version: "test",
		Collectors: []collectors.Collector{&fakeCollector{findings: findings()}},
		Set:        set, Signer: signer, Evidence: ev, Exporters: exps, StateDir: filepath.Join(dir, "state"), Log: discard,
		Observer: tel, Tracer: tel.Tracer(),
	}
	for _, e := range exps {
		if q, ok := e.(Queue); ok {
			tel.WatchQueue(e.Name(), q)
		}
	}
	return a
}

func setup(t *testing.T, cfg Config) *Telemetry {
	t.Helper()
	cfg.SetDefaults()
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	tel, err := Setup(context.Background(), cfg, "1.2.3", discard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tel.Shutdown(context.Background()) })
	return tel
}

// get fetches path from h and returns the status and body.
func get(t *testing.T, h http.Handler, path string) (int, string) {
	t.Helper()
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	return rec.Code, rec.Body.String()
}

// sample returns the value of the metric line that starts with series in
// a Prometheus text exposition, or "" if there is none.
func sample(exposition, series string) string {
	for _, line := range strings.Split(exposition, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			return v
		}
	}
	return ""
}

func TestMetricsShowTheRunsFigures(t *testing.T) {
	tel := setup(t, Config{})
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	tel.now = func() time.Time { return at }
	outbox := &fakeOutbox{flushErr: errors.New("receiver down")}
	a := newAgent(t, tel, outbox, failing{})
	for range 2 {
		if _, err := a.RunOnce(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	a.Flush(context.Background())
	tel.APICall("aws", "s3", false)
	tel.APICall("aws", "s3", true)
	tel.APICall("aws", "iam", false)

	srv := httptest.NewServer(tel.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	body := string(raw)
	want := map[string]string{
		`eucs_agent_runs_total{outcome="success"}`:                                    "2",
		`eucs_agent_run_duration_seconds_count{outcome="success"}`:                    "2",
		`eucs_agent_findings_total{status="pass"}`:                                    "4",
		`eucs_agent_findings_total{status="fail"}`:                                    "2",
		`eucs_agent_findings_total{status="not_assessed"}`:                            "6",
		`eucs_agent_findings_not_assessed_total{reason="throttled"}`:                  "2",
		`eucs_agent_findings_not_assessed_total{reason="access_denied"}`:              "4",
		`eucs_agent_chain_sequence`:                                                   "2",
		`eucs_agent_last_successful_run_timestamp_seconds`:                            "1.7961192e+09",
		`eucs_agent_collector_success{collector="fake"}`:                              "1",
		`eucs_agent_outbox_depth{exporter="outbox"}`:                                  "2",
		`eucs_agent_outbox_full{exporter="outbox"}`:                                   "1",
		`eucs_agent_exports_total{exporter="directory",outcome="success"}`:            "2",
		`eucs_agent_exports_total{exporter="failing",outcome="failure"}`:              "2",
		`eucs_agent_exports_total{exporter="outbox",outcome="failure"}`:               "1",
		`eucs_agent_last_successful_delivery_timestamp_seconds{exporter="directory"}`: "1.7961192e+09",
		`eucs_agent_api_calls_total{provider="aws",service="s3"}`:                     "2",
		`eucs_agent_api_throttles_total{provider="aws",service="s3"}`:                 "1",
		`eucs_agent_api_calls_total{provider="aws",service="iam"}`:                    "1",
	}
	for series, v := range want {
		if got := sample(body, series); got != v {
			t.Errorf("%s = %q, want %q", series, got, v)
		}
	}
	// Queued is not delivered: the outbox's exports and its failed flush
	// leave no delivery time.
	for _, never := range []string{
		`eucs_agent_last_successful_delivery_timestamp_seconds{exporter="outbox"}`,
		`eucs_agent_last_successful_delivery_timestamp_seconds{exporter="failing"}`,
	} {
		if got := sample(body, never); got != "" {
			t.Errorf("%s = %s, want no delivery recorded", never, got)
		}
	}
	if t.Failed() {
		t.Logf("/metrics:\n%s", body)
	}
}

func TestFailedRunIsCountedWithoutFindings(t *testing.T) {
	tel := setup(t, Config{})
	tel.RunFinished(nil, 3*time.Second, errors.New("collector aws: keep finding: disk full"))
	tel.RunFinished(nil, time.Second, context.Canceled)
	_, body := get(t, tel.Handler(), "/metrics")
	for series, v := range map[string]string{
		`eucs_agent_runs_total{outcome="failure"}`:   "1",
		`eucs_agent_runs_total{outcome="cancelled"}`: "1",
	} {
		if got := sample(body, series); got != v {
			t.Errorf("%s = %q, want %q", series, got, v)
		}
	}
	if strings.Contains(body, "eucs_agent_findings_total{") || strings.Contains(body, "eucs_agent_last_successful_run_timestamp_seconds ") {
		t.Errorf("a failed run left findings or a success time:\n%s", body)
	}
}

func TestWriteMetricsKeepsOnlyTheAgentsOwn(t *testing.T) {
	tel := setup(t, Config{})
	if _, err := newAgent(t, tel).RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "eucs_agent.prom")
	if err := tel.WriteMetrics(path); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	text := string(data)
	if got := sample(text, `eucs_agent_findings_total{status="pass"}`); got != "2" {
		t.Errorf("pass findings %q in:\n%s", got, text)
	}
	for _, line := range strings.Split(text, "\n") {
		if line != "" && !strings.HasPrefix(line, "#") && !strings.HasPrefix(line, "eucs_agent_") {
			t.Errorf("metrics file holds %q; only eucs_agent_* belong there", line)
		}
	}
}

// hourly is a schedule that runs at the top of every hour.
type hourly struct{}

func (hourly) Next(t time.Time) time.Time { return t.Truncate(time.Hour).Add(time.Hour) }

func TestReadyzFollowsKeyAndLastRun(t *testing.T) {
	tel := setup(t, Config{})
	start := time.Date(2026, 12, 1, 10, 5, 0, 0, time.UTC)
	now := start
	tel.now = func() time.Time { return now }
	tel.ready.started = start
	h := tel.Handler()

	expect := func(step string, code int, why map[string]string) {
		t.Helper()
		got, body := get(t, h, "/readyz")
		if got != code {
			t.Errorf("%s: /readyz %d, want %d: %s", step, got, code, body)
		}
		for check, fragment := range why {
			if !strings.Contains(body, fragment) {
				t.Errorf("%s: /readyz body %s does not say %q for %s", step, body, fragment, check)
			}
		}
	}
	if code, body := get(t, h, "/healthz"); code != http.StatusOK {
		t.Errorf("/healthz %d: %s", code, body)
	}
	expect("before the config is loaded", http.StatusServiceUnavailable, map[string]string{"config": `"config":"not loaded yet"`})

	var mu sync.Mutex
	keyErr := errors.New("load signing key /etc/eucs-agent/key.pem: no such file or directory")
	tel.SetReadiness(hourly{}, func() error { mu.Lock(); defer mu.Unlock(); return keyErr })
	expect("signing key unusable", http.StatusServiceUnavailable, map[string]string{"signing_key": "no such file or directory"})

	mu.Lock()
	keyErr = nil
	mu.Unlock()
	expect("key usable, no run yet, just started", http.StatusOK, map[string]string{"ready": `"ready":true`})

	now = start.Add(2*time.Hour + time.Minute)
	expect("no run for two periods since start", http.StatusServiceUnavailable, map[string]string{"last_run": "no run sealed"})

	tel.RunFinished(&agent.Summary{Sequence: 1}, time.Minute, nil)
	expect("after a sealed run", http.StatusOK, nil)

	tel.RunFinished(nil, time.Minute, errors.New("boom"))
	now = now.Add(2 * time.Hour)
	expect("failed runs, exactly two periods since the last sealed one", http.StatusOK, nil)

	now = now.Add(time.Second)
	expect("last sealed run older than two periods", http.StatusServiceUnavailable,
		map[string]string{"last_run": "more than two schedule periods"})

	tel.RunFinished(&agent.Summary{Sequence: 2}, time.Minute, nil)
	expect("a sealed run again", http.StatusOK, nil)
}

func TestSpansOfARun(t *testing.T) {
	tel := setup(t, Config{})
	rec := tracetest.NewSpanRecorder()
	tel.TracerProvider().RegisterSpanProcessor(rec)
	a := newAgent(t, tel, &fakeOutbox{}, failing{})
	if _, err := a.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	a.Flush(context.Background())

	spans := rec.Ended()
	byID := map[trace.SpanID]string{}
	for _, s := range spans {
		byID[s.SpanContext().SpanID()] = s.Name()
	}
	var got []string
	for _, s := range spans {
		parent := byID[s.Parent().SpanID()]
		if !s.Parent().IsValid() {
			parent = "-"
		}
		name := s.Name()
		for _, kv := range s.Attributes() {
			if kv.Key == "exporter" || kv.Key == "collector" {
				name += "(" + kv.Value.AsString() + ")"
			}
		}
		got = append(got, parent+" > "+name)
		if s.Name() == "eucs_agent.export" && strings.Contains(name, "failing") {
			if s.Status().Code.String() != "Error" || len(s.Events()) == 0 {
				t.Errorf("failed export span has status %v and %d events; want the error recorded", s.Status(), len(s.Events()))
			}
		}
	}
	slices.Sort(got)
	want := []string{
		"- > eucs_agent.flush(outbox)",
		"- > eucs_agent.run",
		"eucs_agent.collect > fake.scope",
		"eucs_agent.run > eucs_agent.collect(fake)",
		"eucs_agent.run > eucs_agent.export(directory)",
		"eucs_agent.run > eucs_agent.export(failing)",
		"eucs_agent.run > eucs_agent.export(outbox)",
		"eucs_agent.run > eucs_agent.seal",
	}
	if !slices.Equal(got, want) {
		t.Errorf("spans (parent > name):\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// otlpReceiver is a loopback OTLP/HTTP endpoint that records what arrives.
type otlpReceiver struct {
	mu       sync.Mutex
	requests map[string]int
	headers  []http.Header
}

func (r *otlpReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, _ := io.ReadAll(req.Body)
	r.mu.Lock()
	defer r.mu.Unlock()
	if req.Method == http.MethodPost && req.Header.Get("Content-Type") == "application/x-protobuf" && len(body) > 0 {
		r.requests[req.URL.Path]++
	}
	r.headers = append(r.headers, req.Header.Clone())
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.WriteHeader(http.StatusOK)
}

func TestOTLPPushesTracesAndMetricsWithoutLeakingTheToken(t *testing.T) {
	recv := &otlpReceiver{requests: map[string]int{}}
	srv := httptest.NewServer(recv)
	defer srv.Close()
	const token = "Bearer s3cr3t-otlp-token"
	t.Setenv("EUCS_TEST_OTLP_HEADERS", "Authorization="+token)
	tel := setup(t, Config{OTLP: &OTLP{Endpoint: srv.URL, Insecure: true, HeadersEnv: "EUCS_TEST_OTLP_HEADERS"}})
	spans := tracetest.NewSpanRecorder()
	tel.TracerProvider().RegisterSpanProcessor(spans)
	a := newAgent(t, tel, &fakeOutbox{})
	if _, err := a.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, exposition := get(t, tel.Handler(), "/metrics")
	// Shutdown pushes what is pending: the batch of spans and a last
	// collection of metrics.
	if err := tel.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	recv.mu.Lock()
	defer recv.mu.Unlock()
	for _, path := range []string{"/v1/traces", "/v1/metrics"} {
		if recv.requests[path] == 0 {
			t.Errorf("no protobuf POST arrived on %s (got %v)", path, recv.requests)
		}
	}
	for _, h := range recv.headers {
		if h.Get("Authorization") != token {
			t.Errorf("a request arrived without the configured header: %v", h)
		}
	}

	// Nothing secret in labels or attributes: only the keys we chose,
	// and never the token.
	if strings.Contains(exposition, "s3cr3t") {
		t.Error("/metrics shows the OTLP token")
	}
	allowed := []string{"service", "level", "run_id", "sequence", "findings", "collector", "exporter",
		"exception.type", "exception.message"}
	for _, s := range spans.Ended() {
		for _, kv := range s.Attributes() {
			if !slices.Contains(allowed, string(kv.Key)) {
				t.Errorf("span %s has attribute %s not on the allowed list", s.Name(), kv.Key)
			}
			if strings.Contains(kv.Value.Emit(), "s3cr3t") || strings.Contains(kv.Value.Emit(), "PRIVATE KEY") {
				t.Errorf("span %s attribute %s carries a secret", s.Name(), kv.Key)
			}
		}
	}
}

func TestServerStartsOnListenAndStops(t *testing.T) {
	tel := setup(t, Config{Listen: "127.0.0.1:0"})
	if err := tel.Start(); err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + tel.Addr() + "/healthz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("/healthz %d", resp.StatusCode)
	}
	other := setup(t, Config{Listen: tel.Addr()})
	if err := other.Start(); err == nil || !strings.HasPrefix(err.Error(), "telemetry.listen: ") {
		t.Errorf("second server on the same port: %v, want a telemetry.listen error", err)
	}
	if err := tel.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := http.Get("http://" + tel.Addr() + "/healthz"); err == nil && tel.Addr() != "" {
		t.Error("server still answers after Shutdown")
	}
}

func TestAnEmptyRunIsCountedApartAndKeepsTheAgentReady(t *testing.T) {
	tel := setup(t, Config{})
	tel.RunFinished(&agent.Summary{Sequence: 4, Empty: true}, time.Second, nil)
	_, body := get(t, tel.Handler(), "/metrics")
	for series, v := range map[string]string{
		`eucs_agent_runs_total{outcome="empty"}`: "1",
		`eucs_agent_chain_sequence`:              "4",
	} {
		if got := sample(body, series); got != v {
			t.Errorf("%s = %q, want %q", series, got, v)
		}
	}
	if sample(body, `eucs_agent_runs_total{outcome="success"}`) != "" || sample(body, "eucs_agent_last_successful_run_timestamp_seconds") == "" {
		t.Errorf("an empty run should count as empty and as the last successful run:\n%s", body)
	}
}
