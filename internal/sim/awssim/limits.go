package awssim

import (
	"cmp"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Limit is one of AWS's API token buckets: Rate requests a second on
// average, up to Burst at once.
type Limit struct {
	Rate  float64
	Burst int
	// Global buckets are per account, not per account and region.
	Global bool
	// Shared buckets are one per service rather than one per action.
	Shared bool
}

// Limits maps a service (its signing name, "ec2") or a service and action
// ("kms:DescribeKey") to its bucket; an action's entry wins over its
// service's. A service with neither is not throttled.
type Limits map[string]Limit

// DefaultLimits are AWS's own buckets where AWS publishes them, and
// conservative guesses where it does not; collectors/aws keeps to the same
// numbers (its ratelimit.go cites the sources), so that a collection paced
// correctly is never throttled.
func DefaultLimits() Limits {
	return Limits{
		"ec2":                      {Rate: 20, Burst: 100},               // EC2 API throttling: non-mutating, per API
		"iam":                      {Rate: 10, Burst: 20, Global: true},  // unpublished; per API, global
		"sts":                      {Rate: 20, Burst: 20},                // unpublished
		"kms:DescribeKey":          {Rate: 2000, Burst: 2000},            // KMS request quotas
		"kms:GetKeyRotationStatus": {Rate: 1000, Burst: 1000},            // KMS request quotas
		"kms:ListKeys":             {Rate: 100, Burst: 100},              // KMS request quotas
		"kms":                      {Rate: 100, Burst: 100},              //
		"cloudtrail":               {Rate: 10, Burst: 10},                // CloudTrail quotas: 10 TPS
		"rds":                      {Rate: 12, Burst: 300, Shared: true}, // RDS API throttling
		"guardduty":                {Rate: 10, Burst: 20},                // unpublished
		"s3":                       {Rate: 5500, Burst: 5500},            // per prefix, here per account/region/action
		"organizations":            {Rate: 2, Burst: 5, Global: true},    // unpublished
	}
}

// lookup returns the bucket of an API and the name it is keyed by; ok is
// false when the API is not throttled.
func (l Limits) lookup(service, action string) (lim Limit, name string, ok bool) {
	api := service + ":" + action
	if lim, ok := l[api]; ok {
		return lim, api, true
	}
	lim, ok = l[service]
	if !ok {
		return Limit{}, "", false
	}
	if lim.Shared {
		return lim, service, true
	}
	return lim, api, true
}

// bucket is one account's token bucket for one API (or service) in one
// region, with what it let through and what it turned away.
type bucket struct {
	stat      BucketStat
	lim       *rate.Limiter
	calls     atomic.Int64
	throttled atomic.Int64
}

// admit takes a token from req's bucket, reporting false (throttled) when
// there is none.
func (s *Server) admit(req *request) bool {
	lim, name, ok := s.Limits.lookup(req.Service, req.Action)
	if !ok {
		return true
	}
	region := req.Region
	if lim.Global {
		region = ""
	}
	key := req.Account.ID + "|" + region + "|" + name
	v, found := s.buckets.Load(key)
	if !found {
		svc, action, _ := strings.Cut(name, ":")
		b := &bucket{lim: rate.NewLimiter(rate.Limit(lim.Rate), lim.Burst),
			stat: BucketStat{Account: req.Account.ID, Region: region, Service: svc, Action: action, Limit: lim}}
		v, _ = s.buckets.LoadOrStore(key, b)
	}
	b := v.(*bucket)
	if !b.lim.Allow() {
		b.throttled.Add(1)
		return false
	}
	b.calls.Add(1)
	return true
}

// BucketStat is what one bucket let through and turned away.
type BucketStat struct {
	Account string
	// Region is "" for a global bucket.
	Region string
	// Service and Action name the API; Action is "" for a shared bucket.
	Service, Action string
	Limit           Limit
	// Calls were answered; Throttled were turned away with the service's
	// throttling error.
	Calls, Throttled int64
}

// MinDuration is the least time the bucket needs to let Calls through:
// it starts full, so the first Burst go at once and each later one waits
// for a token, at Rate a second.
func (b BucketStat) MinDuration() time.Duration {
	if b.Limit.Rate <= 0 || b.Calls <= int64(b.Limit.Burst) {
		return 0
	}
	return time.Duration(float64(b.Calls-int64(b.Limit.Burst)) / b.Limit.Rate * float64(time.Second))
}

// BucketStats reports every bucket the server has throttled with, most
// constraining (longest MinDuration) first.
func (s *Server) BucketStats() []BucketStat {
	var out []BucketStat
	s.buckets.Range(func(_, v any) bool {
		b := v.(*bucket)
		st := b.stat
		st.Calls, st.Throttled = b.calls.Load(), b.throttled.Load()
		out = append(out, st)
		return true
	})
	slices.SortFunc(out, func(a, b BucketStat) int {
		if c := cmp.Compare(b.MinDuration(), a.MinDuration()); c != 0 {
			return c
		}
		return strings.Compare(a.Account+a.Region+a.Service+a.Action, b.Account+b.Region+b.Service+b.Action)
	})
	return out
}

// LowerBound is the least time any client could take to make the calls the
// buckets let through: buckets refill independently and in parallel, so it
// is the longest MinDuration of any one bucket; the calls that share a
// bucket (the actions of a shared one, the calls of every region of a
// global one) add up within it. It ignores latency and concurrency, which a
// client can hide, so it is the bound a rate-limited run is measured
// against. The binding bucket is returned with it.
func LowerBound(stats []BucketStat) (time.Duration, BucketStat) {
	var worst BucketStat
	var bound time.Duration
	for _, b := range stats {
		if d := b.MinDuration(); d > bound {
			bound, worst = d, b
		}
	}
	return bound, worst
}
