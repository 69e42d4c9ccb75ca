// Package ratelimittest takes the clock of ratelimit.Buckets in hand for
// tests: time stands still and waits are recorded instead of slept, so a
// test counts tokens rather than seconds.
package ratelimittest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/eucs-agent/eucs-agent/internal/ratelimit"
)

// Clock is a stopped clock. It is safe for concurrent use.
type Clock struct {
	mu  sync.Mutex
	now time.Time
}

// Freeze stops b's clock at a fixed time; only Advance moves it.
func Freeze(b *ratelimit.Buckets) *Clock {
	c := &Clock{now: time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)}
	b.Now = c.Now
	return c
}

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// Record makes b's waits return at once and records each. The returned
// function lists the waits so far, in the order they were asked for.
func Record(b *ratelimit.Buckets) func() []time.Duration {
	var mu sync.Mutex
	var waits []time.Duration
	b.Sleep = func(_ context.Context, d time.Duration) error {
		mu.Lock()
		defer mu.Unlock()
		waits = append(waits, d)
		return nil
	}
	return func() []time.Duration {
		mu.Lock()
		defer mu.Unlock()
		return append([]time.Duration(nil), waits...)
	}
}

// Waits calls wait n times, one after the other, and returns how long each
// call was told to wait in all (0 for none): a call that waits on two
// buckets reports the sum.
func Waits(t testing.TB, b *ratelimit.Buckets, n int, wait func() error) []time.Duration {
	t.Helper()
	var out []time.Duration
	b.Sleep = func(_ context.Context, d time.Duration) error {
		out[len(out)-1] += d
		return nil
	}
	for range n {
		out = append(out, 0)
		if err := wait(); err != nil {
			t.Fatal(err)
		}
	}
	return out
}
