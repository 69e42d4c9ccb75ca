// Package telemetry gives the agent OpenTelemetry traces and metrics: a
// span per run with children per collector, scope, seal and export; run,
// finding, API and delivery metrics served to Prometheus from a private
// registry and, when configured, pushed over OTLP/HTTP; and the /healthz
// and /readyz probes Kubernetes asks.
//
// Nothing here is global: the providers are passed to whoever traces or
// measures, so tests and several agents in one process never share state.
package telemetry

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	dto "github.com/prometheus/client_model/go"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	otelprom "go.opentelemetry.io/otel/exporters/prometheus"
	"go.opentelemetry.io/otel/metric"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/eucs-agent/eucs-agent/internal/agent"
)

// scopeName is the instrumentation scope of everything the agent records.
const scopeName = "github.com/eucs-agent/eucs-agent"

// Queue is an exporter that keeps bundles waiting for delivery, such as the
// certification body's outbox.
type Queue interface {
	Depth() int
}

// fuller is a Queue that can also say it is at its limit.
type fuller interface{ Full() bool }

// lastDeliverer is a Queue that delivers in the background and knows when
// it last did; without it, delivery is seen only through the agent (Export
// of a direct exporter, Flush of a queueing one).
type lastDeliverer interface{ LastDelivery() time.Time }

// Telemetry holds the agent's tracer and meter providers, its metric
// instruments and its readiness state. It implements agent.Observer.
type Telemetry struct {
	cfg      Config
	log      *slog.Logger
	registry *prometheus.Registry
	tp       *sdktrace.TracerProvider
	mp       *sdkmetric.MeterProvider
	tracer   trace.Tracer
	// now is the clock; tests replace it.
	now func() time.Time

	runDuration       metric.Float64Histogram
	runs              metric.Int64Counter
	findings          metric.Int64Counter
	notAssessed       metric.Int64Counter
	apiCalls          metric.Int64Counter
	apiThrottles      metric.Int64Counter
	exports           metric.Int64Counter
	collectorDuration metric.Float64Gauge
	collectorSuccess  metric.Int64Gauge
	lastRun           metric.Float64Gauge
	chainSequence     metric.Int64Gauge

	mu           sync.Mutex
	queues       map[string]Queue
	lastDelivery map[string]time.Time
	ready        readiness

	serverMu sync.Mutex
	server   *server
}

// Setup builds the providers cfg (defaulted and valid) asks for: traces go
// to OTLP when it is configured and nowhere otherwise; metrics are always
// kept for /metrics and also pushed over OTLP when configured.
func Setup(ctx context.Context, cfg Config, version string, log *slog.Logger) (*Telemetry, error) {
	t := &Telemetry{
		cfg: cfg, log: log.With("component", "telemetry"), registry: prometheus.NewRegistry(), now: time.Now,
		queues: map[string]Queue{}, lastDelivery: map[string]time.Time{},
	}
	t.ready.started = t.now()
	res := resource.NewSchemaless(
		attribute.String("service.name", cfg.ServiceName),
		attribute.String("service.version", version),
	)
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	} {
		if err := t.registry.Register(c); err != nil {
			return nil, fmt.Errorf("register runtime metrics: %w", err)
		}
	}
	promReader, err := otelprom.New(otelprom.WithRegisterer(t.registry), otelprom.WithoutScopeInfo())
	if err != nil {
		return nil, fmt.Errorf("set up the prometheus exporter: %w", err)
	}
	mopts := []sdkmetric.Option{sdkmetric.WithResource(res), sdkmetric.WithReader(promReader)}
	topts := []sdktrace.TracerProviderOption{sdktrace.WithResource(res)}
	if o := cfg.OTLP; o != nil {
		headers, err := o.headers()
		if err != nil {
			return nil, err
		}
		base := strings.TrimSuffix(o.Endpoint, "/")
		te, err := otlptracehttp.New(ctx, traceOptions(base, o.Insecure, headers)...)
		if err != nil {
			return nil, fmt.Errorf("set up the OTLP trace exporter: %w", err)
		}
		me, err := otlpmetrichttp.New(ctx, metricOptions(base, o.Insecure, headers)...)
		if err != nil {
			return nil, fmt.Errorf("set up the OTLP metric exporter: %w", err)
		}
		topts = append(topts, sdktrace.WithBatcher(te))
		mopts = append(mopts, sdkmetric.WithReader(sdkmetric.NewPeriodicReader(me, sdkmetric.WithInterval(o.Interval))))
		t.log.Info("telemetry is pushed over OTLP", "endpoint", redactURL(o.Endpoint), "interval", o.Interval)
	}
	t.tp = sdktrace.NewTracerProvider(topts...)
	t.mp = sdkmetric.NewMeterProvider(mopts...)
	t.tracer = t.tp.Tracer(scopeName, trace.WithInstrumentationVersion(version))
	if err := t.instruments(t.mp.Meter(scopeName, metric.WithInstrumentationVersion(version))); err != nil {
		return nil, errors.Join(err, t.Shutdown(ctx))
	}
	return t, nil
}

func traceOptions(base string, insecure bool, headers map[string]string) []otlptracehttp.Option {
	opts := []otlptracehttp.Option{otlptracehttp.WithEndpointURL(base + "/v1/traces")}
	if insecure {
		opts = append(opts, otlptracehttp.WithInsecure())
	}
	if len(headers) > 0 {
		opts = append(opts, otlptracehttp.WithHeaders(headers))
	}
	return opts
}

func metricOptions(base string, insecure bool, headers map[string]string) []otlpmetrichttp.Option {
	opts := []otlpmetrichttp.Option{otlpmetrichttp.WithEndpointURL(base + "/v1/metrics")}
	if insecure {
		opts = append(opts, otlpmetrichttp.WithInsecure())
	}
	if len(headers) > 0 {
		opts = append(opts, otlpmetrichttp.WithHeaders(headers))
	}
	return opts
}

// redactURL keeps a URL fit for a log line.
func redactURL(s string) string {
	u, err := url.Parse(s)
	if err != nil {
		return "[unparseable]"
	}
	return u.Redacted()
}

// instruments creates every metric. OTel names map to Prometheus ones by
// replacing dots and adding the unit and _total suffixes, e.g.
// eucs_agent.run.duration (s) becomes eucs_agent_run_duration_seconds.
func (t *Telemetry) instruments(m metric.Meter) error {
	var errs []error
	keep := func(err error) {
		errs = append(errs, err)
	}
	var err error
	t.runDuration, err = m.Float64Histogram("eucs_agent.run.duration", metric.WithUnit("s"),
		metric.WithDescription("Duration of evidence runs, sealed or not."),
		metric.WithExplicitBucketBoundaries(1, 5, 15, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200))
	keep(err)
	t.runs, err = m.Int64Counter("eucs_agent.runs", metric.WithUnit("{run}"),
		metric.WithDescription("Runs by outcome: success (sealed), empty (no scope to assess, nothing sealed), failure or cancelled."))
	keep(err)
	t.findings, err = m.Int64Counter("eucs_agent.findings", metric.WithUnit("{finding}"),
		metric.WithDescription("Sealed findings by status."))
	keep(err)
	t.notAssessed, err = m.Int64Counter("eucs_agent.findings.not_assessed", metric.WithUnit("{finding}"),
		metric.WithDescription("Sealed not_assessed findings by reason."))
	keep(err)
	t.apiCalls, err = m.Int64Counter("eucs_agent.api.calls", metric.WithUnit("{call}"),
		metric.WithDescription("Cloud API requests sent (every attempt) by provider and service."))
	keep(err)
	t.apiThrottles, err = m.Int64Counter("eucs_agent.api.throttles", metric.WithUnit("{call}"),
		metric.WithDescription("Cloud API requests answered with throttling by provider and service."))
	keep(err)
	t.exports, err = m.Int64Counter("eucs_agent.exports", metric.WithUnit("{bundle}"),
		metric.WithDescription("Hand-overs to exporters (export or flush) by exporter and outcome."))
	keep(err)
	t.collectorDuration, err = m.Float64Gauge("eucs_agent.collector.duration", metric.WithUnit("s"),
		metric.WithDescription("How long each collector took in the last run."))
	keep(err)
	t.collectorSuccess, err = m.Int64Gauge("eucs_agent.collector.success",
		metric.WithDescription("1 if the collector finished its last run, 0 if it failed (cloud-side failures are not_assessed findings, not collector failures)."))
	keep(err)
	t.lastRun, err = m.Float64Gauge("eucs_agent.last_successful_run.timestamp", metric.WithUnit("s"),
		metric.WithDescription("When the last run was sealed, in Unix seconds."))
	keep(err)
	t.chainSequence, err = m.Int64Gauge("eucs_agent.chain.sequence",
		metric.WithDescription("Sequence number of the last sealed bundle in the chain."))
	keep(err)
	outboxDepth, err := m.Int64ObservableGauge("eucs_agent.outbox.depth", metric.WithUnit("{bundle}"),
		metric.WithDescription("Bundles waiting for delivery, by exporter."))
	keep(err)
	outboxFull, err := m.Int64ObservableGauge("eucs_agent.outbox.full",
		metric.WithDescription("1 while the exporter's outbox is at one of its limits."))
	keep(err)
	lastDelivery, err := m.Float64ObservableGauge("eucs_agent.last_successful_delivery.timestamp", metric.WithUnit("s"),
		metric.WithDescription("When the exporter last delivered a bundle to its destination, in Unix seconds."))
	keep(err)
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("create metric instruments: %w", err)
	}
	_, err = m.RegisterCallback(func(_ context.Context, o metric.Observer) error {
		t.mu.Lock()
		defer t.mu.Unlock()
		for name, q := range t.queues {
			attrs := metric.WithAttributes(attribute.String("exporter", name))
			o.ObserveInt64(outboxDepth, int64(q.Depth()), attrs)
			if f, ok := q.(fuller); ok {
				o.ObserveInt64(outboxFull, boolInt(f.Full()), attrs)
			}
			if d, ok := q.(lastDeliverer); ok {
				if at := d.LastDelivery(); !at.IsZero() && at.After(t.lastDelivery[name]) {
					t.lastDelivery[name] = at
				}
			}
		}
		for name, at := range t.lastDelivery {
			o.ObserveFloat64(lastDelivery, unixSeconds(at), metric.WithAttributes(attribute.String("exporter", name)))
		}
		return nil
	}, outboxDepth, outboxFull, lastDelivery)
	if err != nil {
		return fmt.Errorf("register outbox callback: %w", err)
	}
	return nil
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

func unixSeconds(t time.Time) float64 { return float64(t.UnixNano()) / 1e9 }

// Tracer is the agent's tracer, to hand to the agent and the collectors.
func (t *Telemetry) Tracer() trace.Tracer { return t.tracer }

// TracerProvider is the SDK provider, for callers that add span processors.
func (t *Telemetry) TracerProvider() *sdktrace.TracerProvider { return t.tp }

// Registry is the private Prometheus registry /metrics serves.
func (t *Telemetry) Registry() *prometheus.Registry { return t.registry }

// WatchQueue makes the outbox depth of exporter name a metric.
func (t *Telemetry) WatchQueue(name string, q Queue) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.queues[name] = q
}

// APICall counts one cloud API request (one attempt) and whether the
// provider throttled it. Collectors' SDK hooks call it; it is safe for
// concurrent use.
func (t *Telemetry) APICall(provider, service string, throttled bool) {
	attrs := metric.WithAttributes(attribute.String("provider", provider), attribute.String("service", service))
	ctx := context.Background()
	t.apiCalls.Add(ctx, 1, attrs)
	if throttled {
		t.apiThrottles.Add(ctx, 1, attrs)
	}
}

// CollectorFinished implements agent.Observer.
func (t *Telemetry) CollectorFinished(name string, took time.Duration, err error) {
	attrs := metric.WithAttributes(attribute.String("collector", name))
	ctx := context.Background()
	t.collectorDuration.Record(ctx, took.Seconds(), attrs)
	t.collectorSuccess.Record(ctx, boolInt(err == nil), attrs)
}

// ChainResumed records the chain sequence an agent starts from, so that
// eucs_agent_chain_sequence says where the chain stands from the first
// scrape after a restart rather than only after the next sealed run.
func (t *Telemetry) ChainResumed(seq uint64) {
	t.chainSequence.Record(context.Background(), int64(seq))
}

// RunFinished implements agent.Observer: it counts the run and, for a
// sealed one, its findings, and moves the readiness clock.
func (t *Telemetry) RunFinished(s *agent.Summary, took time.Duration, err error) {
	ctx := context.Background()
	outcome := "success"
	switch {
	case errors.Is(err, context.Canceled):
		outcome = "cancelled"
	case err != nil:
		outcome = "failure"
	case s != nil && s.Empty:
		// No scope was the agent's: nothing sealed, but nothing wrong.
		outcome = "empty"
	}
	t.runs.Add(ctx, 1, metric.WithAttributes(attribute.String("outcome", outcome)))
	t.runDuration.Record(ctx, took.Seconds(), metric.WithAttributes(attribute.String("outcome", outcome)))
	if err != nil || s == nil {
		return
	}
	for st, n := range s.Statuses {
		t.findings.Add(ctx, int64(n), metric.WithAttributes(attribute.String("status", string(st))))
	}
	for r, n := range s.NotAssessed {
		t.notAssessed.Add(ctx, int64(n), metric.WithAttributes(attribute.String("reason", string(r))))
	}
	now := t.now()
	t.lastRun.Record(ctx, unixSeconds(now))
	t.chainSequence.Record(ctx, int64(s.Sequence))
	t.mu.Lock()
	t.ready.lastSuccess = now
	t.mu.Unlock()
}

// Exported implements agent.Observer: delivered means the bundle reached
// its destination rather than a queue.
func (t *Telemetry) Exported(exporter string, delivered bool, err error) {
	outcome := "success"
	if err != nil {
		outcome = "failure"
	}
	t.exports.Add(context.Background(), 1, metric.WithAttributes(attribute.String("exporter", exporter), attribute.String("outcome", outcome)))
	if err != nil || !delivered {
		return
	}
	t.mu.Lock()
	t.lastDelivery[exporter] = t.now()
	t.mu.Unlock()
}

// Shutdown stops the HTTP server, if started, and flushes and stops the
// providers: a last OTLP push of spans and metrics happens here.
func (t *Telemetry) Shutdown(ctx context.Context) error {
	var errs []error
	t.serverMu.Lock()
	srv := t.server
	t.server = nil
	t.serverMu.Unlock()
	if srv != nil {
		errs = append(errs, srv.shutdown(ctx))
	}
	if t.tp != nil {
		if err := t.tp.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("shut down tracing: %w", err))
		}
	}
	if t.mp != nil {
		if err := t.mp.Shutdown(ctx); err != nil {
			errs = append(errs, fmt.Errorf("shut down metrics: %w", err))
		}
	}
	return errors.Join(errs...)
}

// WriteMetrics writes the agent's own metrics (eucs_agent_*) to path in the
// Prometheus text format, atomically, for node_exporter's textfile
// collector or a CronJob's sidecar. Runtime metrics (go_*, process_*) are
// left out: they describe a process that has exited and would clash with
// the reader's own.
func (t *Telemetry) WriteMetrics(path string) error {
	g := prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		mfs, err := t.registry.Gather()
		var out []*dto.MetricFamily
		for _, mf := range mfs {
			if strings.HasPrefix(mf.GetName(), "eucs_agent_") {
				out = append(out, mf)
			}
		}
		return out, err
	})
	if err := prometheus.WriteToTextfile(path, g); err != nil {
		return fmt.Errorf("write metrics file: %w", err)
	}
	return nil
}
