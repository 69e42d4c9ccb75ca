// Package azure collects EUCS evidence from Microsoft Azure through Azure
// Resource Manager with azure-sdk-for-go: it finds the subscriptions to
// assess (a configured list, every one under a management group, or every
// one the identity can read), fans out over subscriptions and services with
// bounded concurrency, and streams one finding per check and resource into
// a finding.Sink.
//
// Every API failure becomes a not_assessed finding with its reason; it never
// aborts the run and never passes or fails a check.
package azure

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/managementgroups/armmanagementgroups"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armsubscriptions"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/errgroup"

	"github.com/eucs-agent/eucs-agent/internal/finding"
)

// Provider is the provider name findings carry.
const Provider = "azure"

// GlobalRegion is the region of findings and coverage that concern a whole
// subscription rather than one location: ARM lists every location at once.
const GlobalRegion = "global"

// LocationCheck is the data-location check every enumerated resource gets
// when allowed regions are configured.
const LocationCheck = "azure.location.allowed_region"

// UnknownSubscription is the account of findings when the subscriptions to
// assess could not be discovered at all.
const UnknownSubscription = "unknown"

// Collector assesses Azure subscriptions.
type Collector struct {
	cfg  Config
	cred azcore.TokenCredential
	opts *arm.ClientOptions
	log  *slog.Logger
	// limits keeps every request within ARM's and the resource
	// providers' token buckets.
	limits *limiter
	// scanners run once in each subscription.
	scanners []scanner
	// tracer, when set (SetTracer), traces each scope and discovery.
	tracer trace.Tracer
}

// scanner collects one service's checks in one subscription.
type scanner struct {
	service string // storage, keyvault, network, ...
	// checks are the IDs scan may emit; when the service cannot be listed
	// at all, each becomes a not_assessed finding for the whole scope.
	checks []string
	// locates is true when scan emits the location check for the
	// resources it lists.
	locates bool
	scan    func(ctx context.Context, s *scope) error
}

// NewCredential returns the default credential chain (environment, workload
// identity, managed identity, Azure CLI) for cfg's cloud.
func NewCredential(cfg Config) (azcore.TokenCredential, error) {
	cl, err := cloudConfig(cfg.Cloud)
	if err != nil {
		return nil, err
	}
	cred, err := azidentity.NewDefaultAzureCredential(&azidentity.DefaultAzureCredentialOptions{
		ClientOptions: policy.ClientOptions{Cloud: cl},
	})
	if err != nil {
		return nil, fmt.Errorf("set up Azure credentials: %w", err)
	}
	return cred, nil
}

// New returns a collector. cred authenticates every call; base, which may
// be nil, carries SDK settings such as a test transport. cfg must have been
// validated and defaulted, and decides the cloud, the endpoint, the
// timeouts and the retries whatever base says.
func New(cfg Config, cred azcore.TokenCredential, base *arm.ClientOptions, log *slog.Logger) (*Collector, error) {
	if cred == nil {
		return nil, errors.New("azure collector needs a credential")
	}
	limits := newLimiter(cfg.RateLimits)
	opts, err := clientOptions(cfg, base, limits)
	if err != nil {
		return nil, err
	}
	return &Collector{cfg: cfg, cred: cred, opts: opts, log: log.With("collector", Provider), limits: limits, scanners: scanners()}, nil
}

// clientOptions derives the SDK options every client of the run shares:
// every attempt, retries included, waits for limits (a per-retry policy,
// after the SDK's retry policy, which honours Retry-After on 429) and is
// then bounded by the call timeout.
func clientOptions(cfg Config, base *arm.ClientOptions, limits *limiter) (*arm.ClientOptions, error) {
	opts := &arm.ClientOptions{}
	if base != nil {
		opts = base.Clone()
	}
	cl, err := cloudConfig(cfg.Cloud)
	if err != nil {
		return nil, err
	}
	if cfg.EndpointURL != "" {
		rm := cl.Services[cloud.ResourceManager]
		rm.Endpoint = cfg.EndpointURL
		cl.Services[cloud.ResourceManager] = rm
	}
	opts.Cloud = cl
	// The SDK's per-try timeout would also run while an attempt waits for
	// its rate-limit token; callTimeout starts after the wait.
	opts.Retry.TryTimeout = 0
	opts.PerRetryPolicies = append(slices.Clone(opts.PerRetryPolicies), limits, callTimeout(cfg.CallTimeout))
	// The SDK reads zero retries as its default of three; below zero is
	// none.
	opts.Retry.MaxRetries = int32(cfg.MaxAttempts - 1)
	if cfg.MaxAttempts <= 1 {
		opts.Retry.MaxRetries = -1
	}
	// Registering a resource provider is a write; the agent only reads, so
	// an unregistered provider is reported, not fixed.
	opts.DisableRPRegistration = true
	if opts.Telemetry.ApplicationID == "" {
		opts.Telemetry.ApplicationID = "eucs-agent"
	}
	return opts, nil
}

// cloudConfig returns a private copy of the named cloud's configuration, so
// that an endpoint override never touches the SDK's shared one.
func cloudConfig(name string) (cloud.Configuration, error) {
	var cl cloud.Configuration
	switch name {
	case "", CloudPublic:
		cl = cloud.AzurePublic
	case CloudUSGovernment:
		cl = cloud.AzureGovernment
	case CloudChina:
		cl = cloud.AzureChina
	default:
		return cloud.Configuration{}, fmt.Errorf("unknown Azure cloud %q", name)
	}
	cl.Services = maps.Clone(cl.Services)
	return cl, nil
}

// scanners is the plain list of everything the collector checks.
func scanners() []scanner {
	return []scanner{
		storageScanner(),
		keyVaultScanner(),
		networkScanner(),
		sqlScanner(),
		computeScanner(),
		monitorScanner(),
		defenderScanner(),
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

// target is a subscription to assess.
type target struct {
	// id is the subscription ID in lower case, the canonical form shards
	// hash and findings carry.
	id string
	// state is the subscription's state when discovery already knows it;
	// "" means it still has to be read (which also proves access).
	state string
	// explicit subscriptions were configured by ID and are assessed
	// whatever their state.
	explicit bool
}

// assessable reports whether a subscription in state is assessed. Disabled
// and deleted subscriptions run nothing and refuse most reads, so
// discovery passes them by (with a coverage record); Warned and PastDue
// ones still run their resources and are assessed. A configured
// subscription is assessed regardless.
func assessable(t target, state string) bool {
	return t.explicit || (state != "Disabled" && state != "Deleted")
}

// discovery is what targets found.
type discovery struct {
	// targets are the subscriptions this replica assesses.
	targets []target
	// skipped are discovered subscriptions this replica owns whose state
	// already rules them out.
	skipped []target
	// found is how many subscriptions there were before include, exclude
	// and the shard chose among them; zero means the identity sees none.
	found int
	// chosen is how many of them include and exclude chose, otherShards
	// how many of those other replicas' shards own.
	chosen, otherShards int
	// where says where discovery looked, for the error when found is 0.
	where string
}

// noneReadable is the failure of a discovery that found no subscription
// at all.
func (d discovery) noneReadable() error {
	return errors.New(strings.TrimSpace("the identity can read no subscription " + d.where))
}

// Collect assesses every subscription in scope that this replica's shard
// owns. It returns an error only when the sink fails (the evidence can no
// longer be kept) or ctx is cancelled; every cloud-side failure is
// reported through the sink instead.
//
// At most Concurrency scans (one service in one subscription) run at
// once. Subscriptions are read (their state, where discovery does not know
// it) under the same bound beside them, and a read subscription holds its
// place in that bound until its scans have all been handed to workers, so
// memory follows the subscriptions in flight (and the list of IDs), not
// the tenant's size. A subscription's rate-limit buckets are dropped when
// its last scan ends.
func (c *Collector) Collect(ctx context.Context, sink finding.Sink) error {
	d, err := c.targets(ctx)
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case err != nil:
		return c.subscriptionNotAssessed(ctx, sink, UnknownSubscription, classify(err), err)
	case d.found == 0:
		// An identity without any role assignment sees no subscription at
		// all, which must not read as a clean bill of health.
		return c.subscriptionNotAssessed(ctx, sink, UnknownSubscription, finding.AccessDenied, d.noneReadable())
	}
	for _, t := range d.skipped {
		if err := c.skip(ctx, sink, t.id, t.state); err != nil {
			return err
		}
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.cfg.Concurrency)
	// Reading each subscription is network work too, so it runs under the
	// same bound as the scans, from its own group so that it never waits
	// for a slot it holds.
	var setup errgroup.Group
	setup.SetLimit(c.cfg.Concurrency)
	for _, t := range d.targets {
		setup.Go(func() error {
			start := time.Now()
			state, err := c.resolve(gctx, t)
			if err != nil {
				c.limits.forget(t.id)
				c.unreadScopes(gctx, t.id, start, err)
				return c.subscriptionNotAssessed(gctx, sink, t.id, classify(err), err)
			}
			if !assessable(t, state) {
				c.limits.forget(t.id)
				return c.skip(gctx, sink, t.id, state)
			}
			var left atomic.Int64
			left.Store(int64(len(c.scanners)))
			for _, sc := range c.scanners {
				g.Go(func() error {
					defer func() {
						if left.Add(-1) == 0 {
							c.limits.forget(t.id)
						}
					}()
					return c.run(gctx, sink, t.id, sc)
				})
			}
			return nil
		})
	}
	err = setup.Wait()
	if gerr := g.Wait(); err == nil {
		err = gerr
	}
	if waits, waited := c.limits.stats(); waits > 0 {
		c.log.Info("rate limits paced the run", "waits", waits, "waited", waited.Round(time.Millisecond))
	}
	return err
}

// targets finds the subscriptions to assess: the configured ones, or those
// discovered under the management group or readable by the identity and
// chosen by include and exclude; in every case only those this replica's
// shard owns, decided by the lower-case subscription ID before any call is
// made for the subscription.
func (c *Collector) targets(ctx context.Context) (discovery, error) {
	if len(c.cfg.Subscriptions) > 0 {
		return c.configured(), nil
	}
	ctx, span := c.startDiscovery(ctx)
	d, err := c.discover(ctx)
	endDiscovery(span, d, err)
	return d, err
}

// configured chooses among the configured subscriptions those this
// replica's shard owns; it makes no call.
func (c *Collector) configured() discovery {
	shard := c.cfg.Shard
	d := discovery{found: len(c.cfg.Subscriptions), where: "among those configured"}
	for _, id := range c.cfg.Subscriptions {
		if t := (target{id: strings.ToLower(id), explicit: true}); shard.Owns(t.id) {
			d.targets = append(d.targets, t)
		}
	}
	if shard != nil {
		c.log.Info("shard selects subscriptions", "shard", shard.String(), "subscriptions", len(d.targets), "of", len(c.cfg.Subscriptions))
	}
	return d
}

// discover lists the subscriptions under the management group or readable
// by the identity, and chooses among them.
func (c *Collector) discover(ctx context.Context) (discovery, error) {
	shard := c.cfg.Shard
	ctx, cancel := context.WithTimeout(ctx, c.cfg.ScopeTimeout)
	defer cancel()
	var d discovery
	var all []target
	if mg := c.cfg.ManagementGroup; mg != "" {
		d.where = "under management group " + mg
		ids, err := c.groupSubscriptions(ctx, mg)
		if err != nil {
			return d, fmt.Errorf("list subscriptions %s: %w", d.where, err)
		}
		for _, id := range ids {
			// Their state is not in the listing; resolve reads it.
			all = append(all, target{id: id})
		}
	} else {
		var err error
		if all, err = c.readableSubscriptions(ctx); err != nil {
			return d, err
		}
	}
	d.found = len(all)
	include, err := c.selected(ctx, "include", c.cfg.Include)
	if err != nil {
		return d, err
	}
	exclude, err := c.selected(ctx, "exclude", c.cfg.Exclude)
	if err != nil {
		return d, err
	}
	for _, t := range all {
		if (len(c.cfg.Include) > 0 && !include[t.id]) || exclude[t.id] {
			continue
		}
		d.chosen++
		if !shard.Owns(t.id) {
			d.otherShards++
			continue
		}
		if t.state != "" && !assessable(t, t.state) {
			d.skipped = append(d.skipped, t)
			continue
		}
		d.targets = append(d.targets, t)
	}
	if d.found > 0 && d.chosen == 0 {
		c.log.Warn("include and exclude leave none of the discovered subscriptions to assess", "subscriptions", d.found)
	}
	c.log.Info("subscriptions discovered", "subscriptions", d.found, "chosen", d.chosen, "assessed", len(d.targets),
		"skipped", len(d.skipped), "other_shards", d.otherShards, "shard", shard.String())
	return d, nil
}

// readableSubscriptions lists every subscription the identity can read,
// with its state.
func (c *Collector) readableSubscriptions(ctx context.Context) ([]target, error) {
	client, err := armsubscriptions.NewClient(c.cred, c.opts)
	if err != nil {
		return nil, fmt.Errorf("create subscriptions client: %w", err)
	}
	var out []target
	for p := client.NewListPager(nil); p.More(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, fmt.Errorf("list subscriptions: %w", err)
		}
		for _, s := range page.Value {
			if s == nil || s.SubscriptionID == nil {
				continue
			}
			t := target{id: strings.ToLower(*s.SubscriptionID), state: "Enabled"}
			if s.State != nil {
				t.state = string(*s.State)
			}
			out = append(out, t)
		}
	}
	return out, nil
}

// selected resolves include or exclude entries to the subscription IDs
// they name: subscription IDs as they are, management groups as every
// subscription beneath them, nested groups included.
func (c *Collector) selected(ctx context.Context, field string, entries []string) (map[string]bool, error) {
	ids := map[string]bool{}
	for i, e := range entries {
		sel, _ := parseSelector(e) // Validate has refused what does not parse
		if sel.subscription != "" {
			ids[sel.subscription] = true
			continue
		}
		subs, err := c.groupSubscriptions(ctx, sel.group)
		if err != nil {
			return nil, fmt.Errorf("list subscriptions under management group %s (%s[%d]): %w", sel.group, field, i, err)
		}
		for _, id := range subs {
			ids[id] = true
		}
	}
	return ids, nil
}

// groupSubscriptions lists the IDs, in lower case, of the subscriptions
// anywhere below management group mg.
func (c *Collector) groupSubscriptions(ctx context.Context, mg string) ([]string, error) {
	client, err := armmanagementgroups.NewClient(c.cred, c.opts)
	if err != nil {
		return nil, fmt.Errorf("create management groups client: %w", err)
	}
	var out []string
	seen := map[string]bool{}
	for p := client.NewGetDescendantsPager(mg, nil); p.More(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		for _, d := range page.Value {
			if d == nil || d.ID == nil || d.Name == nil || !strings.HasPrefix(strings.ToLower(*d.ID), "/subscriptions/") {
				continue
			}
			id := strings.ToLower(*d.Name)
			if !seen[id] {
				seen[id] = true
				out = append(out, id)
			}
		}
	}
	return out, nil
}

// resolve returns a subscription's state, reading it when discovery does
// not know it: that also proves the identity can read the subscription.
func (c *Collector) resolve(ctx context.Context, t target) (string, error) {
	if t.state != "" {
		return t.state, nil
	}
	client, err := armsubscriptions.NewClient(c.cred, c.opts)
	if err != nil {
		return "", fmt.Errorf("create subscriptions client: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.ScopeTimeout)
	defer cancel()
	s, err := client.Get(ctx, t.id, nil)
	if err != nil {
		return "", fmt.Errorf("read subscription %s: %w", t.id, err)
	}
	if s.State == nil {
		return "Enabled", nil
	}
	return string(*s.State), nil
}

// skip reports a discovered subscription that is not assessed because of
// its state: a log line and a not_assessed coverage record, never silence.
func (c *Collector) skip(ctx context.Context, sink finding.Sink, id, state string) error {
	c.log.Warn("subscription skipped", "subscription", id, "state", state)
	if err := sink.Coverage(ctx, finding.Coverage{Provider: Provider, Account: id, Region: GlobalRegion, Service: "subscriptions",
		Status: finding.NotCovered, Detail: fmt.Sprintf("subscription is %s, so it is not assessed", state)}); err != nil {
		return fmt.Errorf("keep coverage: %w", err)
	}
	return nil
}

// subscriptionNotAssessed reports a subscription that could not be entered
// at all: every check of every service is not assessed.
func (c *Collector) subscriptionNotAssessed(ctx context.Context, sink finding.Sink, sub string, reason finding.Reason, err error) error {
	c.log.Warn("subscription not assessed", "subscription", sub, "reason", reason, "error", err)
	for _, sc := range c.scanners {
		s := &scope{c: c, sink: sink, subscription: sub, service: sc.service}
		if err := s.scopeNotAssessed(ctx, sc, reason, err); err != nil {
			return err
		}
	}
	return nil
}

// run scans one service in one subscription and records coverage.
func (c *Collector) run(ctx context.Context, sink finding.Sink, sub string, sc scanner) error {
	s := &scope{c: c, sink: sink, subscription: sub, service: sc.service}
	sctx, cancel := context.WithTimeout(ctx, c.cfg.ScopeTimeout)
	defer cancel()
	sctx, span := c.startScope(sctx, sub, sc.service)
	start := time.Now()
	err := sc.scan(sctx, s)
	serr := s.failed()
	endScope(span, err, serr)
	if serr != nil {
		return serr
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	log := c.log.With("subscription", sub, "service", sc.service, "duration", time.Since(start))
	if err != nil {
		reason := classify(err)
		log.Warn("scope not assessed", "reason", reason, "error", err)
		return s.scopeNotAssessed(ctx, sc, reason, err)
	}
	log.Debug("scope assessed")
	return sink.Coverage(ctx, finding.Coverage{Provider: Provider, Account: sub, Region: GlobalRegion, Service: sc.service, Status: finding.Assessed})
}

// errorReasons maps ARM error codes to not-assessed reasons. Codes not
// listed are api_error, unless the HTTP status says more (see classify).
func errorReasons() map[string]finding.Reason {
	return map[string]finding.Reason{
		"AuthorizationFailed":                finding.AccessDenied,
		"LinkedAuthorizationFailed":          finding.AccessDenied,
		"AuthenticationFailed":               finding.AccessDenied,
		"InvalidAuthenticationToken":         finding.AccessDenied,
		"InvalidAuthenticationTokenTenant":   finding.AccessDenied,
		"InvalidAuthenticationTokenAudience": finding.AccessDenied,
		"ExpiredAuthenticationToken":         finding.AccessDenied,
		"AuthorizationPermissionMismatch":    finding.AccessDenied,
		"Forbidden":                          finding.AccessDenied,
		// ARM answers a subscription the identity has no role in exactly
		// as one that does not exist; a configured subscription is far
		// more likely the former.
		"SubscriptionNotFound":          finding.AccessDenied,
		"TooManyRequests":               finding.Throttled,
		"SubscriptionRequestsThrottled": finding.Throttled,
		"TenantRequestsThrottled":       finding.Throttled,
		"ResourceRequestsThrottled":     finding.Throttled,
		"RequestThrottled":              finding.Throttled,
	}
}

// classify maps an Azure SDK error to the reason it leaves a check
// unassessed: by ARM error code first, then by HTTP status for codes that
// are not known (401/403 are access denied, 429 is throttling).
func classify(err error) finding.Reason {
	// A ResponseError keeps the ARM error code (AuthorizationFailed, …) in
	// a field, not behind an ErrorCode method.
	code := ""
	var re *azcore.ResponseError
	if errors.As(err, &re) {
		code = re.ErrorCode
	}
	var authErr *azidentity.AuthenticationFailedError
	if errors.As(err, &authErr) {
		return finding.AccessDenied
	}
	r := finding.ClassifyCode(err, code, errorReasons())
	if r == finding.APIError && re != nil {
		switch re.StatusCode {
		case 401, 403:
			return finding.AccessDenied
		case 429:
			return finding.Throttled
		}
	}
	return r
}

// errorDetail is the text kept in a not-assessed finding. The SDK's
// ResponseError spells out the request and the whole response body over a
// dozen lines; the evidence keeps the status, the code and ARM's message.
func errorDetail(err error) string {
	var re *azcore.ResponseError
	if !errors.As(err, &re) {
		return finding.ErrorDetail(err)
	}
	short := fmt.Sprintf("HTTP %d %s", re.StatusCode, re.ErrorCode)
	if msg := armMessage(re); msg != "" {
		short += ": " + msg
	}
	return finding.ErrorDetail(errors.New(strings.Replace(err.Error(), re.Error(), short, 1)))
}

// armMessage is the message of an ARM error body, or "".
func armMessage(re *azcore.ResponseError) string {
	if re.RawResponse == nil {
		return ""
	}
	body, err := runtime.Payload(re.RawResponse)
	if err != nil {
		return ""
	}
	var e struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil {
		return ""
	}
	return e.Error.Message
}

// scope is one service in one subscription, with the helpers a scanner uses
// to emit findings.
type scope struct {
	c            *Collector
	sink         finding.Sink
	subscription string
	service      string

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
	f.Provider, f.Account = Provider, s.subscription
	if f.Service == "" {
		f.Service = s.service
	}
	if f.Region == "" {
		f.Region = GlobalRegion
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
	return s.emit(ctx, finding.Finding{Check: check, Resource: resource, Region: region, Status: finding.StatusOf(ok), Detail: detail, Observed: observed})
}

// notApplicable emits not_applicable with the reason in detail.
func (s *scope) notApplicable(ctx context.Context, check, resource, region, detail string) error {
	return s.emit(ctx, finding.Finding{Check: check, Resource: resource, Region: region, Status: finding.NotApplicable, Detail: detail})
}

// notAssessed emits not_assessed for one check on one resource, with the
// reason the call that should have decided it failed.
func (s *scope) notAssessed(ctx context.Context, check, resource, region string, err error) error {
	return s.emit(ctx, finding.Finding{Check: check, Resource: resource, Region: region,
		Status: finding.NotAssessed, Reason: classify(err), Detail: errorDetail(err)})
}

// located emits the data-location verdict for a resource in location. It
// does nothing when no allowed regions are configured.
func (s *scope) located(ctx context.Context, resource, location string) error {
	allowed := s.c.cfg.AllowedRegions
	if len(allowed) == 0 {
		return nil
	}
	ok := slices.Contains(allowed, location)
	detail := fmt.Sprintf("resource is in %s, an allowed region", location)
	if !ok {
		detail = fmt.Sprintf("resource is in %s, outside the allowed regions %s", location, strings.Join(allowed, ", "))
	}
	return s.emit(ctx, finding.Finding{Check: LocationCheck, Resource: resource, Region: location,
		Status: finding.StatusOf(ok), Detail: detail, Observed: map[string]any{"location": location}})
}

// scopeNotAssessed emits a not_assessed finding for every check of sc over
// the whole scope (resource "*"), and a not_assessed coverage record.
func (s *scope) scopeNotAssessed(ctx context.Context, sc scanner, reason finding.Reason, cause error) error {
	checks := sc.checks
	if sc.locates && len(s.c.cfg.AllowedRegions) > 0 {
		checks = append(slices.Clone(checks), LocationCheck)
	}
	detail := errorDetail(cause)
	for _, check := range checks {
		if err := s.emit(ctx, finding.Finding{Check: check, Resource: "*", Status: finding.NotAssessed, Reason: reason, Detail: detail}); err != nil {
			return err
		}
	}
	if err := s.sink.Coverage(ctx, finding.Coverage{Provider: Provider, Account: s.subscription, Region: GlobalRegion, Service: sc.service,
		Status: finding.NotCovered, Reason: reason, Detail: detail}); err != nil {
		return fmt.Errorf("keep coverage: %w", err)
	}
	return nil
}

// location is a resource's location in the programmatic spelling
// (westeurope), which some older APIs return as a display name (West
// Europe).
func location(loc *string) string {
	if loc == nil {
		return ""
	}
	return strings.ToLower(strings.ReplaceAll(*loc, " ", ""))
}

// str dereferences an optional string.
func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// unset is what Observed records for a property the API left out.
const unset = "unset"
