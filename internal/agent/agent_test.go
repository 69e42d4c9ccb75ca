package agent

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/eucs-agent/eucs-agent/collectors"
	"github.com/eucs-agent/eucs-agent/controls"
	"github.com/eucs-agent/eucs-agent/exporters"
	"github.com/eucs-agent/eucs-agent/exporters/directory"
	"github.com/eucs-agent/eucs-agent/internal/bundle"
	"github.com/eucs-agent/eucs-agent/internal/finding"
)

// fakeCollector emits a fixed set of findings, optionally blocking until
// released, and can fail.
type fakeCollector struct {
	findings []finding.Finding
	err      error
	block    chan struct{}
	started  chan struct{}
	runs     atomic.Int32
}

func (c *fakeCollector) Name() string { return "fake" }

func (c *fakeCollector) Collect(ctx context.Context, sink finding.Sink) error {
	c.runs.Add(1)
	if c.started != nil {
		c.started <- struct{}{}
	}
	if c.block != nil {
		select {
		case <-c.block:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	for _, f := range c.findings {
		if err := sink.Finding(ctx, f); err != nil {
			return err
		}
	}
	return c.err
}

type failingExporter struct{ calls atomic.Int32 }

func (e *failingExporter) Name() string { return "failing" }
func (e *failingExporter) Export(context.Context, exporters.Bundle) error {
	e.calls.Add(1)
	return errors.New("receiver unreachable")
}

func newTestAgent(t *testing.T, c *fakeCollector) *Agent {
	t.Helper()
	dir := t.TempDir()
	set, err := controls.Load()
	if err != nil {
		t.Fatal(err)
	}
	priv, _, err := bundle.GenerateKey(dir)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := bundle.LoadFileSigner(priv)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := directory.New(directory.Config{Path: filepath.Join(dir, "evidence")})
	if err != nil {
		t.Fatal(err)
	}
	return &Agent{
		Service: "test", Level: controls.High, Version: "test", Collectors: []collectors.Collector{c},
		Set: set, Signer: signer, Evidence: ev, StateDir: filepath.Join(dir, "state"),
		Log: slog.New(slog.NewTextHandler(io.Discard, nil)),
	}
}

func someFindings() []finding.Finding {
	return []finding.Finding{
		{Check: "aws.s3.versioning", Provider: "aws", Account: "111111111111", Region: "eu-west-1", Service: "s3", Resource: "arn:aws:s3:::a", Status: finding.Pass},
		{Check: "aws.s3.versioning", Provider: "aws", Account: "111111111111", Region: "eu-west-1", Service: "s3", Resource: "arn:aws:s3:::b", Status: finding.Fail},
		{Check: "aws.iam.root_mfa", Provider: "aws", Account: "222222222222", Region: "global", Service: "iam", Resource: "*", Status: finding.NotAssessed, Reason: finding.AccessDenied},
	}
}

func TestRunOnceSealsChainsAndAdvancesState(t *testing.T) {
	a := newTestAgent(t, &fakeCollector{findings: someFindings()})
	var files []bundle.Input
	for i := 1; i <= 2; i++ {
		s, err := a.RunOnce(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if s.Sequence != uint64(i) || s.Findings != 3 || s.Scopes != 2 {
			t.Errorf("run %d: %+v", i, s)
		}
		if s.Statuses[finding.Pass] != 1 || s.Statuses[finding.Fail] != 1 || s.NotAssessed[finding.AccessDenied] != 1 {
			t.Errorf("run %d counts: %v %v", i, s.Statuses, s.NotAssessed)
		}
		if s.Requirements[controls.NotSatisfied] == 0 || s.Requirements[controls.Manual] == 0 {
			t.Errorf("run %d requirements: %v", i, s.Requirements)
		}
		data, err := os.ReadFile(s.Path)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, bundle.Input{Name: s.Path, Data: data})
	}
	rep, err := bundle.Verify(context.Background(), a.Signer.Public(), files)
	if err != nil {
		t.Fatalf("chain does not verify: %v", err)
	}
	if rep.First != 1 || rep.Last != 2 {
		t.Errorf("report %v", rep)
	}
	st, err := bundle.LoadState(a.statePath())
	if err != nil || st.Sequence != 2 {
		t.Errorf("state %+v, %v", st, err)
	}
}

func TestAFailedRunSealsNothingAndKeepsTheChain(t *testing.T) {
	c := &fakeCollector{findings: someFindings()}
	a := newTestAgent(t, c)
	if _, err := a.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	c.err = errors.New("disk full")
	if _, err := a.RunOnce(context.Background()); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("err = %v", err)
	}
	c.err = nil
	s, err := a.RunOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if s.Sequence != 2 {
		t.Errorf("after a failed run the next bundle is %d, want 2 (no gap)", s.Sequence)
	}
	spool, _ := filepath.Glob(filepath.Join(a.StateDir, "spool", "*"))
	if len(spool) != 0 {
		t.Errorf("spool files left: %v", spool)
	}
}

func TestAFailingExporterDoesNotLoseTheBundle(t *testing.T) {
	a := newTestAgent(t, &fakeCollector{findings: someFindings()})
	fe := &failingExporter{}
	a.Exporters = []exporters.Exporter{fe}
	s, err := a.RunOnce(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if fe.calls.Load() != 1 {
		t.Errorf("exporter called %d times", fe.calls.Load())
	}
	if _, err := os.Stat(s.Path); err != nil {
		t.Errorf("bundle not in the evidence directory: %v", err)
	}
}

func TestTwoRunsNeverShareAChain(t *testing.T) {
	c := &fakeCollector{findings: someFindings(), block: make(chan struct{}), started: make(chan struct{}, 1)}
	a := newTestAgent(t, c)
	done := make(chan error, 1)
	go func() { _, err := a.RunOnce(context.Background()); done <- err }()
	<-c.started
	c.started = nil
	_, err := a.RunOnce(context.Background())
	if !errors.Is(err, ErrLocked) {
		t.Errorf("second concurrent run: %v, want ErrLocked", err)
	}
	close(c.block)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// everySecond fires every second, the finest cron resolution.
type everySecond struct{}

func (everySecond) Next(t time.Time) time.Time { return t.Truncate(time.Second).Add(time.Second) }

var _ cron.Schedule = everySecond{}

func TestServeSkipsOverlappingRunsAndCancelsAfterGrace(t *testing.T) {
	c := &fakeCollector{findings: someFindings(), block: make(chan struct{})}
	a := newTestAgent(t, c)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- a.Serve(ctx, everySecond{}, 100*time.Millisecond) }()
	// The first run blocks; the schedule fires at least twice more meanwhile.
	deadline := time.Now().Add(10 * time.Second)
	for c.runs.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(2500 * time.Millisecond)
	if n := c.runs.Load(); n != 1 {
		t.Errorf("%d runs started while the first was blocked, want 1", n)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	// The blocked run was cancelled after the grace period: nothing sealed.
	if files, _ := filepath.Glob(filepath.Join(filepath.Dir(a.Evidence.Path(1)), "*.json")); len(files) != 0 {
		t.Errorf("a cancelled run sealed %v", files)
	}
}

func TestReplicasSealChainsOfTheirOwn(t *testing.T) {
	// Two replicas of a sharded estate sign with the same key into chains
	// told apart by id; an auditor verifies them together.
	var files []bundle.Input
	var signer bundle.Signer
	for i := range 2 {
		a := newTestAgent(t, &fakeCollector{findings: someFindings()})
		if signer != nil {
			a.Signer = signer
		}
		signer = a.Signer
		a.Chain = bundle.ShardChain(i)
		for range 2 {
			s, err := a.RunOnce(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			data, err := os.ReadFile(s.Path)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(decodePayload(t, data)), `"chain":{"id":"shard-`+string(rune('0'+i))+`","sequence":`) {
				t.Errorf("replica %d: payload lacks its chain id", i)
			}
			files = append(files, bundle.Input{Name: s.Path, Data: data})
		}
		st, err := bundle.LoadState(a.statePath())
		if err != nil || st.Chain != a.Chain || st.Sequence != 2 {
			t.Errorf("replica %d state %+v, %v", i, st, err)
		}
	}
	rep, err := bundle.Verify(context.Background(), signer.Public(), files)
	if err != nil {
		t.Fatalf("the replicas' chains do not verify together: %v", err)
	}
	want := "4 bundles (2 chains: shard-0: sequences 1 to 2, shard-1: sequences 1 to 2), 12 findings, signed by key " + rep.KeyID
	if got := rep.String(); got != want {
		t.Errorf("report\n got %s\nwant %s", got, want)
	}
}

func TestAStateDirectoryKeepsOneChain(t *testing.T) {
	c := &fakeCollector{findings: someFindings()}
	a := newTestAgent(t, c)
	if _, err := a.RunOnce(context.Background()); err != nil {
		t.Fatal(err)
	}
	a.Chain = "shard-1"
	_, err := a.RunOnce(context.Background())
	want := "state directory " + a.StateDir + " keeps the unsharded chain (at sequence 1), but this agent is configured for chain shard-1: " +
		"a replica keeps its state directory and shard index for life; give a new chain a new state directory"
	if err == nil || err.Error() != want {
		t.Errorf("err = %v\nwant %s", err, want)
	}
	if got := c.runs.Load(); got != 1 {
		t.Errorf("the refused run collected anyway (%d collections)", got)
	}
}

// decodePayload returns a stored envelope's decoded payload.
func decodePayload(t *testing.T, envelope []byte) []byte {
	t.Helper()
	var env struct {
		Payload []byte `json:"payload"`
	}
	if err := json.Unmarshal(envelope, &env); err != nil {
		t.Fatal(err)
	}
	return env.Payload
}

func TestARunWithNoScopeSealsNothingAndFailsNothing(t *testing.T) {
	c := &fakeCollector{}
	a := newTestAgent(t, c)
	s, err := a.RunOnce(context.Background())
	if err != nil {
		t.Fatalf("a run with no scope failed: %v", err)
	}
	if !s.Empty || s.Sequence != 0 || s.Path != "" {
		t.Errorf("summary %+v, want an empty run at sequence 0", s)
	}
	if files, _ := filepath.Glob(filepath.Join(a.Evidence.Path(1), "..", "*.json")); len(files) != 0 {
		t.Errorf("an empty run wrote %v", files)
	}
	// Once there is something to assess, the chain starts at 1.
	c.findings = someFindings()
	if s, err := a.RunOnce(context.Background()); err != nil || s.Empty || s.Sequence != 1 {
		t.Errorf("the next run: %+v, %v", s, err)
	}
}
