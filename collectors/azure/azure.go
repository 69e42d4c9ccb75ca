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
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/managementgroups/armmanagementgroups"
	"github.com/Azure/azure-sdk-for-go/sdk/resourcemanager/resources/armsubscriptions"
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
	// scanners run once in each subscription.
	scanners []scanner
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
	opts, err := clientOptions(cfg, base)
	if err != nil {
		return nil, err
	}
	return &Collector{cfg: cfg, cred: cred, opts: opts, log: log.With("collector", Provider), scanners: scanners()}, nil
}

// clientOptions derives the SDK options every client of the run shares.
func clientOptions(cfg Config, base *arm.ClientOptions) (*arm.ClientOptions, error) {
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
	opts.Retry.TryTimeout = cfg.CallTimeout
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
	id string
	// state is the subscription's state when discovery already knows it;
	// "" means it still has to be read (which also proves access).
	state string
	// explicit subscriptions were configured by ID and are assessed
	// whatever their state.
	explicit bool
}

// Collect assesses every subscription in scope. It returns an error only
// when the sink fails (the evidence can no longer be kept) or ctx is
// cancelled; every cloud-side failure is reported through the sink instead.
func (c *Collector) Collect(ctx context.Context, sink finding.Sink) error {
	targets, where, err := c.targets(ctx)
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case err != nil:
		return c.subscriptionNotAssessed(ctx, sink, UnknownSubscription, classify(err), err)
	case len(targets) == 0:
		// An identity without any role assignment sees no subscription at
		// all, which must not read as a clean bill of health.
		err := errors.New(strings.TrimSpace("the identity can read no active subscription " + where))
		return c.subscriptionNotAssessed(ctx, sink, UnknownSubscription, finding.AccessDenied, err)
	}
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.cfg.Concurrency)
	// Reading each subscription is network work too, so it runs under the
	// same bound as the scans, from its own group so that it never waits
	// for a slot it holds.
	var setup errgroup.Group
	setup.SetLimit(c.cfg.Concurrency)
	for _, t := range targets {
		setup.Go(func() error {
			ok, err := c.resolve(gctx, t)
			if err != nil {
				return c.subscriptionNotAssessed(gctx, sink, t.id, classify(err), err)
			}
			if !ok {
				return nil
			}
			for _, sc := range c.scanners {
				g.Go(func() error { return c.run(gctx, sink, t.id, sc) })
			}
			return nil
		})
	}
	err = setup.Wait()
	if gerr := g.Wait(); err == nil {
		err = gerr
	}
	return err
}

// targets discovers the subscriptions to assess, and says where it looked.
func (c *Collector) targets(ctx context.Context) ([]target, string, error) {
	if len(c.cfg.Subscriptions) > 0 {
		var out []target
		for _, id := range c.cfg.Subscriptions {
			out = append(out, target{id: strings.ToLower(id), explicit: true})
		}
		return out, "among those configured", nil
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.ScopeTimeout)
	defer cancel()
	if mg := c.cfg.ManagementGroup; mg != "" {
		where := "under management group " + mg
		out, err := c.groupSubscriptions(ctx, mg)
		if err != nil {
			return nil, where, fmt.Errorf("list subscriptions %s: %w", where, err)
		}
		return out, where, nil
	}
	client, err := armsubscriptions.NewClient(c.cred, c.opts)
	if err != nil {
		return nil, "", fmt.Errorf("create subscriptions client: %w", err)
	}
	var out []target
	for p := client.NewListPager(nil); p.More(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, "", fmt.Errorf("list subscriptions: %w", err)
		}
		for _, s := range page.Value {
			if s == nil || s.SubscriptionID == nil {
				continue
			}
			t := target{id: strings.ToLower(*s.SubscriptionID), state: "Enabled"}
			if s.State != nil {
				t.state = string(*s.State)
			}
			if c.active(t) {
				out = append(out, t)
			}
		}
	}
	return out, "", nil
}

// groupSubscriptions lists the subscriptions anywhere below management
// group mg. Their state is not in the listing; resolve reads it.
func (c *Collector) groupSubscriptions(ctx context.Context, mg string) ([]target, error) {
	client, err := armmanagementgroups.NewClient(c.cred, c.opts)
	if err != nil {
		return nil, fmt.Errorf("create management groups client: %w", err)
	}
	var out []target
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
				out = append(out, target{id: id})
			}
		}
	}
	return out, nil
}

// active reports whether a discovered subscription is worth assessing.
// Disabled and deleted subscriptions run nothing and refuse most reads, so
// discovery passes them by; a configured one is assessed regardless.
func (c *Collector) active(t target) bool {
	if t.explicit || (t.state != "Disabled" && t.state != "Deleted") {
		return true
	}
	c.log.Info("subscription skipped", "subscription", t.id, "state", t.state)
	return false
}

// resolve reads a subscription whose state discovery does not know: that
// proves the identity can read it. It reports whether to assess it.
func (c *Collector) resolve(ctx context.Context, t target) (bool, error) {
	if t.state != "" {
		return true, nil
	}
	client, err := armsubscriptions.NewClient(c.cred, c.opts)
	if err != nil {
		return false, fmt.Errorf("create subscriptions client: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, c.cfg.ScopeTimeout)
	defer cancel()
	s, err := client.Get(ctx, t.id, nil)
	if err != nil {
		return false, fmt.Errorf("read subscription %s: %w", t.id, err)
	}
	t.state = "Enabled"
	if s.State != nil {
		t.state = string(*s.State)
	}
	return c.active(t), nil
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
	start := time.Now()
	err := sc.scan(sctx, s)
	if serr := s.failed(); serr != nil {
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
