package gcp

import (
	"context"
	"fmt"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/eucs-agent/eucs-agent/internal/finding"
)

// SetTracer makes the collector trace each scope (one scanner in one
// project) and the discovery of projects under the organisation and
// folders, as children of the span in Collect's context. Call it before
// Collect; without it nothing is traced.
func (c *Collector) SetTracer(t trace.Tracer) { c.tracer = t }

// startScope starts the span of one scope; a no-op span without a tracer.
// The project is the account, as in findings, and the project too, for
// those who look for it by name.
func (c *Collector) startScope(ctx context.Context, project string, sc scanner) (context.Context, trace.Span) {
	if c.tracer == nil {
		return ctx, noop.Span{}
	}
	return c.tracer.Start(ctx, "gcp.scope", trace.WithAttributes(
		attribute.String("provider", Provider), attribute.String("account", project),
		attribute.String("project", project), attribute.String("service", sc.service),
		attribute.String("area", sc.area)))
}

// endScope ends a scope's span. A scope that could not be assessed (err)
// is an error on it, with its reason; one whose findings could not be
// kept (sinkErr), which ends the run, is an error without one.
func endScope(span trace.Span, err, sinkErr error) {
	switch {
	case sinkErr != nil:
		failSpan(span, sinkErr)
	case err != nil:
		span.SetAttributes(attribute.String("reason", string(classify(err))))
		failSpan(span, err)
	}
	span.End()
}

// startDiscovery starts the span of the discovery of projects under roots;
// a no-op span without a tracer or roots (projects listed by ID only).
func (c *Collector) startDiscovery(ctx context.Context, roots []string) (context.Context, trace.Span) {
	if c.tracer == nil || len(roots) == 0 {
		return ctx, noop.Span{}
	}
	return c.tracer.Start(ctx, "gcp.discovery", trace.WithAttributes(
		attribute.String("provider", Provider), attribute.Int("roots", len(roots)),
		attribute.String("shard", c.cfg.Shard.String())))
}

// discoveryCounts are what the discovery span and its log line report.
type discoveryCounts struct {
	discovered, excluded, otherShards int64
}

// endDiscovery ends the discovery span with its counts. A walk that ctx
// cut short is an error on it; parents that could not be listed already
// are (parentNotListed).
func endDiscovery(ctx context.Context, span trace.Span, n discoveryCounts) {
	span.SetAttributes(
		attribute.Int64("discovered", n.discovered),
		attribute.Int64("assessed", n.discovered-n.excluded-n.otherShards),
		attribute.Int64("excluded", n.excluded),
		attribute.Int64("other_shards", n.otherShards))
	if err := ctx.Err(); err != nil {
		span.SetStatus(codes.Error, fmt.Sprintf("discovery stopped: %v", err))
	}
	span.End()
}

// parentNotListed records on the discovery span a folder or organisation
// whose projects could not be listed: an event naming it and its reason,
// and an error status, since the projects found are not all there are.
func parentNotListed(span trace.Span, parent string, err error) {
	if !span.IsRecording() {
		return
	}
	reason := classify(err)
	span.AddEvent("parent not listed", trace.WithAttributes(
		attribute.String("parent", parent), attribute.String("reason", string(reason)),
		semconv.ExceptionMessage(spanDetail(err))))
	span.SetStatus(codes.Error, fmt.Sprintf("projects under %s not listed: %s", parent, reason))
}

// failSpan records err on span as an exception event and an error status,
// with the text the evidence keeps (API keys redacted), never more.
func failSpan(span trace.Span, err error) {
	if !span.IsRecording() {
		return
	}
	detail := spanDetail(err)
	span.AddEvent(semconv.ExceptionEventName, trace.WithAttributes(
		semconv.ExceptionType(fmt.Sprintf("%T", err)), semconv.ExceptionMessage(detail)))
	span.SetStatus(codes.Error, detail)
}

// spanDetail is the text of err a span may carry: what a not-assessed
// finding's detail keeps.
func spanDetail(err error) string { return redact(finding.ErrorDetail(err)) }
