package collectortest

import (
	"context"
	"strings"
	"testing"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

// Traced gives c, unless nil, a tracer that records into a new recorder,
// and returns the recorder and a context whose span stands for the one
// the agent starts around Collect.
func Traced(c interface{ SetTracer(trace.Tracer) }) (*tracetest.SpanRecorder, context.Context, trace.Span) {
	spans := tracetest.NewSpanRecorder()
	tracer := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(spans)).Tracer("test")
	if c != nil {
		c.SetTracer(tracer)
	}
	ctx, parent := tracer.Start(context.Background(), "collector")
	return spans, ctx, parent
}

// Attrs is a span's or an event's attributes as text.
func Attrs(kvs []attribute.KeyValue) map[attribute.Key]string {
	out := map[attribute.Key]string{}
	for _, kv := range kvs {
		out[kv.Key] = kv.Value.Emit()
	}
	return out
}

// Named returns the ended spans called name.
func Named(spans *tracetest.SpanRecorder, name string) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range spans.Ended() {
		if s.Name() == name {
			out = append(out, s)
		}
	}
	return out
}

// NoSecret fails t when any ended span carries secret in an attribute, an
// event or its status.
func NoSecret(t testing.TB, spans *tracetest.SpanRecorder, secret string) {
	t.Helper()
	for _, s := range spans.Ended() {
		texts := []string{s.Status().Description}
		for _, v := range Attrs(s.Attributes()) {
			texts = append(texts, v)
		}
		for _, ev := range s.Events() {
			for _, v := range Attrs(ev.Attributes) {
				texts = append(texts, v)
			}
		}
		for _, text := range texts {
			if strings.Contains(text, secret) {
				t.Errorf("span %s carries %q: %s", s.Name(), secret, text)
			}
		}
	}
}
