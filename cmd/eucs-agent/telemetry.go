package main

import (
	"context"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go/middleware"
	"go.opentelemetry.io/otel/trace"

	"github.com/eucs-agent/eucs-agent/collectors/aws"
	"github.com/eucs-agent/eucs-agent/collectors/azure"
	"github.com/eucs-agent/eucs-agent/internal/agent"
	"github.com/eucs-agent/eucs-agent/internal/bundle"
	"github.com/eucs-agent/eucs-agent/internal/config"
	"github.com/eucs-agent/eucs-agent/internal/telemetry"
)

// telemetryShutdownTimeout bounds the last OTLP push and the server's stop
// at exit.
const telemetryShutdownTimeout = 10 * time.Second

// countAWSCalls returns base with every AWS API attempt counted in the
// telemetry's API metrics, when there is telemetry.
func (s sources) countAWSCalls(base awssdk.Config) awssdk.Config {
	if s.tel == nil {
		return base
	}
	base = base.Copy()
	// A fresh slice: Copy shares the backing array with the caller's.
	base.APIOptions = slices.Concat(base.APIOptions, []func(*middleware.Stack) error{
		aws.CountCalls(func(service string, throttled bool) { s.tel.APICall(aws.Provider, service, throttled) }),
	})
	return base
}

// instrument hands tel to the agent and everything it runs: the run's
// spans and metrics, each collector that traces its scopes, and the outbox
// depth of each exporter that queues.
func instrument(a *agent.Agent, cfg *config.Config, tel *telemetry.Telemetry) {
	a.Observer = tel
	a.Tracer = tel.Tracer()
	for _, c := range a.Collectors {
		if t, ok := c.(interface{ SetTracer(trace.Tracer) }); ok {
			t.SetTracer(tel.Tracer())
		}
		// Collectors that count their own attempts (GCP); AWS and Azure
		// are counted through their SDKs' options (sources).
		if cc, ok := c.(interface {
			CountCalls(func(service string, throttled bool))
		}); ok {
			provider := c.Name()
			cc.CountCalls(func(service string, throttled bool) { tel.APICall(provider, service, throttled) })
		}
	}
	for _, e := range a.Exporters {
		if q, ok := e.(telemetry.Queue); ok {
			tel.WatchQueue(e.Name(), q)
		}
	}
	if st, err := a.ChainState(); err == nil && st.Sequence > 0 {
		tel.ChainResumed(st.Sequence)
	}
	sched, _ := cfg.Cron() // validated by Load
	keyPath := cfg.KeyPath()
	tel.SetReadiness(sched, func() error {
		_, err := bundle.LoadFileSigner(keyPath)
		return err
	})
}

// shutdownTelemetry flushes and stops tel, even after ctx has ended: the
// last spans and metrics of a run that SIGTERM interrupted matter most.
func shutdownTelemetry(ctx context.Context, tel *telemetry.Telemetry, log *slog.Logger) {
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), telemetryShutdownTimeout)
	defer cancel()
	if err := tel.Shutdown(sctx); err != nil {
		log.Warn("telemetry did not shut down cleanly", "error", err)
	}
}

// countAzureCalls returns opts with every Azure Resource Manager request
// attempt counted in the telemetry's API metrics, when there is telemetry.
// The service is the resource provider namespace the URL names
// (microsoft.storage, ...); HTTP 429 is a throttle.
func (s sources) countAzureCalls(opts *arm.ClientOptions) *arm.ClientOptions {
	if s.tel == nil {
		return opts
	}
	out := &arm.ClientOptions{}
	if opts != nil {
		out = opts.Clone()
	}
	out.PerRetryPolicies = append(slices.Clone(out.PerRetryPolicies), azureCallCounter{s.tel})
	return out
}

// azureCallCounter is an azcore pipeline policy run once per attempt.
type azureCallCounter struct{ tel *telemetry.Telemetry }

func (c azureCallCounter) Do(req *policy.Request) (*http.Response, error) {
	resp, err := req.Next()
	c.tel.APICall(azure.Provider, azureService(req.Raw().URL.Path), resp != nil && resp.StatusCode == http.StatusTooManyRequests)
	return resp, err
}

// azureService is the last resource provider namespace in an ARM path
// (/subscriptions/x/providers/Microsoft.Storage/...), lower case, or
// "resources" for calls above any provider (listing subscriptions).
func azureService(path string) string {
	parts := strings.Split(path, "/")
	svc := "resources"
	for i := 0; i+1 < len(parts); i++ {
		if strings.EqualFold(parts[i], "providers") {
			svc = strings.ToLower(parts[i+1])
		}
	}
	return svc
}
