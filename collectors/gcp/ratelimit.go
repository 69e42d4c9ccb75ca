package gcp

import (
	"context"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/eucs-agent/eucs-agent/internal/ratelimit"
)

// Google enforces API quotas per project and per minute, each quota over a
// group of methods: a project that sends more than a group's quota within
// a minute is answered 429 RESOURCE_EXHAUSTED (or, by older APIs, 403
// rateLimitExceeded) until the next minute. So the collector keeps its own
// token bucket in front of every quota it draws on and waits for a token
// before each attempt, retries included (see transport): a run then goes as
// fast as the quotas allow and no faster. The transport's retries with
// backoff are the second line, for when the project's other tools use the
// same quota.
//
// Which project a quota is charged to depends on the API ("About the quota
// project", cloud.google.com/docs/quotas/quota-project). Resource-based
// APIs (Compute Engine, Cloud Storage) charge the project whose resources
// are read, so each assessed project has its own buckets. Client-based APIs
// (Cloud KMS, Cloud SQL Admin, IAM, Resource Manager) charge the caller's
// quota project, the project of the agent's service account, so calls for
// every assessed project share one bucket. Where it is not certain which
// applies, the shared bucket is the conservative choice.

// limitRule is one quota's bucket: its rate and burst, and how Google keys
// it. A rule named by a service is one bucket for every method of the
// service (Google's quota groups span the read methods of an API); a rule
// named by a service and method is that method's own bucket.
type limitRule struct {
	RateLimit
	// caller buckets are charged to the caller's quota project: one for
	// all assessed projects.
	caller bool
	// regional buckets are kept per location (Cloud KMS).
	regional bool
}

// Default quotas are per minute; perMinute turns one into a bucket. The
// rate is a sixtieth of the quota, and the burst three seconds' worth: with
// the default headroom (ratelimit.DefaultHeadroom) no minute then sees
// more than burst + 0.95 × quota = the quota, however the calls bunch.
func perMinute(quota float64) RateLimit {
	return RateLimit{Rate: quota / 60, Burst: int(quota / 20)}
}

// defaultLimits are the buckets the collector keeps to unless
// collectors.gcp.rate_limits says otherwise, keyed by service or service
// and method (see apiMethods). Where Google publishes a quota it is used,
// with its source; where it does not, the default is conservative and
// says so.
func defaultLimits() map[string]limitRule {
	return map[string]limitRule{
		// "Compute Engine rate quotas" (cloud.google.com/compute/api-quota):
		// per project (the project in the request), per minute and quota
		// group; Read requests (*.get) and List requests (*.list,
		// *.aggregatedList) 1,500 a minute each. The simplified quotas that
		// replace them pool gets and lists in one group, global_reads,
		// "with higher limits": one bucket of 1,500 a minute for every
		// Compute Engine call is within both.
		"compute": {RateLimit: perMinute(1500)},
		// "Quotas & limits" (cloud.google.com/storage/quotas) publishes no
		// rate for bucket listing or bucket metadata reads, only per-bucket
		// limits on writes and on object traffic (thousands a second).
		// The collector lists each project's buckets a page at a time;
		// 50 a second per project is conservative and never the
		// bottleneck.
		"storage": {RateLimit: RateLimit{Rate: 50, Burst: 100}},
		// "Cloud KMS quotas" (cloud.google.com/kms/quotas): Read requests
		// (locations, keyRings and cryptoKeys get and list), 300 a minute,
		// charged to the calling project. From 16 February 2026 every
		// Cloud KMS quota is measured per region, with limits carried over
		// from the project's; so one bucket per location, of 300 a minute.
		"cloudkms": {RateLimit: perMinute(300), caller: true, regional: true},
		// "Cloud SQL quotas and limits" (cloud.google.com/sql/docs/quotas):
		// Admin API quotas are per project and charged to the request's
		// quota project (x-goog-user-project, else the caller's), but the
		// page names no default request rate. 180 a minute is
		// conservative; the collector calls instances.list once a project
		// (a page per 500 instances).
		"sqladmin": {RateLimit: perMinute(180), caller: true},
		// "IAM quotas and limits" (cloud.google.com/iam/quotas): IAM v1 API
		// read requests, 6,000 per project per minute. Kept on the caller's
		// project, which is the conservative reading.
		"iam": {RateLimit: perMinute(6000), caller: true},
		// "Resource Manager limits" (cloud.google.com/resource-manager/docs/
		// limits): per API consumer project, v3 list operations and read
		// operations each up to 10 a second and 600 a minute. One bucket
		// for both is conservative; the burst is the per-second limit.
		"cloudresourcemanager": {RateLimit: RateLimit{Rate: 10, Burst: 10}, caller: true},
	}
}

// DefaultRateLimits returns the rate and burst of every bucket the
// collector keeps to by default, keyed like collectors.gcp.rate_limits.
func DefaultRateLimits() map[string]RateLimit {
	out := map[string]RateLimit{}
	for k, r := range defaultLimits() {
		out[k] = r.RateLimit
	}
	return out
}

// fallbackRule is the bucket of a service the table does not name: the
// collector calls none, but a conservative bucket on the caller's project
// is the safe answer to a new one.
func fallbackRule() limitRule {
	return limitRule{RateLimit: RateLimit{Rate: 5, Burst: 10}, caller: true}
}

// apiMethods lists, per service, every method the collector calls, named
// as in the API's REST reference (its discovery method ID without the
// service). Configured rate limits may name only these.
func apiMethods() map[string][]string {
	return map[string][]string{
		"compute":  {"disks.aggregatedList", "firewalls.list", "projects.get", "subnetworks.aggregatedList"},
		"storage":  {"buckets.list"},
		"cloudkms": {"projects.locations.keyRings.cryptoKeys.list", "projects.locations.keyRings.list", "projects.locations.list"},
		"sqladmin": {"instances.list"},
		"iam":      {"projects.serviceAccounts.keys.list", "projects.serviceAccounts.list"},
		"cloudresourcemanager": {"folders.get", "folders.getIamPolicy", "folders.list", "organizations.getIamPolicy",
			"projects.get", "projects.getIamPolicy", "projects.list"},
	}
}

// apiCall is what the rate limiter needs to know of a request.
type apiCall struct {
	service  string // compute, storage, cloudkms, sqladmin, iam, cloudresourcemanager
	method   string // disks.aggregatedList, projects.locations.keyRings.list, ...
	location string // for regional services: the location in the path, or global
}

// versionRe is the version segment that ends an API's path prefix
// (/compute/v1/, /v1/, /v3/).
var versionRe = regexp.MustCompile(`^v[0-9]+(beta[0-9]*|alpha[0-9]*)?$`)

// callOf names the method a request to service calls, from its HTTP method
// and path, the way Google's REST reference names it. Google's paths follow
// the resource-oriented design: collections and IDs alternate
// (projects/P/locations/L/keyRings), and the method is the chain of
// collections and a standard verb (list a collection, get an ID) or the
// custom verb after a colon (:getIamPolicy). Compute Engine, Cloud SQL
// Admin and Cloud Storage deviate in ways their REST references document:
// Compute Engine and Cloud SQL Admin take the project and Compute Engine
// the zone, region or global scope as parameters rather than as resources
// (projects/P/aggregated/disks is disks.aggregatedList), and Cloud Storage
// abbreviates buckets and objects and takes the bucket as a parameter of
// what is under it (b/NAME/iam is buckets.getIamPolicy, b/NAME/o is
// objects.list).
func callOf(service, httpMethod, path string) apiCall {
	segs := strings.Split(strings.Trim(path, "/"), "/")
	if i := slices.IndexFunc(segs, versionRe.MatchString); i >= 0 {
		segs = segs[i+1:]
	}
	call := apiCall{service: service, location: GlobalRegion}
	verb := ""
	if n := len(segs); n > 0 {
		segs[n-1], verb, _ = strings.Cut(segs[n-1], ":")
	}
	var names []string
	id := false
	for i := 0; i < len(segs); {
		s, more := segs[i], len(segs)-i
		switch {
		case s == "":
			i++
			continue
		case s == "locations" && more > 1:
			call.location = strings.ToLower(segs[i+1])
		}
		if service == "compute" || service == "sqladmin" {
			if i == 0 && s == "projects" && more > 2 {
				i += 2
				continue
			}
		}
		if service == "compute" {
			switch {
			case s == "global":
				i++
				continue
			case s == "aggregated":
				verb = "aggregatedList"
				i++
				continue
			case (s == "zones" || s == "regions") && more > 2:
				i += 2
				continue
			}
		}
		if service == "storage" {
			switch {
			case s == "b" && more > 2 && segs[i+2] != "iam":
				// The bucket is a parameter of the collections under it.
				i += 2
				continue
			case s == "iam" && more == 1 && len(names) > 0:
				if verb == "" {
					verb = "getIamPolicy"
				}
				i++
				continue
			case s == "b":
				s = "buckets"
			case s == "o":
				s = "objects"
			}
		}
		names = append(names, s)
		id = more > 1
		i += 2
	}
	if verb == "" {
		switch {
		case httpMethod != "" && httpMethod != "GET":
			verb = strings.ToLower(httpMethod)
		case id:
			verb = "get"
		default:
			verb = "list"
		}
	}
	call.method = strings.Join(append(names, verb), ".")
	return call
}

// limiter decides which bucket a Google API call waits on: per scope (an
// assessed project, or "" for the caller's quota project), then per
// service, or method, and location.
type limiter struct {
	// overrides (collectors.gcp.rate_limits) win over defaults; in each,
	// a method's entry wins over its service's.
	overrides, defaults map[string]limitRule
	// known is apiMethods as a set of "service:method".
	known map[string]bool

	buckets ratelimit.Buckets

	// called records every "service:method" called, to tell the methods
	// apiMethods does not name, which configured limits cannot name
	// either.
	called sync.Map
}

// newLimiter returns a limiter with the default buckets, at
// ratelimit.DefaultHeadroom of their rates, and the configured overrides,
// taken as they are. An override keeps its service's keying (caller,
// regional).
//
// replicas is how many agents share the estate (shard count, 1 when not
// sharded). They normally run as one service account, so the quotas
// charged to the caller's project are theirs together: each replica takes
// its share of those default buckets. Quotas of the assessed projects need
// no sharing, since each project is assessed by one replica.
func newLimiter(overrides map[string]RateLimit, replicas int) *limiter {
	defaults := defaultLimits()
	for k, r := range defaults {
		r.Rate *= ratelimit.DefaultHeadroom
		if r.caller && replicas > 1 {
			r.Rate /= float64(replicas)
			r.Burst = max(1, r.Burst/replicas)
		}
		defaults[k] = r
	}
	rules := map[string]limitRule{}
	for key, l := range overrides {
		service, _, _ := strings.Cut(key, ":")
		r, ok := defaults[service]
		if !ok {
			r = fallbackRule()
		}
		r.RateLimit = l.WithDefaults()
		rules[key] = r
	}
	known := map[string]bool{}
	for service, methods := range apiMethods() {
		for _, m := range methods {
			known[service+":"+m] = true
		}
	}
	return &limiter{overrides: rules, defaults: defaults, known: known}
}

// rule returns the bucket of a call and the name it is keyed by.
func (l *limiter) rule(service, method string) (limitRule, string) {
	api := service + ":" + method
	for _, rules := range []map[string]limitRule{l.overrides, l.defaults} {
		if r, ok := rules[api]; ok {
			return r, api
		}
		if r, ok := rules[service]; ok {
			return r, service
		}
	}
	return fallbackRule(), service
}

// wait holds the caller until the bucket of this call, made for project
// ("" when it is not for one), has a token, or ctx ends.
func (l *limiter) wait(ctx context.Context, project string, call apiCall) error {
	l.called.Store(call.service+":"+call.method, true)
	r, name := l.rule(call.service, call.method)
	if r.caller {
		project = ""
	}
	if r.regional {
		name += "|" + call.location
	}
	return l.buckets.Wait(ctx, project, name, r.RateLimit)
}

// forget drops a project's buckets once nothing more will be sent for it,
// so that an organisation of thousands of projects does not keep them all.
// The caller's buckets stay: every project draws on them.
func (l *limiter) forget(project string) {
	if project != "" {
		l.buckets.Forget(project)
	}
}

// stats reports how often and how long attempts waited for a token.
func (l *limiter) stats() (waits int64, waited time.Duration) { return l.buckets.Stats() }

// calledMethods lists, sorted, the "service:method" of every call made;
// with unlisted, only those apiMethods does not name.
func (l *limiter) calledMethods(unlisted bool) []string {
	var out []string
	l.called.Range(func(k, _ any) bool {
		if !unlisted || !l.known[k.(string)] {
			out = append(out, k.(string))
		}
		return true
	})
	slices.Sort(out)
	return out
}

// projectKey is the context key of the project a scope's calls are for.
type projectKey struct{}

// withProject marks ctx as the context of calls for project, so that the
// transport paces them in the project's buckets.
func withProject(ctx context.Context, project string) context.Context {
	return context.WithValue(ctx, projectKey{}, project)
}

// projectOf is the project ctx was marked with, or "".
func projectOf(ctx context.Context) string {
	p, _ := ctx.Value(projectKey{}).(string)
	return p
}

// limitKeyProblem says what is wrong with a collectors.gcp.rate_limits
// key, or "" when nothing is.
func limitKeyProblem(key string) string {
	service, method, hasMethod := strings.Cut(key, ":")
	if !limitKeyRe.MatchString(key) {
		return `must be a service ("compute") or a service and method ("compute:disks.aggregatedList")`
	}
	all := apiMethods()
	methods, ok := all[service]
	if !ok {
		return fmt.Sprintf("the collector does not call service %s; it calls %s", service, strings.Join(slices.Sorted(maps.Keys(all)), ", "))
	}
	if hasMethod && !slices.Contains(methods, method) {
		return fmt.Sprintf("the collector does not call %s %s; it calls %s", service, method, strings.Join(methods, ", "))
	}
	return ""
}

// limitKeyRe is the form of a rate_limits key: a service, and optionally a
// method of dotted lower-camel names.
var limitKeyRe = regexp.MustCompile(`^[a-z][a-z0-9]*(:[a-z][A-Za-z0-9]*(\.[a-z][A-Za-z0-9]*)+)?$`)
