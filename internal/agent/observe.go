package agent

import (
	"context"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Observer is told what runs do, for metrics (internal/telemetry implements
// it). Its methods are called from the run's goroutines, so they must be
// safe for concurrent use, and cheap: they sit on the run's path.
type Observer interface {
	// CollectorFinished reports one collector's part of a run.
	CollectorFinished(name string, took time.Duration, err error)
	// RunFinished reports a run: s is nil when err is not.
	RunFinished(s *Summary, took time.Duration, err error)
	// Exported reports one hand-over to an exporter (Export or Flush);
	// delivered is true when the bundle reached its destination, false when
	// it was only queued.
	Exported(exporter string, delivered bool, err error)
}

// tracer is a.Tracer, or one that records nothing.
func (a *Agent) tracer() trace.Tracer {
	if a.Tracer != nil {
		return a.Tracer
	}
	return noop.NewTracerProvider().Tracer("")
}

// startSpan starts a child span of ctx's.
func (a *Agent) startSpan(ctx context.Context, name string, attrs ...attribute.KeyValue) (context.Context, trace.Span) {
	return a.tracer().Start(ctx, name, trace.WithAttributes(attrs...))
}

// endSpan ends span, recording err as its status.
func endSpan(span trace.Span, err error) {
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// RunOnce collects, maps, seals, signs and exports one bundle, traced as one
// span and reported to the Observer. A run that ends early (ctx cancelled,
// evidence could not be kept) seals nothing and leaves the chain as it was.
func (a *Agent) RunOnce(ctx context.Context) (*Summary, error) {
	ctx, span := a.startSpan(ctx, "eucs_agent.run", attribute.String("service", a.Service), attribute.String("level", string(a.Level)))
	began := time.Now()
	s, err := a.runOnce(ctx)
	if s != nil {
		span.SetAttributes(attribute.String("run_id", s.RunID), attribute.Int64("sequence", int64(s.Sequence)), attribute.Int("findings", s.Findings))
	}
	endSpan(span, err)
	if a.Observer != nil {
		a.Observer.RunFinished(s, time.Since(began), err)
	}
	return s, err
}

// collected reports a collector's end to the Observer and its span.
func (a *Agent) collected(span trace.Span, name string, took time.Duration, err error) {
	endSpan(span, err)
	if a.Observer != nil {
		a.Observer.CollectorFinished(name, took, err)
	}
}

// exported reports an exporter's hand-over to the Observer and its span.
func (a *Agent) exported(span trace.Span, name string, delivered bool, err error) {
	endSpan(span, err)
	if a.Observer != nil {
		a.Observer.Exported(name, delivered, err)
	}
}
