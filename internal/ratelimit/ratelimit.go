// Package ratelimit keeps the client-side token buckets the collectors send
// through: one bucket per scope (an account, project or subscription) and
// per API, each waited on before every attempt, so that a run goes as fast
// as a cloud's own rate limits allow and no faster. Which bucket an API
// call falls into, and its default rate, is each collector's business; this
// package only keeps the buckets, built on golang.org/x/time/rate.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
)

// Limit is one token bucket: Rate requests a second on average, up to
// Burst at once. It is also the configuration form of a bucket, as in
// collectors.<cloud>.rate_limits.
type Limit struct {
	Rate float64 `yaml:"rate"`
	// Burst defaults to one second's worth of Rate (at least 1).
	Burst int `yaml:"burst"`
}

// WithDefaults returns l with a zero Burst set to one second's worth of
// Rate, at least 1.
func (l Limit) WithDefaults() Limit {
	if l.Burst == 0 {
		l.Burst = max(1, int(math.Ceil(l.Rate)))
	}
	return l
}

// Validate reports every problem of a configured limit, each prefixed
// with its YAML key.
func (l Limit) Validate() error {
	var errs []error
	if l.Rate <= 0 || math.IsNaN(l.Rate) || math.IsInf(l.Rate, 0) {
		errs = append(errs, fmt.Errorf("rate: must be positive, got %g", l.Rate))
	}
	if l.Burst < 0 {
		errs = append(errs, fmt.Errorf("burst: must not be negative, got %d", l.Burst))
	}
	return errors.Join(errs...)
}

// ValidateOverrides checks a collector's rate_limits block: each key with
// keyProblem, which returns "" for a key the collector knows and otherwise
// what is wrong, and each limit with Limit.Validate. Problems come in key
// order, each prefixed with its YAML path, rate_limits["key"].
func ValidateOverrides(limits map[string]Limit, keyProblem func(key string) string) []error {
	var errs []error
	for _, key := range slices.Sorted(maps.Keys(limits)) {
		at := fmt.Sprintf("rate_limits[%q]", key)
		if msg := keyProblem(key); msg != "" {
			errs = append(errs, fmt.Errorf("%s: %s", at, msg))
		}
		if err := limits[key].Validate(); err != nil {
			for _, line := range strings.Split(err.Error(), "\n") {
				errs = append(errs, fmt.Errorf("%s.%s", at, line))
			}
		}
	}
	return errs
}

// DefaultHeadroom is the share of a documented rate a collector uses by
// default. A client sending at exactly a bucket's rate is throttled
// whenever network jitter bunches two requests, and each throttle makes
// the SDKs' retry back off for a while; 5% under the rate lets the cloud's
// bucket refill a little ahead of the collector, which absorbs the jitter.
// Configured rate limits are taken as they are.
const DefaultHeadroom = 0.95

// Buckets keeps the token buckets of every scope and API a collector
// calls, and holds each attempt until its bucket has a token. It is safe
// for concurrent use.
type Buckets struct {
	// Now and Sleep are the clock; nil means the real one. Tests replace
	// them before the first Wait.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error

	mu sync.Mutex
	// buckets per scope, then per key, so that a scope's buckets go when
	// it is done (Forget).
	buckets map[string]map[string]*rate.Limiter

	waits  atomic.Int64 // attempts that had to wait
	waited atomic.Int64 // nanoseconds waited in total
}

// Wait holds the caller until the bucket (scope, key) has a token, or ctx
// ends. The bucket is made with limit l the first time the pair is seen;
// later calls keep its first limit.
func (b *Buckets) Wait(ctx context.Context, scope, key string, l Limit) error {
	l = l.WithDefaults()
	b.mu.Lock()
	if b.buckets == nil {
		b.buckets = map[string]map[string]*rate.Limiter{}
	}
	per := b.buckets[scope]
	if per == nil {
		per = map[string]*rate.Limiter{}
		b.buckets[scope] = per
	}
	lim := per[key]
	if lim == nil {
		lim = rate.NewLimiter(rate.Limit(l.Rate), l.Burst)
		per[key] = lim
	}
	b.mu.Unlock()

	now := b.now()
	res := lim.ReserveN(now, 1)
	if !res.OK() {
		return fmt.Errorf("rate limit %s: a burst of %d cannot serve a request", key, lim.Burst())
	}
	d := res.DelayFrom(now)
	if d <= 0 {
		return nil
	}
	b.waits.Add(1)
	b.waited.Add(int64(d))
	sleep := b.Sleep
	if sleep == nil {
		sleep = SleepContext
	}
	if err := sleep(ctx, d); err != nil {
		res.CancelAt(b.now())
		return err
	}
	return nil
}

func (b *Buckets) now() time.Time {
	if b.Now != nil {
		return b.Now()
	}
	return time.Now()
}

// Forget drops a scope's buckets once nothing more will be sent to it, so
// that an estate of thousands of scopes does not keep them all.
func (b *Buckets) Forget(scope string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.buckets, scope)
}

// Held lists the scopes that hold buckets now, sorted.
func (b *Buckets) Held() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Sorted(maps.Keys(b.buckets))
}

// Stats reports how often and how long attempts waited for a token.
func (b *Buckets) Stats() (waits int64, waited time.Duration) {
	return b.waits.Load(), time.Duration(b.waited.Load())
}

// SleepContext sleeps for d or until ctx ends.
func SleepContext(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
