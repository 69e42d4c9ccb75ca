package agent

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eucs-agent/eucs-agent/exporters"
)

// runningExporter records whether its delivery loop was running whenever a
// bundle was exported to it.
type runningExporter struct {
	running, stopped, flushed  atomic.Bool
	exports, exportsWithoutRun atomic.Int32
}

func (e *runningExporter) Name() string { return "background" }

func (e *runningExporter) Export(context.Context, exporters.Bundle) error {
	e.exports.Add(1)
	if !e.running.Load() {
		e.exportsWithoutRun.Add(1)
	}
	return nil
}

func (e *runningExporter) Run(ctx context.Context) error {
	e.running.Store(true)
	<-ctx.Done()
	e.running.Store(false)
	e.stopped.Store(true)
	return nil
}

func (e *runningExporter) Flush(context.Context) error { e.flushed.Store(true); return nil }

func TestServeRunsDeliverersAroundTheRuns(t *testing.T) {
	a := newTestAgent(t, &fakeCollector{findings: someFindings()})
	e := &runningExporter{}
	a.Exporters = []exporters.Exporter{e}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, everySecond{}, time.Second) }()
	deadline := time.Now().Add(10 * time.Second)
	for e.exports.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if e.exports.Load() == 0 {
		t.Fatal("no run exported anything")
	}
	if n := e.exportsWithoutRun.Load(); n != 0 {
		t.Errorf("%d bundles were exported while the delivery loop was not running", n)
	}
	if !e.stopped.Load() {
		t.Error("Serve returned with the delivery loop still running")
	}
}

func TestFlushReachesQueueingExporters(t *testing.T) {
	a := newTestAgent(t, &fakeCollector{findings: someFindings()})
	e := &runningExporter{}
	a.Exporters = []exporters.Exporter{&failingExporter{}, e}
	a.Flush(context.Background())
	if !e.flushed.Load() {
		t.Error("Flush did not reach the exporter")
	}
}
