package aws

import (
	"context"
	"sync"
)

// scheduler runs the scopes of a collection on a fixed number of workers,
// heavy scopes first. A heavy scope is a global one (S3, IAM): it covers a
// whole account, paces itself against per-account rate limits and is the
// longest job of its account; starting those before the regional ones
// (longest jobs first) keeps the run from ending on one account's IAM
// scope that was queued behind everybody's regions. Submitting never
// blocks, so accounts are resolved while earlier ones are scanned.
type scheduler struct {
	mu     sync.Mutex
	heavy  []func(context.Context) error
	light  []func(context.Context) error
	closed bool
	// wake holds a token when a worker may find a job (or the queue was
	// closed); a worker that takes a job passes the token on while more
	// remain.
	wake chan struct{}
}

func newScheduler() *scheduler { return &scheduler{wake: make(chan struct{}, 1)} }

// submit queues a job.
func (s *scheduler) submit(heavy bool, job func(context.Context) error) {
	s.mu.Lock()
	if heavy {
		s.heavy = append(s.heavy, job)
	} else {
		s.light = append(s.light, job)
	}
	s.mu.Unlock()
	s.signal()
}

// close says no more jobs will come; workers return once the queue is
// empty.
func (s *scheduler) close() {
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.signal()
}

func (s *scheduler) signal() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// next returns the next job, heavy ones first, waiting for one if need be;
// ok is false once the queue is closed and empty or ctx ends.
func (s *scheduler) next(ctx context.Context) (job func(context.Context) error, ok bool) {
	for {
		s.mu.Lock()
		switch {
		case len(s.heavy) > 0:
			job, s.heavy = s.heavy[0], s.heavy[1:]
		case len(s.light) > 0:
			job, s.light = s.light[0], s.light[1:]
		}
		more, done := len(s.heavy)+len(s.light) > 0, s.closed
		s.mu.Unlock()
		if job != nil || (done && !more) {
			if more || done {
				s.signal() // another worker may take the rest, or return too
			}
			return job, job != nil
		}
		select {
		case <-s.wake:
		case <-ctx.Done():
			return nil, false
		}
	}
}

// work runs jobs until the queue is closed and empty, ctx ends or a job
// fails.
func (s *scheduler) work(ctx context.Context) error {
	for {
		job, ok := s.next(ctx)
		if !ok {
			return ctx.Err()
		}
		if err := job(ctx); err != nil {
			return err
		}
	}
}
