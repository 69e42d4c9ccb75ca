package azure

import (
	"context"
	"fmt"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/eucs-agent/eucs-agent/internal/finding"
)

// SetTracer makes the collector trace each scope (one scan in one
// subscription) and the discovery of subscriptions, as children of the
// span in Collect's context. Call it before Collect; without it nothing is
// traced.
func (c *Collector) SetTracer(t trace.Tracer) { c.tracer = t }

// startScope starts the span of one scope; a no-op span without a tracer.
// sub is the subscription ID in lower case: the account, as in findings,
// and the subscription too, for those who look for it by name.
func (c *Collector) startScope(ctx context.Context, sub, service string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	if c.tracer == nil {
		return ctx, noop.Span{}
	}
	opts = append(opts, trace.WithAttributes(
		attribute.String("provider", Provider), attribute.String("account", sub),
		attribute.String("subscription", sub), attribute.String("service", service)))
	return c.tracer.Start(ctx, "azure.scope", opts...)
}

// endScope ends a scope's span. A scope that could not be assessed (err)
// is an error on it, with its reason; one whose findings could not be
// kept (sinkErr), which ends the run, is an error without one.
func endScope(span trace.Span, err, sinkErr error) {
	switch {
	case sinkErr != nil:
		failSpan(span, sinkErr)
	case err != nil:
		failSpan(span, err, attribute.String("reason", string(classify(err))))
	}
	span.End()
}

// unreadScopes traces the scopes of a subscription that could not be read
// (from start, when its read began): none of its scans ran, so each is an
// error span with the read's reason.
func (c *Collector) unreadScopes(ctx context.Context, sub string, start time.Time, err error) {
	if c.tracer == nil {
		return
	}
	for _, sc := range c.scanners {
		_, span := c.startScope(ctx, sub, sc.service, trace.WithTimestamp(start))
		endScope(span, err, nil)
	}
}

// startDiscovery starts the span of the discovery of subscriptions; a
// no-op span without a tracer.
func (c *Collector) startDiscovery(ctx context.Context) (context.Context, trace.Span) {
	if c.tracer == nil {
		return ctx, noop.Span{}
	}
	attrs := []attribute.KeyValue{attribute.String("provider", Provider), attribute.String("shard", c.cfg.Shard.String())}
	if mg := c.cfg.ManagementGroup; mg != "" {
		attrs = append(attrs, attribute.String("management_group", mg))
	}
	return c.tracer.Start(ctx, "azure.discovery", trace.WithAttributes(attrs...))
}

// endDiscovery ends the discovery span: with the counts the log line
// reports when it listed subscriptions, or as an error with its reason
// when it could not, or found none (which Collect reports as access
// denied).
func endDiscovery(span trace.Span, d discovery, err error) {
	switch {
	case err != nil:
		failSpan(span, err, attribute.String("reason", string(classify(err))))
	case d.found == 0:
		failSpan(span, d.noneReadable(), attribute.String("reason", string(finding.AccessDenied)))
	}
	if err == nil {
		span.SetAttributes(
			attribute.Int("discovered", d.found), attribute.Int("chosen", d.chosen),
			attribute.Int("assessed", len(d.targets)), attribute.Int("skipped", len(d.skipped)),
			attribute.Int("other_shards", d.otherShards))
	}
	span.End()
}

// failSpan records err on span as an exception event and an error status,
// with attrs, in the short form the evidence keeps (status, ARM error code
// and message), never the request and response the SDK's error spells
// out.
func failSpan(span trace.Span, err error, attrs ...attribute.KeyValue) {
	if !span.IsRecording() {
		return
	}
	detail := errorDetail(err)
	span.SetAttributes(attrs...)
	span.AddEvent(semconv.ExceptionEventName, trace.WithAttributes(
		semconv.ExceptionType(fmt.Sprintf("%T", err)), semconv.ExceptionMessage(detail)))
	span.SetStatus(codes.Error, detail)
}
