// Package collectortest holds test helpers the cloud collectors share.
package collectortest

import (
	"context"
	"sync"
)

// Gauge counts the calls of wrapped functions: how many ran, and the most
// that ran at once. Tests use it to check a collector's concurrency bound.
// It is safe for concurrent use.
type Gauge struct {
	mu                 sync.Mutex
	running, most, ran int
}

// Track returns f counted by g.
func Track[S any](g *Gauge, f func(context.Context, S) error) func(context.Context, S) error {
	return func(ctx context.Context, s S) error {
		g.mu.Lock()
		g.running++
		g.ran++
		g.most = max(g.most, g.running)
		g.mu.Unlock()
		defer func() {
			g.mu.Lock()
			g.running--
			g.mu.Unlock()
		}()
		return f(ctx, s)
	}
}

// Most is the most calls that ran at once.
func (g *Gauge) Most() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.most
}

// Ran is how many calls ran.
func (g *Gauge) Ran() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.ran
}
