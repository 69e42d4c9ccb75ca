package aws

import (
	"context"
	"fmt"
	"strings"
	"time"

	awsmiddleware "github.com/aws/aws-sdk-go-v2/aws/middleware"
	"github.com/aws/smithy-go/middleware"

	"github.com/eucs-agent/eucs-agent/internal/ratelimit"
)

// AWS throttles each API with token buckets; a collector that sends faster
// than a bucket refills gets throttling errors, retries them, and at worst
// reports checks not_assessed. So the collector keeps its own token bucket
// in front of every bucket AWS keeps, and waits for a token before each
// attempt: a run then goes as fast as AWS allows and no faster. The SDK's
// adaptive retry mode is the second line: if the account's other tools use
// the same quota and AWS throttles anyway, it slows the client down.

// limitRule is one API's bucket: its rate and burst, and how AWS keys it.
type limitRule struct {
	RateLimit
	// global buckets are per account, not per account and region (IAM,
	// Organizations).
	global bool
	// shared buckets are one per service rather than one per action (RDS).
	shared bool
}

// defaultLimits are the buckets the collector keeps to unless
// collectors.aws.rate_limits says otherwise, keyed by service (the SDK's
// service ID, lower case) or service and action. Where AWS publishes a
// number it is used, with its source; where it does not, the default is
// conservative and says so.
func defaultLimits() map[string]limitRule {
	return map[string]limitRule{
		// "Request throttling for the Amazon EC2 API"
		// (docs.aws.amazon.com/ec2/latest/devguide/ec2-api-throttling.html):
		// per account and Region, one bucket per API; non-mutating actions
		// (Describe*, Get*) hold 100 tokens and refill 20 a second.
		"ec2": {RateLimit: RateLimit{Rate: 20, Burst: 100}},
		// IAM keeps token buckets per API and per account, global, and does
		// not publish them or raise them ("How to monitor and query IAM
		// resources at scale – Part 2", AWS Security Blog; knowledge-center
		// article iam-sts-throttling-error). 10 a second with a burst of 20
		// keeps well inside what IAM serves in practice and leaves room for
		// the account's other tools.
		"iam": {RateLimit: RateLimit{Rate: 10, Burst: 20}, global: true},
		// STS: same sources as IAM, also unpublished; per account and
		// Region. The collector calls it once or twice per account.
		"sts": {RateLimit: RateLimit{Rate: 20, Burst: 20}},
		// "Request quotas" (docs.aws.amazon.com/kms/latest/developerguide/
		// requests-per-second.html): per account and Region and operation,
		// in requests per second; one second's worth is the burst.
		"kms:DescribeKey":          {RateLimit: RateLimit{Rate: 2000, Burst: 2000}},
		"kms:GetKeyRotationStatus": {RateLimit: RateLimit{Rate: 1000, Burst: 1000}},
		"kms:ListKeys":             {RateLimit: RateLimit{Rate: 100, Burst: 100}},
		"kms":                      {RateLimit: RateLimit{Rate: 100, Burst: 100}},
		// "Quotas in AWS CloudTrail" (docs.aws.amazon.com/awscloudtrail/
		// latest/userguide/WhatIsCloudTrail-Limits.html): get, describe and
		// list APIs, 10 transactions per second per account and Region.
		"cloudtrail": {RateLimit: RateLimit{Rate: 10, Burst: 10}},
		// "Request throttling for the Amazon RDS API" (docs.aws.amazon.com/
		// AmazonRDS/latest/UserGuide/rds-api-throttling.html): per account
		// and Region, 300 requests in a burst and 12 a second sustained,
		// for all RDS operations together.
		"rds": {RateLimit: RateLimit{Rate: 12, Burst: 300}, shared: true},
		// GuardDuty publishes no request rates; the collector makes two
		// calls per Region, so a conservative bucket costs nothing.
		"guardduty": {RateLimit: RateLimit{Rate: 10, Burst: 20}},
		// "Optimizing Amazon S3 performance" (docs.aws.amazon.com/AmazonS3/
		// latest/userguide/optimizing-performance.html): at least 5,500
		// GET/HEAD requests a second per partitioned prefix, and every
		// bucket is at least one prefix. Keyed per account, Region and
		// action rather than per bucket, this is stricter than S3 and still
		// never the bottleneck.
		"s3": {RateLimit: RateLimit{Rate: 5500, Burst: 5500}},
		// AWS Organizations publishes no request rates either
		// (awsdocs/aws-organizations-docs#39) and answers concurrent
		// listing with TooManyRequestsException; discovery pages through
		// ListAccounts once per run, 20 accounts a page.
		"organizations": {RateLimit: RateLimit{Rate: 2, Burst: 5}, global: true},
	}
}

// DefaultRateLimits returns the rate and burst of every bucket the
// collector keeps to by default, keyed like collectors.aws.rate_limits.
func DefaultRateLimits() map[string]RateLimit {
	out := map[string]RateLimit{}
	for k, r := range defaultLimits() {
		out[k] = r.RateLimit
	}
	return out
}

// fallbackRule is the bucket of a service the table does not name.
func fallbackRule() limitRule { return limitRule{RateLimit: RateLimit{Rate: 10, Burst: 20}} }

// limiter decides which bucket an AWS API call waits on: per account
// ("" for the agent's own identity), then per region and API.
type limiter struct {
	// overrides (collectors.aws.rate_limits) win over defaults; in each,
	// an action's entry wins over its service's.
	overrides, defaults map[string]limitRule

	buckets ratelimit.Buckets
}

// newLimiter returns a limiter with the default buckets and the configured
// overrides. An override keeps its service's keying (global, shared),
// except that an override for one action always gets that action its own
// bucket.
func newLimiter(overrides map[string]RateLimit) *limiter {
	defaults := defaultLimits()
	for k, r := range defaults {
		r.Rate *= ratelimit.DefaultHeadroom
		defaults[k] = r
	}
	rules := map[string]limitRule{}
	for key, l := range overrides {
		l = l.WithDefaults()
		service, _, _ := strings.Cut(key, ":")
		r, ok := defaults[service]
		if !ok {
			r = fallbackRule()
		}
		if key != service {
			r.shared = false
		}
		r.RateLimit = l
		rules[key] = r
	}
	return &limiter{overrides: rules, defaults: defaults}
}

// rule returns the bucket of an API and the name it is keyed by.
func (l *limiter) rule(service, action string) (limitRule, string) {
	api := service + ":" + action
	for _, rules := range []map[string]limitRule{l.overrides, l.defaults} {
		if r, ok := rules[api]; ok {
			return r, api
		}
		if r, ok := rules[service]; ok {
			if r.shared {
				return r, service
			}
			return r, api
		}
	}
	return fallbackRule(), api
}

// wait holds the caller until the bucket of this account, region and API
// has a token, or ctx ends.
func (l *limiter) wait(ctx context.Context, account, region, service, action string) error {
	r, name := l.rule(service, action)
	if r.global {
		region = ""
	}
	return l.buckets.Wait(ctx, account, region+"|"+name, r.RateLimit)
}

// forget drops an account's buckets once nothing more will be sent to it,
// so that an organization of thousands of accounts does not keep them all.
func (l *limiter) forget(account string) { l.buckets.Forget(account) }

// stats reports how often and how long attempts waited for a token.
func (l *limiter) stats() (waits int64, waited time.Duration) { return l.buckets.Stats() }

// middleware returns the SDK stack option that makes every attempt of a
// client acting in account wait for its token. It sits right after the
// retry middleware, so that each retry waits too, and before signing, so
// that a long wait never ages a signature.
func (l *limiter) middleware(account string) func(*middleware.Stack) error {
	return func(st *middleware.Stack) error {
		m := middleware.FinalizeMiddlewareFunc("eucs-agent/RateLimit", func(ctx context.Context, in middleware.FinalizeInput, next middleware.FinalizeHandler) (middleware.FinalizeOutput, middleware.Metadata, error) {
			service := strings.ToLower(awsmiddleware.GetServiceID(ctx))
			action := awsmiddleware.GetOperationName(ctx)
			if err := l.wait(ctx, account, awsmiddleware.GetRegion(ctx), service, action); err != nil {
				return middleware.FinalizeOutput{}, middleware.Metadata{}, fmt.Errorf("wait for the %s:%s rate limit: %w", service, action, err)
			}
			return next.HandleFinalize(ctx, in)
		})
		if err := st.Finalize.Insert(m, "Retry", middleware.After); err != nil {
			return st.Finalize.Add(m, middleware.Before)
		}
		return nil
	}
}
