package azure

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"

	"github.com/eucs-agent/eucs-agent/internal/ratelimit"
)

// Azure Resource Manager throttles at two levels. ARM itself keeps a token
// bucket of reads per subscription (for requests whose path names one) or
// per tenant (the rest: listing subscriptions, reading management groups),
// per security principal and per region of the ARM instance that serves
// the request. The resource provider behind ARM (Microsoft.Storage,
// Microsoft.Network, ...) then applies limits of its own, per subscription
// and region of the resource. A client that sends faster than a bucket
// refills gets 429 and, at worst, checks not assessed; so the collector
// keeps its own bucket in front of each, and every attempt, retries
// included, waits for a token of both the provider's bucket and ARM's.
//
// The buckets are kept per subscription rather than per region: the agent
// reaches ARM through the one region nearest to it, so ARM's regional
// bucket is in effect the subscription's; and a provider's per-region
// limits are never exceeded by a client that keeps to them across all
// regions together.

// limitARM is the rate_limits key of ARM's own buckets, one per
// subscription and one for the tenant.
const limitARM = "arm"

// perWindow turns a limit published as n requests per window into a token
// bucket that can never send more than n in any such window: a burst of
// half of n and a refill of the other half over the window (a bucket
// sends at most burst + rate × window in a window).
func perWindow(n int, window time.Duration) RateLimit {
	return RateLimit{Rate: float64(n) / 2 / window.Seconds(), Burst: n / 2}
}

// defaultLimits are the buckets the collector keeps to unless
// collectors.azure.rate_limits says otherwise: "arm", and resource
// provider namespaces in lower case. Where Microsoft publishes a number it
// is used, with its source; where it does not, the default is conservative
// and says so.
func defaultLimits() map[string]RateLimit {
	return map[string]RateLimit{
		// "Understand how Azure Resource Manager throttles requests"
		// (learn.microsoft.com/azure/azure-resource-manager/management/
		// request-limits-and-throttling), regional throttling and token
		// bucket algorithm: reads, per subscription (and per tenant) and
		// service principal, a bucket of 250 refilled at 25 a second.
		limitARM: {Rate: 25, Burst: 250},
		// Same page, "Storage throttling": storage account management
		// operations, list 100 per 5 minutes (reads 800 per 5 minutes),
		// per region of the resource. The collector's one storage call is
		// the subscription's account listing, so the list limit is the
		// one to keep.
		"microsoft.storage": perWindow(100, 5*time.Minute),
		// Same page, "Network throttling": Microsoft.Network reads (GET),
		// 10,000 per 5 minutes.
		"microsoft.network": perWindow(10000, 5*time.Minute),
		// "Troubleshooting API throttling errors" (learn.microsoft.com/
		// troubleshoot/azure/virtual-machines/troubleshooting-throttling-
		// errors): the Compute provider throttles per subscription and
		// region in 3- and 30-minute policies it names in
		// x-ms-ratelimit-remaining-resource but does not publish. The
		// collector lists disks once per subscription; 10 a second is
		// conservative.
		"microsoft.compute": {Rate: 10, Burst: 20},
		// "Azure Key Vault service limits" (learn.microsoft.com/azure/
		// key-vault/general/service-limits) are the data plane's (4,000
		// transactions per vault per 10 seconds); the management plane
		// the collector reads vaults and keys through publishes none.
		// Conservative: one key listing per vault.
		"microsoft.keyvault": {Rate: 10, Burst: 20},
		// Microsoft.Sql publishes no management-plane limits; the
		// collector reads the auditing policy of each server and the TDE
		// state of each database. Conservative.
		"microsoft.sql": {Rate: 10, Burst: 20},
		// Microsoft.Insights publishes limits for metrics queries only
		// (the ARM page above); the collector lists the subscription's
		// diagnostic settings once. Conservative.
		"microsoft.insights": {Rate: 10, Burst: 20},
		// Microsoft.Security (Defender for Cloud) publishes no limits; the
		// collector lists the subscription's pricings once. Conservative.
		"microsoft.security": {Rate: 10, Burst: 20},
		// Microsoft.Management (management groups) publishes no limits;
		// discovery reads a group's descendants once per named group, at
		// tenant level. Conservative.
		"microsoft.management": {Rate: 5, Burst: 10},
	}
}

// DefaultRateLimits returns the rate and burst of every bucket the
// collector keeps to by default, before headroom, keyed like
// collectors.azure.rate_limits.
func DefaultRateLimits() map[string]RateLimit { return defaultLimits() }

// limiter decides which buckets an ARM request waits on: per subscription
// ("" for tenant-level requests), ARM's and the resource provider's.
type limiter struct {
	// limits are the defaults with headroom, replaced by
	// collectors.azure.rate_limits where it names a key.
	limits map[string]RateLimit

	buckets ratelimit.Buckets
}

// newLimiter returns a limiter with the default buckets, at
// ratelimit.DefaultHeadroom of their rate, and the configured overrides as
// given. An override for a provider without a default gets that provider
// a bucket; a provider with neither waits on ARM's bucket alone.
func newLimiter(overrides map[string]RateLimit) *limiter {
	limits := defaultLimits()
	for k, l := range limits {
		l.Rate *= ratelimit.DefaultHeadroom
		limits[k] = l
	}
	for k, l := range overrides {
		limits[k] = l.WithDefaults()
	}
	return &limiter{limits: limits}
}

// wait holds the caller until the provider's bucket of scope, then ARM's,
// has a token, or ctx ends.
func (l *limiter) wait(ctx context.Context, scope, provider string) error {
	if r, ok := l.limits[provider]; ok && provider != limitARM {
		if err := l.buckets.Wait(ctx, scope, provider, r); err != nil {
			return fmt.Errorf("wait for the %s rate limit: %w", provider, err)
		}
	}
	if err := l.buckets.Wait(ctx, scope, limitARM, l.limits[limitARM]); err != nil {
		return fmt.Errorf("wait for the %s rate limit: %w", limitARM, err)
	}
	return nil
}

// forget drops a subscription's buckets once nothing more will be sent to
// it, so that a tenant of thousands of subscriptions does not keep them
// all.
func (l *limiter) forget(subscription string) { l.buckets.Forget(subscription) }

// stats reports how often and how long attempts waited for a token.
func (l *limiter) stats() (waits int64, waited time.Duration) { return l.buckets.Stats() }

// Do implements policy.Policy. As a per-retry policy it runs before every
// attempt, after the SDK's retry policy (which honours Retry-After on 429),
// so that retries wait for a token too.
func (l *limiter) Do(req *policy.Request) (*http.Response, error) {
	scope, provider := requestScope(req.Raw().URL.Path)
	if err := l.wait(req.Raw().Context(), scope, provider); err != nil {
		return nil, err
	}
	return req.Next()
}

// requestScope reads an ARM request path: the subscription it names, in
// lower case ("" for a tenant-level request), and the resource provider
// namespace that serves it, in lower case: the last one the path names, as
// for extension resources (/subscriptions/x/providers/Microsoft.Insights/
// diagnosticSettings), or "" for ARM's own resources (subscriptions).
func requestScope(path string) (subscription, provider string) {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	if len(segs) > 1 && strings.EqualFold(segs[0], "subscriptions") {
		subscription = strings.ToLower(segs[1])
	}
	for i := 0; i+1 < len(segs); i++ {
		if strings.EqualFold(segs[i], "providers") {
			provider = strings.ToLower(segs[i+1])
		}
	}
	return subscription, provider
}

// callTimeout bounds one attempt's HTTP exchange, from after its wait for a
// rate-limit token to the end of its body. The SDK's body download policy,
// later in the pipeline, has read the body whole by the time Next returns;
// Payload makes sure of it before the context ends.
type callTimeout time.Duration

// Do implements policy.Policy. A zero timeout (a config that was not
// defaulted) bounds nothing.
func (d callTimeout) Do(req *policy.Request) (*http.Response, error) {
	if d <= 0 {
		return req.Next()
	}
	ctx, cancel := context.WithTimeout(req.Raw().Context(), time.Duration(d))
	defer cancel()
	resp, err := req.Clone(ctx).Next()
	if err != nil {
		return resp, err
	}
	if _, err := runtime.Payload(resp); err != nil {
		return resp, fmt.Errorf("read the response body: %w", err)
	}
	return resp, nil
}
