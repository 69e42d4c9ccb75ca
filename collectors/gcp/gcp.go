// Package gcp collects EUCS evidence from Google Cloud: it assesses the
// configured projects and every active project found under the configured
// organization or folders (those this replica's shard owns), fans out over
// projects and services with bounded concurrency, paces every call to the
// API quotas Google keeps (ratelimit.go), and streams one finding per check
// and resource into a finding.Sink.
//
// Findings carry provider "gcp", the project ID as account, the resource's
// location (or "global") as region and the resource's full resource name
// (//storage.googleapis.com/projects/_/buckets/NAME) as resource.
//
// Every API failure becomes a not_assessed finding with its reason; it never
// aborts the run and never passes or fails a check.
//
// Clients: Cloud Storage (cloud.google.com/go/storage, JSON API) and Compute
// Engine (cloud.google.com/go/compute/apiv1, REST transport) come from the
// idiomatic Cloud client libraries. Cloud KMS and Resource Manager come from
// google.golang.org/api (cloudkms/v1, cloudresourcemanager/v3): their
// cloud.google.com/go clients import cloud.google.com/go/longrunning, which
// the module does not require, and the discovery clients speak the same
// REST API. Cloud SQL Admin (sqladmin/v1) and IAM service accounts (iam/v1)
// have no cloud.google.com/go REST client, so they come from
// google.golang.org/api as well.
package gcp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"cloud.google.com/go/storage"
	gax "github.com/googleapis/gax-go/v2"
	"github.com/googleapis/gax-go/v2/apierror"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/errgroup"
	"google.golang.org/api/cloudkms/v1"
	crm "google.golang.org/api/cloudresourcemanager/v3"
	"google.golang.org/api/googleapi"
	iamadmin "google.golang.org/api/iam/v1"
	"google.golang.org/api/option"
	"google.golang.org/api/sqladmin/v1"
	htransport "google.golang.org/api/transport/http"
	"google.golang.org/grpc/status"

	"github.com/eucs-agent/eucs-agent/internal/finding"
)

// Provider is the provider name findings carry.
const Provider = "gcp"

// GlobalRegion is the region of project-wide resources and scopes.
const GlobalRegion = "global"

// LocationCheck is the data-location check every located resource gets
// when allowed regions are configured.
const LocationCheck = "gcp.location.allowed_region"

// scopeCloudPlatform is the OAuth scope the agent's token asks for. Cloud
// KMS, Cloud SQL Admin and IAM accept no read-only scope, so the token has
// the broad one; what the agent may do is decided by its IAM roles, which
// are read-only (see the README).
const scopeCloudPlatform = "https://www.googleapis.com/auth/cloud-platform"

// Collector assesses GCP projects.
type Collector struct {
	cfg Config
	log *slog.Logger
	api *clients
	// limits keeps every API call within Google's quotas.
	limits *limiter
	// calls is told of every attempt, for metrics (CountCalls).
	calls    *callCounter
	scanners []scanner
	// now is the clock key ages are measured against.
	now func() time.Time
	// tracer, when set (SetTracer), traces each scope and discovery.
	tracer trace.Tracer
}

// clients are the API clients every scope shares, all safe for concurrent
// use, and what it takes to build the Compute Engine ones, which are made
// per scope (see computeOptions).
type clients struct {
	// compute is the transport of the Compute Engine clients.
	compute  http.RoundTripper
	endpoint string
	storage  *storage.Client
	kms      *cloudkms.Service
	crm      *crm.Service
	sql      *sqladmin.Service
	iam      *iamadmin.Service
}

// scanner collects one part of one service's checks in one project.
type scanner struct {
	// service is the API, as coverage records name it: storage, compute,
	// cloudkms, sqladmin, iam, cloudresourcemanager.
	service string
	// area is the part of the API, for logs: buckets, disks, firewalls...
	area string
	// checks are the IDs scan may emit; when the project cannot be listed
	// at all, each becomes a not_assessed finding for the whole scope.
	checks []string
	// locates is true when scan emits the location check.
	locates bool
	scan    func(ctx context.Context, s *scope) error
}

// New returns a collector. cfg must have been validated and defaulted.
// opts are the client options every Google API client is built with: none
// in production, so that credentials come from Application Default
// Credentials (workload identity, GOOGLE_APPLICATION_CREDENTIALS, the
// metadata server); option.WithoutAuthentication or a token source for the
// simulator. It fails when no credentials can be found.
func New(ctx context.Context, cfg Config, opts []option.ClientOption, log *slog.Logger) (*Collector, error) {
	log = log.With("collector", Provider)
	base, _, err := htransport.NewClient(ctx, append([]option.ClientOption{option.WithScopes(scopeCloudPlatform)}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("set up Google API credentials: %w", err)
	}
	next := base.Transport
	if next == nil {
		next = http.DefaultTransport
	}
	replicas := 1
	if cfg.Shard != nil {
		replicas = max(1, cfg.Shard.Count)
	}
	limits := newLimiter(cfg.RateLimits, replicas)
	calls := &callCounter{}
	transportOf := func(service string) http.RoundTripper {
		return &transport{next: next, service: service, limits: limits, calls: calls, timeout: cfg.CallTimeout, attempts: cfg.MaxAttempts, log: log}
	}
	api, err := newClients(ctx, transportOf, cfg.Endpoint)
	if err != nil {
		return nil, err
	}
	return &Collector{cfg: cfg, log: log, api: api, limits: limits, calls: calls, scanners: scanners(), now: time.Now}, nil
}

// CountCalls makes the collector tell fn of every HTTP attempt to a Google
// API, retries included: the API's service name (compute, storage,
// cloudkms, ...) and whether Google throttled it (429, or a 403 that says
// rateLimitExceeded). Call it before Collect; fn must be safe for
// concurrent use.
func (c *Collector) CountCalls(fn func(service string, throttled bool)) { c.calls.fn.Store(&fn) }

// callCounter hands each attempt to the function CountCalls was given, if
// any. The transports are built before that function is known, so they
// share this and read it at each call.
type callCounter struct {
	fn atomic.Pointer[func(service string, throttled bool)]
}

func (c *callCounter) count(service string, throttled bool) {
	if c == nil {
		return
	}
	if fn := c.fn.Load(); fn != nil {
		(*fn)(service, throttled)
	}
}

// newClients builds the shared API clients, each on the transport
// transportOf gives its service, which already authenticates, so each
// client is told not to look for credentials itself.
func newClients(ctx context.Context, transportOf func(service string) http.RoundTripper, endpoint string) (*clients, error) {
	c := &clients{compute: transportOf("compute"), endpoint: strings.TrimSuffix(endpoint, "/")}
	hc := func(service string) *http.Client { return &http.Client{Transport: transportOf(service)} }
	var err error
	if c.storage, err = storage.NewClient(ctx, c.options(hc("storage"), "/storage/v1/")...); err != nil {
		return nil, fmt.Errorf("create Cloud Storage client: %w", err)
	}
	// The transport retries; the storage client's own retries would
	// multiply its attempts.
	c.storage.SetRetry(storage.WithPolicy(storage.RetryNever))
	// The discovery clients resolve their paths (v1/...) against the
	// endpoint, so it takes a trailing slash.
	if c.kms, err = cloudkms.NewService(ctx, c.options(hc("cloudkms"), "/")...); err != nil {
		return nil, fmt.Errorf("create Cloud KMS client: %w", err)
	}
	if c.crm, err = crm.NewService(ctx, c.options(hc("cloudresourcemanager"), "/")...); err != nil {
		return nil, fmt.Errorf("create Resource Manager client: %w", err)
	}
	if c.sql, err = sqladmin.NewService(ctx, c.options(hc("sqladmin"), "/")...); err != nil {
		return nil, fmt.Errorf("create Cloud SQL Admin client: %w", err)
	}
	if c.iam, err = iamadmin.NewService(ctx, c.options(hc("iam"), "/")...); err != nil {
		return nil, fmt.Errorf("create IAM client: %w", err)
	}
	return c, nil
}

// options are the client options of one API client on hc; base is the
// API's own path under the endpoint override, as its library joins paths
// to it.
func (c *clients) options(hc *http.Client, base string) []option.ClientOption {
	opts := []option.ClientOption{option.WithHTTPClient(hc), option.WithoutAuthentication()}
	if c.endpoint != "" {
		opts = append(opts, option.WithEndpoint(c.endpoint+base))
	}
	return opts
}

// computeOptions are the options of a Compute Engine client for one scope.
// The REST clients of cloud.google.com/go/compute do not attach the
// caller's context to the requests of their list iterators, so a
// cancelled run would wait for every listing page in flight to time out.
// Their requests go through scopedTransport instead, which gives them the
// scope's context. The clients make no network call of their own when
// built, so one per scope costs little. They append their paths
// (/compute/v1/...) to the endpoint, so it takes no trailing slash.
func (c *clients) computeOptions(ctx context.Context) []option.ClientOption {
	return c.options(&http.Client{Transport: &scopedTransport{ctx: ctx, next: c.compute}}, "")
}

// scopedTransport gives a request that carries a context that never ends
// (context.Background, as the gapic list iterators send) the scope's
// context instead, and with it the scope's deadline and project.
type scopedTransport struct {
	ctx  context.Context
	next http.RoundTripper
}

func (t *scopedTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.Context().Done() == nil {
		req = req.WithContext(t.ctx)
	}
	return t.next.RoundTrip(req)
}

// noRetry switches off a gapic client's built-in retries for one call: the
// transport retries instead.
func noRetry() gax.CallOption { return gax.WithRetry(func() gax.Retryer { return nil }) }

// Close releases the API clients.
func (c *Collector) Close() error { return c.api.storage.Close() }

// scanners is the plain list of everything the collector checks in each
// project.
func scanners() []scanner {
	return []scanner{
		bucketScanner(),
		diskScanner(),
		firewallScanner(),
		subnetScanner(),
		osLoginScanner(),
		kmsScanner(),
		sqlScanner(),
		serviceAccountScanner(),
		policyScanner(),
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

// Collect assesses every configured and discovered project that this
// replica's shard owns. It returns an error only when the sink fails (the
// evidence can no longer be kept) or ctx is cancelled; every cloud-side
// failure is reported through the sink instead.
//
// Every project is one scope per scanner, and at most Concurrency scopes
// run at once, across the organisation. Discovery hands projects over as
// it lists them and waits while the scopes are at their bound, so projects
// never queue up in memory; a project's rate-limit buckets are dropped when
// its last scope ends. What the run keeps per project beyond that is its
// ID, to assess it once however often it is named or found.
func (c *Collector) Collect(ctx context.Context, sink finding.Sink) error {
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(c.cfg.Concurrency)
	r := &runState{ctx: gctx, timeout: c.cfg.ScopeTimeout, policies: map[string]*ancestorPolicy{}}
	var (
		mu   sync.Mutex
		seen = map[string]bool{}
	)
	// claim reports whether project is new to the run.
	claim := func(project string) bool {
		mu.Lock()
		defer mu.Unlock()
		if seen[project] {
			return false
		}
		seen[project] = true
		return true
	}
	// schedule starts every scanner on a project. It blocks while the
	// scans are at their bound.
	schedule := func(project string) {
		var left atomic.Int64
		left.Store(int64(len(c.scanners)))
		for _, sc := range c.scanners {
			g.Go(func() error {
				defer func() {
					if left.Add(-1) == 0 {
						c.limits.forget(project)
					}
				}()
				return c.run(gctx, sink, r, project, sc)
			})
		}
	}

	// Projects listed by ID are claimed before discovery starts, so that
	// exclude_projects, which applies to discovery only, cannot take one
	// that discovery happens to list first.
	var listed []string
	for _, p := range c.cfg.Projects {
		if c.cfg.Shard.Owns(p) && claim(p) {
			listed = append(listed, p)
		}
	}
	if c.cfg.Shard != nil && len(c.cfg.Projects) > 0 {
		c.log.Info("shard selects projects", "shard", c.cfg.Shard.String(), "projects", len(listed), "of", len(c.cfg.Projects))
	}

	// Discovery is network work too, so it runs under the same bound as
	// the scans, from its own group so that it never waits for a slot it
	// holds.
	var setup errgroup.Group
	setup.SetLimit(c.cfg.Concurrency)
	setup.Go(func() error {
		for _, p := range listed {
			schedule(p)
		}
		return nil
	})
	roots := c.cfg.folderNames()
	if org := c.cfg.organizationName(); org != "" {
		roots = append([]string{org}, roots...)
	}
	var found, excluded, elsewhere atomic.Int64
	// The discovery span ends with the last walk, not with the scheduling
	// of the projects listed by ID.
	dctx, dspan := c.startDiscovery(gctx, roots)
	var walking atomic.Int64
	walking.Store(int64(len(roots)))
	for _, root := range roots {
		setup.Go(func() error {
			defer func() {
				if walking.Add(-1) == 0 {
					endDiscovery(gctx, dspan, discoveryCounts{discovered: found.Load(), excluded: excluded.Load(), otherShards: elsewhere.Load()})
				}
			}()
			return c.discover(dctx, dspan, sink, root, func(project string) {
				if !claim(project) {
					return
				}
				found.Add(1)
				switch {
				case c.cfg.excluded(project):
					excluded.Add(1)
					c.log.Debug("project excluded", "project", project)
				case !c.cfg.Shard.Owns(project):
					elsewhere.Add(1)
				default:
					schedule(project)
				}
			})
		})
	}
	serr := setup.Wait()
	if len(roots) > 0 && gctx.Err() == nil {
		// Projects also listed by ID count with those, not here.
		c.log.Info("projects discovered", "roots", len(roots), "projects", found.Load(),
			"assessed", found.Load()-excluded.Load()-elsewhere.Load(), "excluded", excluded.Load(),
			"other_shards", elsewhere.Load(), "shard", c.cfg.Shard.String())
	}
	// The scans' error comes first: a sink failure there cancels
	// discovery, which then just stops.
	err := g.Wait()
	if waits, waited := c.limits.stats(); waits > 0 {
		c.log.Info("rate limits paced the run", "waits", waits, "waited", waited.Round(time.Millisecond))
	}
	if m := c.limits.calledMethods(true); len(m) > 0 {
		c.log.Debug("API methods called that rate_limits cannot name", "methods", m)
	}
	if err != nil {
		return err
	}
	if serr != nil {
		return serr
	}
	return ctx.Err()
}

// run scans one part of one service in one project and records coverage.
func (c *Collector) run(ctx context.Context, sink finding.Sink, r *runState, project string, sc scanner) error {
	s := &scope{c: c, sink: sink, run: r, project: project, service: sc.service}
	sctx, cancel := context.WithTimeout(withProject(ctx, project), c.cfg.ScopeTimeout)
	defer cancel()
	sctx, span := c.startScope(sctx, project, sc)
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
	log := c.log.With("project", project, "service", sc.service, "area", sc.area, "duration", time.Since(start))
	if err != nil {
		reason := classify(err)
		log.Warn("scope not assessed", "reason", reason, "error", err)
		return s.scopeNotAssessed(ctx, sc, reason, err)
	}
	log.Debug("scope assessed")
	if err := sink.Coverage(ctx, finding.Coverage{Provider: Provider, Account: project, Region: GlobalRegion,
		Service: sc.service, Status: finding.Assessed}); err != nil {
		return fmt.Errorf("keep coverage: %w", err)
	}
	return nil
}

// runState is what one Collect shares between its scopes: the IAM
// policies of folders and organisations, read once however many projects
// inherit from them.
type runState struct {
	// ctx and timeout bound the reads of shared state: they serve every
	// scope that asks, so they must not end with the first one's deadline.
	ctx     context.Context
	timeout time.Duration

	mu       sync.Mutex
	policies map[string]*ancestorPolicy
}

// scope is one part of one service in one project, with the helpers a
// scanner uses to emit findings.
type scope struct {
	c       *Collector
	sink    finding.Sink
	run     *runState
	project string
	service string

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

// emit fills in the scope's fields and hands f to the sink. A finding's
// service is the one its check ID names; a location finding's is the
// service of the located resource.
func (s *scope) emit(ctx context.Context, f finding.Finding) error {
	if err := s.failed(); err != nil {
		return err
	}
	f.Provider, f.Account = Provider, s.project
	if f.Service == "" {
		f.Service = checkService(f.Check, s.service)
	}
	if f.Region == "" {
		f.Region = GlobalRegion
	}
	if f.Detail != "" {
		f.Detail = redact(f.Detail)
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

// checkService is the service part of a check ID (gcp.storage.versioning
// is storage); the location check, which every service emits, takes the
// emitting scope's.
func checkService(check, scopeService string) string {
	if check == LocationCheck {
		return serviceName(scopeService)
	}
	parts := strings.SplitN(check, ".", 3)
	if len(parts) != 3 {
		return scopeService
	}
	return parts[1]
}

// serviceName is the short service name of an API, as check IDs use it.
func serviceName(api string) string {
	switch api {
	case "cloudkms":
		return "kms"
	case "sqladmin":
		return "sql"
	}
	return api
}

// verdict emits pass when ok, fail otherwise.
func (s *scope) verdict(ctx context.Context, check, resource, region string, ok bool, detail string, observed map[string]any) error {
	return s.emit(ctx, finding.Finding{Check: check, Resource: resource, Region: region, Status: finding.StatusOf(ok), Detail: detail, Observed: observed})
}

// notApplicable emits not_applicable with the reason in detail.
func (s *scope) notApplicable(ctx context.Context, check, resource, region, detail string) error {
	return s.emit(ctx, finding.Finding{Check: check, Resource: resource, Region: region, Status: finding.NotApplicable, Detail: detail})
}

// notApplicableObserved is notApplicable with the evidence of why.
func (s *scope) notApplicableObserved(ctx context.Context, check, resource, region, detail string, observed map[string]any) error {
	return s.emit(ctx, finding.Finding{Check: check, Resource: resource, Region: region, Status: finding.NotApplicable, Detail: detail, Observed: observed})
}

// notAssessed emits not_assessed for one check on one resource, with the
// reason the call that should have decided it failed.
func (s *scope) notAssessed(ctx context.Context, check, resource, region string, err error) error {
	return s.emit(ctx, finding.Finding{Check: check, Resource: resource, Region: region,
		Status: finding.NotAssessed, Reason: classify(err), Detail: finding.ErrorDetail(err)})
}

// noneFound emits not_applicable on "*" for each check: the project has
// nothing the checks apply to.
func (s *scope) noneFound(ctx context.Context, detail string, checks ...string) error {
	for _, check := range checks {
		if err := s.notApplicable(ctx, check, "*", "", detail); err != nil {
			return err
		}
	}
	return nil
}

// scopeNotAssessed emits a not_assessed finding for every check of sc over
// the whole scope (resource "*"), and a not_assessed coverage record.
func (s *scope) scopeNotAssessed(ctx context.Context, sc scanner, reason finding.Reason, cause error) error {
	checks := sc.checks
	if sc.locates && len(s.c.cfg.AllowedRegions) > 0 {
		checks = append(slices.Clone(checks), LocationCheck)
	}
	detail := redact(finding.ErrorDetail(cause))
	for _, check := range checks {
		if err := s.emit(ctx, finding.Finding{Check: check, Resource: "*", Status: finding.NotAssessed, Reason: reason, Detail: detail}); err != nil {
			return err
		}
	}
	if err := s.sink.Coverage(ctx, finding.Coverage{Provider: Provider, Account: s.project, Region: GlobalRegion, Service: sc.service,
		Status: finding.NotCovered, Reason: reason, Detail: detail}); err != nil {
		return fmt.Errorf("keep coverage: %w", err)
	}
	return nil
}

// errorReasons maps what Google API errors say about themselves to
// not-assessed reasons; anything else is api_error. Keys are HTTP status
// codes, google.rpc status names (as gRPC and apierror report them), the
// reason of a googleapi error item and the reason of an ErrorInfo detail.
func errorReasons() map[string]finding.Reason {
	return map[string]finding.Reason{
		"401":               finding.AccessDenied,
		"403":               finding.AccessDenied,
		"429":               finding.Throttled,
		"PermissionDenied":  finding.AccessDenied,
		"Unauthenticated":   finding.AccessDenied,
		"ResourceExhausted": finding.Throttled,
		"DeadlineExceeded":  finding.TimedOut,
		// Older APIs answer rate and quota limits with 403 and say so only
		// in the error item's reason, so reasons are looked at first.
		"rateLimitExceeded":     finding.Throttled,
		"userRateLimitExceeded": finding.Throttled,
		"quotaExceeded":         finding.Throttled,
		"RATE_LIMIT_EXCEEDED":   finding.Throttled,
	}
}

// classify maps an error from a Google API call to the reason it leaves a
// check unassessed.
func classify(err error) finding.Reason {
	reasons := errorReasons()
	for _, code := range errorCodes(err) {
		if _, ok := reasons[code]; ok {
			return finding.ClassifyCode(err, code, reasons)
		}
	}
	return finding.Classify(err, reasons)
}

// errorCodes lists what err says about itself, most specific first: error
// item reasons, the ErrorInfo reason, the status name, the HTTP code.
func errorCodes(err error) []string {
	var codes []string
	var ge *googleapi.Error
	if errors.As(err, &ge) {
		for _, item := range ge.Errors {
			codes = append(codes, item.Reason)
		}
	}
	var ae *apierror.APIError
	if errors.As(err, &ae) {
		if r := ae.Reason(); r != "" {
			codes = append(codes, r)
		}
		if st := ae.GRPCStatus(); st != nil && ae.HTTPCode() < 0 {
			codes = append(codes, st.Code().String())
		}
	} else if st, ok := status.FromError(err); ok && st != nil {
		codes = append(codes, st.Code().String())
	}
	if ge != nil {
		codes = append(codes, strconv.Itoa(ge.Code))
	} else if ae != nil && ae.HTTPCode() > 0 {
		codes = append(codes, strconv.Itoa(ae.HTTPCode()))
	}
	return codes
}

// apiKeyRe finds an API key in a URL quoted by an HTTP error.
var apiKeyRe = regexp.MustCompile(`([?&]key=)[^&\s"]+`)

// redact removes API keys from text kept in evidence: an HTTP client error
// quotes the request URL, and a key passed with option.WithAPIKey travels
// in it. OAuth tokens travel in headers, which errors do not quote.
func redact(s string) string { return apiKeyRe.ReplaceAllString(s, "${1}REDACTED") }
