package agent

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/eucs-agent/eucs-agent/exporters"
)

// Serve runs a.RunOnce on schedule until ctx ends. A run that would start
// while the previous one is still going is skipped and logged, never
// overlapped. When ctx ends, the run in progress gets grace to finish; after
// that it is cancelled and seals nothing.
func (a *Agent) Serve(ctx context.Context, schedule cron.Schedule, grace time.Duration) error {
	// Runs get their own context so that a shutdown can let the current run
	// finish for a while before cancelling it.
	runCtx, cancelRuns := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelRuns()

	var mu sync.Mutex
	running := false
	var wg sync.WaitGroup
	job := cron.FuncJob(func() {
		mu.Lock()
		if running {
			mu.Unlock()
			a.Log.Warn("scheduled run skipped: the previous run is still going")
			return
		}
		running = true
		mu.Unlock()
		wg.Add(1)
		defer func() {
			mu.Lock()
			running = false
			mu.Unlock()
			wg.Done()
		}()
		if _, err := a.RunOnce(runCtx); err != nil {
			a.Log.Error("run failed", "error", err)
		}
	})

	// Background deliverers start before the first run and stop after the
	// last, so no bundle a run exports waits without one.
	stopRunners := a.startRunners(ctx)

	c := cron.New(cron.WithLogger(cronLogger{a.Log}))
	c.Schedule(schedule, job)
	c.Start()
	a.Log.Info("daemon started", "next_run", schedule.Next(a.now()).Format(time.RFC3339))

	<-ctx.Done()
	a.Log.Info("shutting down: no new runs will start", "grace", grace)
	c.Stop()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(grace):
		a.Log.Warn("grace period over: cancelling the run in progress; it will seal nothing")
		cancelRuns()
		<-done
	}
	stopRunners()
	a.Log.Info("daemon stopped")
	return nil
}

// startRunners starts Run of every exporter that has one; stop cancels them
// and waits until they have returned.
func (a *Agent) startRunners(ctx context.Context) (stop func()) {
	rctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	for _, e := range a.Exporters {
		r, ok := e.(exporters.Runner)
		if !ok {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := r.Run(rctx); err != nil {
				a.Log.Error("exporter stopped delivering", "exporter", e.Name(), "error", err)
			}
		}()
	}
	return func() { cancel(); wg.Wait() }
}

// cronLogger routes robfig/cron's own messages into slog.
type cronLogger struct{ log *slog.Logger }

func (l cronLogger) Info(msg string, kv ...any) { l.log.Debug("cron: "+msg, kv...) }
func (l cronLogger) Error(err error, msg string, kv ...any) {
	l.log.Error("cron: "+msg, append(kv, "error", err)...)
}
