// Package aws collects EUCS evidence from Amazon Web Services with
// aws-sdk-go-v2: it assumes a role in each configured account, fans out over
// regions and services with bounded concurrency, and streams one finding per
// check and resource into a finding.Sink.
//
// Every API failure becomes a not_assessed finding with its reason; it never
// aborts the run and never passes or fails a check.
package aws

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/ec2"
	"github.com/aws/aws-sdk-go-v2/service/organizations"
	"github.com/aws/aws-sdk-go-v2/service/sts"
	"github.com/aws/smithy-go/middleware"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/errgroup"

	"github.com/eucs-agent/eucs-agent/internal/finding"
)

// Provider is the provider name findings carry.
const Provider = "aws"

// GlobalRegion is the region findings of global services (IAM) carry.
const GlobalRegion = "global"

// LocationCheck is the data-location check every enumerated resource gets
// when allowed regions are configured.
const LocationCheck = "aws.location.allowed_region"

// Collector assesses AWS accounts.
type Collector struct {
	cfg  Config
	base aws.Config
	log  *slog.Logger
	// limits keeps every API call within AWS's token buckets.
	limits *limiter
	// scanners run in each account; global ones once, regional ones in
	// every region.
	scanners []scanner
	// tracer, when set (SetTracer), traces each scope.
	tracer trace.Tracer
}

// scanner collects one service's checks in one scope.
type scanner struct {
	service string // SDK signing name: s3, ec2, iam, ...
	// area distinguishes scanners that share a service (EC2's volumes,
	// security groups and VPCs) in coverage records; empty for the rest.
	area   string
	global bool
	// checks are the IDs scan may emit; when the service cannot be listed
	// at all, each becomes a not_assessed finding for the whole scope.
	checks []string
	scan   func(ctx context.Context, s *scope) error
}

// coverageName is how coverage records name the scanner: the service, and
// the area within it when several scanners share one.
func (sc scanner) coverageName() string {
	if sc.area == "" {
		return sc.service
	}
	return sc.service + "/" + sc.area
}

// LoadBase loads the SDK configuration from the environment (default
// credential chain, shared config, AWS_ENDPOINT_URL*) with cfg's overrides.
func LoadBase(ctx context.Context, cfg Config) (aws.Config, error) {
	base, err := config.LoadDefaultConfig(ctx, config.WithRegion(cfg.HomeRegion))
	if err != nil {
		return aws.Config{}, fmt.Errorf("load AWS configuration: %w", err)
	}
	return base, nil
}

// New returns a collector. base carries credentials and SDK settings (see
// LoadBase); cfg must have been validated and defaulted.
func New(cfg Config, base aws.Config, log *slog.Logger) *Collector {
	base = base.Copy()
	if cfg.EndpointURL != "" {
		base.BaseEndpoint = aws.String(cfg.EndpointURL)
	}
	if base.Region == "" {
		base.Region = cfg.HomeRegion
	}
	// Every scope may have a handful of requests in flight (resource
	// workers); without idle connections to match, each would open and
	// close a connection, and a large run would churn through ports.
	conns := cfg.Concurrency * s3BucketWorkers
	base.HTTPClient = bufferedBodies{next: awshttp.NewBuildableClient().WithTimeout(cfg.CallTimeout).
		WithTransportOptions(func(t *http.Transport) {
			t.MaxIdleConns = max(t.MaxIdleConns, conns)
			t.MaxIdleConnsPerHost = max(t.MaxIdleConnsPerHost, conns)
		})}
	attempts := cfg.MaxAttempts
	// Adaptive mode is standard retries plus a client-side send rate that
	// backs off when AWS throttles anyway (the account's other tools share
	// its quotas): the collector's own rate limiter keeps it under the
	// documented limits, adaptive mode under the limits that are left.
	base.Retryer = func() aws.Retryer {
		return retry.NewAdaptiveMode(func(o *retry.AdaptiveModeOptions) {
			o.StandardOptions = append(o.StandardOptions, func(so *retry.StandardOptions) {
				so.MaxAttempts = attempts
				so.MaxBackoff = 20 * time.Second
			})
		})
	}
	return &Collector{cfg: cfg, base: base, log: log.With("collector", Provider), limits: newLimiter(cfg.RateLimits), scanners: scanners()}
}

// limited returns cfg with every request of its clients paced by the rate
// limiter as calls in account ("" for the agent's own identity).
func (c *Collector) limited(cfg aws.Config, account string) aws.Config {
	cfg = cfg.Copy()
	// A fresh slice: Copy shares APIOptions, and concurrent accounts must
	// not append into one backing array.
	cfg.APIOptions = slices.Concat(c.base.APIOptions, []func(*middleware.Stack) error{c.limits.middleware(account)})
	return cfg
}

// scanners is the plain list of everything the collector checks.
func scanners() []scanner {
	return []scanner{
		s3Scanner(),
		ebsScanner(),
		securityGroupScanner(),
		vpcScanner(),
		iamScanner(),
		kmsScanner(),
		cloudTrailScanner(),
		rdsScanner(),
		guardDutyScanner(),
	}
}

// Checks lists every check ID the collector can emit, sorted.
func Checks() []string {
	ids := []string{LocationCheck}
	for _, sc := range scanners() {
		ids = append(ids, sc.checks...)
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// Name is the collector's name in logs and coverage.
func (c *Collector) Name() string { return Provider }

// account is a resolved account: its ID and the SDK config whose credentials
// act in it.
type account struct {
	id  string
	cfg aws.Config
}

// Collect assesses every configured account (or every account the
// organization lists, or the ambient credentials' account) that this
// replica's shard owns. It returns an error only when the sink fails (the
// evidence can no longer be kept) or ctx is cancelled; every cloud-side
// failure is reported through the sink instead.
//
// Accounts are resolved (AssumeRole, region discovery) under the
// concurrency bound, and each account's scopes are queued as soon as it is
// resolved; Concurrency workers run the queue, global scopes first (see
// scheduler). An account's rate-limit buckets are dropped when its last
// scope ends, so memory follows the accounts in flight, not the
// organization's size.
func (c *Collector) Collect(ctx context.Context, sink finding.Sink) error {
	targets, err := c.targets(ctx, sink)
	if err != nil {
		var derr *discoveryError
		if !errors.As(err, &derr) {
			return err
		}
		c.log.Error("organization accounts could not be discovered", "error", err)
		return c.accountNotAssessed(ctx, sink, Account{}, err)
	}

	g, gctx := errgroup.WithContext(ctx)
	sched := newScheduler()
	for range c.cfg.Concurrency {
		g.Go(func() error { return sched.work(gctx) })
	}
	// Resolving accounts is network work too, so it runs under the same
	// bound, from its own group so that it never waits for a worker.
	var setup errgroup.Group
	setup.SetLimit(c.cfg.Concurrency)
	for _, t := range targets {
		setup.Go(func() error {
			acct, regions, err := c.resolve(gctx, t)
			if err != nil {
				return c.accountNotAssessed(gctx, sink, t, err)
			}
			if t.ID == "" && !c.cfg.Shard.Owns(acct.id) {
				c.log.Info("the credentials' account belongs to another shard; nothing to assess", "account", acct.id, "shard", c.cfg.Shard.String())
				return nil
			}
			c.queue(sched, sink, acct, regions)
			return nil
		})
	}
	err = setup.Wait()
	sched.close()
	// A failure in one group cancels the other, whose error is then a bare
	// context.Canceled; report the cause, not the echo.
	if gerr := g.Wait(); err == nil || (errors.Is(err, context.Canceled) && gerr != nil && !errors.Is(gerr, context.Canceled)) {
		err = gerr
	}
	if waits, waited := c.limits.stats(); waits > 0 {
		c.log.Info("rate limits paced the run", "waits", waits, "waited", waited.Round(time.Millisecond))
	}
	return err
}

// targets returns the accounts to resolve: the organization's (discovered),
// the configured ones, or the ambient credentials' account; in every case
// only those this replica's shard owns, where the ID is known up front.
func (c *Collector) targets(ctx context.Context, sink finding.Sink) ([]Account, error) {
	switch {
	case c.cfg.Organization != nil:
		api := organizations.NewFromConfig(c.limited(c.base, ""))
		return c.discover(ctx, sink, api)
	case len(c.cfg.Accounts) > 0:
		var out []Account
		for _, a := range c.cfg.Accounts {
			if c.cfg.Shard.Owns(a.ID) {
				out = append(out, a)
			}
		}
		if c.cfg.Shard != nil {
			c.log.Info("shard selects accounts", "shard", c.cfg.Shard.String(), "accounts", len(out), "of", len(c.cfg.Accounts))
		}
		return out, nil
	}
	return []Account{{}}, nil
}

// queue submits every scope of a resolved account to the scheduler: global
// scanners once, as heavy jobs; regional ones in every region.
func (c *Collector) queue(sched *scheduler, sink finding.Sink, acct account, regions []string) {
	type job struct {
		region string
		sc     scanner
	}
	var jobs []job
	for _, sc := range c.scanners {
		if sc.global {
			jobs = append(jobs, job{c.cfg.HomeRegion, sc})
			continue
		}
		for _, r := range regions {
			jobs = append(jobs, job{r, sc})
		}
	}
	var left atomic.Int64
	left.Store(int64(len(jobs)))
	for _, j := range jobs {
		sched.submit(j.sc.global, func(ctx context.Context) error {
			defer func() {
				if left.Add(-1) == 0 {
					c.limits.forget(acct.id)
				}
			}()
			return c.run(ctx, sink, acct, j.region, j.sc)
		})
	}
}

// resolve finds the account's credentials, its ID and its regions.
func (c *Collector) resolve(ctx context.Context, t Account) (account, []string, error) {
	// Until the account is known, its calls are paced as the configured
	// account's, or the agent's own.
	cfg := c.limited(c.base, t.ID)
	if t.RoleARN != "" {
		stsClient := sts.NewFromConfig(c.limited(c.base, ""))
		cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(stsClient, t.RoleARN, func(o *stscreds.AssumeRoleOptions) {
			o.RoleSessionName = "eucs-agent"
			if t.ExternalID != "" {
				o.ExternalID = aws.String(t.ExternalID)
			}
		}))
	}
	cctx, cancel := context.WithTimeout(ctx, c.cfg.ScopeTimeout)
	defer cancel()
	id, err := sts.NewFromConfig(cfg).GetCallerIdentity(cctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		if t.RoleARN != "" {
			return account{}, nil, fmt.Errorf("assume role %s: %w", t.RoleARN, err)
		}
		return account{}, nil, fmt.Errorf("get caller identity: %w", err)
	}
	acct := account{id: aws.ToString(id.Account), cfg: cfg}
	if t.ID != "" && acct.id != t.ID {
		return account{}, nil, fmt.Errorf("credentials act in account %s, configured as %s", acct.id, t.ID)
	}
	if t.ID == "" {
		acct.cfg = c.limited(cfg, acct.id)
	}
	if len(c.cfg.Regions) != 1 || c.cfg.Regions[0] != "all" {
		return acct, c.cfg.Regions, nil
	}
	out, err := ec2.NewFromConfig(cfg).DescribeRegions(cctx, &ec2.DescribeRegionsInput{})
	if err != nil {
		return account{}, nil, fmt.Errorf("list enabled regions in %s: %w", acct.id, err)
	}
	var regions []string
	for _, r := range out.Regions {
		regions = append(regions, aws.ToString(r.RegionName))
	}
	slices.Sort(regions)
	return acct, regions, nil
}

// accountNotAssessed reports an account that could not be entered at all:
// every check of every service, in every configured region, is not assessed.
func (c *Collector) accountNotAssessed(ctx context.Context, sink finding.Sink, t Account, err error) error {
	id := t.ID
	if id == "" {
		id = "unknown"
	}
	reason := classify(err)
	c.log.Warn("account not assessed", "account", id, "reason", reason, "error", err)
	regions := c.cfg.Regions
	if len(regions) == 1 && regions[0] == "all" {
		regions = []string{"all"}
	}
	for _, sc := range c.scanners {
		rs := regions
		if sc.global {
			rs = []string{GlobalRegion}
		}
		for _, r := range rs {
			s := &scope{c: c, sink: sink, account: id, region: r, service: sc.service}
			if err := s.scopeNotAssessed(ctx, sc, reason, err); err != nil {
				return err
			}
		}
	}
	return nil
}

// run scans one service in one region of one account and records coverage.
func (c *Collector) run(ctx context.Context, sink finding.Sink, acct account, region string, sc scanner) error {
	cfg := acct.cfg.Copy()
	cfg.Region = region
	s := &scope{c: c, sink: sink, account: acct.id, region: region, service: sc.service, cfg: cfg}
	if sc.global {
		s.region = GlobalRegion
	}
	sctx, cancel := context.WithTimeout(ctx, c.cfg.ScopeTimeout)
	defer cancel()
	sctx, span := c.startScope(sctx, acct.id, s.region, sc.coverageName())
	start := time.Now()
	err := sc.scan(sctx, s)
	endScope(span, err)
	if serr := s.failed(); serr != nil {
		return serr
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	log := c.log.With("account", acct.id, "region", s.region, "service", sc.service, "duration", time.Since(start))
	if err != nil {
		reason := classify(err)
		log.Warn("scope not assessed", "reason", reason, "error", err)
		return s.scopeNotAssessed(ctx, sc, reason, err)
	}
	log.Debug("scope assessed")
	return sink.Coverage(ctx, finding.Coverage{Provider: Provider, Account: acct.id, Region: s.region, Service: sc.coverageName(), Status: finding.Assessed})
}

// errorReasons maps AWS error codes to not-assessed reasons. Codes not
// listed are api_error.
var errorReasons = map[string]finding.Reason{
	"AccessDenied":                finding.AccessDenied,
	"AccessDeniedException":       finding.AccessDenied,
	"UnauthorizedOperation":       finding.AccessDenied,
	"UnauthorizedAccess":          finding.AccessDenied,
	"AuthorizationError":          finding.AccessDenied,
	"AuthFailure":                 finding.AccessDenied,
	"InvalidClientTokenId":        finding.AccessDenied,
	"UnrecognizedClientException": finding.AccessDenied,
	"ExpiredToken":                finding.AccessDenied,
	"ExpiredTokenException":       finding.AccessDenied,
	"OptInRequired":               finding.AccessDenied,
	"Throttling":                  finding.Throttled,
	"ThrottlingException":         finding.Throttled,
	"ThrottledException":          finding.Throttled,
	"RequestLimitExceeded":        finding.Throttled,
	"RequestThrottled":            finding.Throttled,
	"RequestThrottledException":   finding.Throttled,
	"TooManyRequestsException":    finding.Throttled,
	"SlowDown":                    finding.Throttled,
	"PriorRequestNotComplete":     finding.Throttled,
}

func classify(err error) finding.Reason { return finding.Classify(err, errorReasons) }

// scope is one service in one region of one account, with the helpers a
// scanner uses to emit findings.
type scope struct {
	c       *Collector
	sink    finding.Sink
	account string
	region  string
	service string
	cfg     aws.Config

	// mu guards sinkErr: a scanner may emit from several goroutines.
	mu sync.Mutex
	// sinkErr is the first sink failure; once set the run is over.
	sinkErr error
}

func (s *scope) failed() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sinkErr
}

// emit fills in the scope's fields and hands f to the sink.
func (s *scope) emit(ctx context.Context, f finding.Finding) error {
	if err := s.failed(); err != nil {
		return err
	}
	f.Provider, f.Account = Provider, s.account
	if f.Service == "" {
		f.Service = s.service
	}
	if f.Region == "" {
		f.Region = s.region
	}
	if err := s.sink.Finding(ctx, f); err != nil {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.sinkErr == nil {
			s.sinkErr = fmt.Errorf("keep finding %s: %w", f.Check, err)
		}
		return s.sinkErr
	}
	return nil
}

// verdict emits pass when ok, fail otherwise.
func (s *scope) verdict(ctx context.Context, check, resource, region string, ok bool, detail string, observed map[string]any) error {
	st := finding.Fail
	if ok {
		st = finding.Pass
	}
	return s.emit(ctx, finding.Finding{Check: check, Resource: resource, Region: region, Status: st, Detail: detail, Observed: observed})
}

// notApplicable emits not_applicable with the reason in detail.
func (s *scope) notApplicable(ctx context.Context, check, resource, region, detail string) error {
	return s.emit(ctx, finding.Finding{Check: check, Resource: resource, Region: region, Status: finding.NotApplicable, Detail: detail})
}

// notAssessed emits not_assessed for one check on one resource, with the
// reason the call that should have decided it failed.
func (s *scope) notAssessed(ctx context.Context, check, resource, region string, err error) error {
	return s.emit(ctx, finding.Finding{Check: check, Resource: resource, Region: region,
		Status: finding.NotAssessed, Reason: classify(err), Detail: finding.ErrorDetail(err)})
}

// located emits the data-location verdict for a resource in region. It
// does nothing when no allowed regions are configured.
func (s *scope) located(ctx context.Context, resource, region string) error {
	allowed := s.c.cfg.AllowedRegions
	if len(allowed) == 0 {
		return nil
	}
	ok := slices.Contains(allowed, region)
	detail := fmt.Sprintf("resource is in %s, an allowed region", region)
	if !ok {
		detail = fmt.Sprintf("resource is in %s, outside the allowed regions %s", region, strings.Join(allowed, ", "))
	}
	return s.emit(ctx, finding.Finding{Check: LocationCheck, Resource: resource, Region: region,
		Status: finding.StatusOf(ok), Detail: detail, Observed: map[string]any{"region": region}})
}

// scopeNotAssessed emits a not_assessed finding for every check of sc over
// the whole scope (resource "*"), and a not_assessed coverage record.
func (s *scope) scopeNotAssessed(ctx context.Context, sc scanner, reason finding.Reason, cause error) error {
	checks := sc.checks
	if len(s.c.cfg.AllowedRegions) > 0 {
		checks = append(slices.Clone(checks), LocationCheck)
	}
	detail := finding.ErrorDetail(cause)
	for _, check := range checks {
		if err := s.emit(ctx, finding.Finding{Check: check, Resource: "*", Status: finding.NotAssessed, Reason: reason, Detail: detail}); err != nil {
			return err
		}
	}
	if err := s.sink.Coverage(ctx, finding.Coverage{Provider: Provider, Account: s.account, Region: s.region, Service: sc.coverageName(),
		Status: finding.NotCovered, Reason: reason, Detail: detail}); err != nil {
		return fmt.Errorf("keep coverage: %w", err)
	}
	return nil
}

// isCode reports whether err carries one of the AWS error codes given (a
// missing configuration, which for many checks is itself the verdict).
func isCode(err error, codes ...string) bool {
	var coder finding.APIErrorCoder
	if errors.As(err, &coder) {
		return slices.Contains(codes, coder.ErrorCode())
	}
	return false
}
