package aws

import (
	"context"
	"errors"
	"net/http"
	"strings"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go/middleware"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/eucs-agent/eucs-agent/internal/finding"
)

// SetTracer makes the collector trace each scope (one service in one
// region of one account) as a child of the span in Collect's context. Call
// it before Collect; without it scopes are not traced.
func (c *Collector) SetTracer(t trace.Tracer) { c.tracer = t }

// startScope starts the span of one scope; a no-op span without a tracer.
func (c *Collector) startScope(ctx context.Context, account, region, service string) (context.Context, trace.Span) {
	if c.tracer == nil {
		return ctx, noop.Span{}
	}
	return c.tracer.Start(ctx, "aws.scope", trace.WithAttributes(
		attribute.String("provider", Provider), attribute.String("account", account),
		attribute.String("region", region), attribute.String("service", service)))
}

// endScope ends a scope's span; a scope that could not be assessed is an
// error on it, with its reason.
func endScope(span trace.Span, err error) {
	if err != nil {
		span.SetAttributes(attribute.String("reason", string(classify(err))))
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// CountCalls returns an SDK option that reports every request attempt the
// collector's clients send (retries included) to count, with the service's
// SDK ID in lower case (s3, ec2, iam, ...) and whether AWS throttled it:
// HTTP 429, or an error code the collector classifies as throttled (S3's
// SlowDown arrives as a 503). Append it to the base config's APIOptions
// before New; the collector's clients all inherit them.
func CountCalls(count func(service string, throttled bool)) func(*middleware.Stack) error {
	return func(st *middleware.Stack) error {
		// In the deserialize step, inside the retry loop: one report per
		// attempt, seen after the response is decoded into an API error.
		m := middleware.DeserializeMiddlewareFunc("eucs-agent/CountCalls", func(ctx context.Context, in middleware.DeserializeInput, next middleware.DeserializeHandler) (middleware.DeserializeOutput, middleware.Metadata, error) {
			out, md, err := next.HandleDeserialize(ctx, in)
			count(strings.ToLower(awsmiddleware.GetServiceID(ctx)), throttled(out.RawResponse, err))
			return out, md, err
		})
		return st.Deserialize.Add(m, middleware.Before)
	}
}

// throttled reports whether an attempt's answer was AWS throttling it.
func throttled(raw any, err error) bool {
	if r, ok := raw.(*smithyhttp.Response); ok && r != nil && r.StatusCode == http.StatusTooManyRequests {
		return true
	}
	var coder finding.APIErrorCoder
	return errors.As(err, &coder) && errorReasons[coder.ErrorCode()] == finding.Throttled
}
