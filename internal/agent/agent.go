// Package agent runs the pipeline: collectors stream findings through the
// EUCS mapping into the bundle writer; the run is sealed, signed, chained to
// the previous bundle, written to the evidence directory and handed to the
// other exporters. It also schedules runs as a daemon.
package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"syscall"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	"golang.org/x/sync/errgroup"

	"github.com/eucs-agent/eucs-agent/collectors"
	"github.com/eucs-agent/eucs-agent/controls"
	"github.com/eucs-agent/eucs-agent/exporters"
	"github.com/eucs-agent/eucs-agent/exporters/directory"
	"github.com/eucs-agent/eucs-agent/internal/bundle"
	"github.com/eucs-agent/eucs-agent/internal/finding"
)

// Agent is everything one run needs, wired by cmd/eucs-agent.
type Agent struct {
	Service    string
	Level      controls.Level
	Version    string
	Collectors []collectors.Collector
	Set        *controls.Set
	Signer     bundle.Signer
	// Evidence is the durable record: a bundle is written here before the
	// chain state advances, so a crash never forks or skips the chain.
	Evidence *directory.Exporter
	// Exporters receive each bundle after it is on disk; a failing one is
	// logged and does not fail the run (the bundle is safe in Evidence).
	Exporters []exporters.Exporter
	StateDir  string
	// Chain is the id of the chain this agent keeps: "" when it assesses
	// the whole estate, bundle.ShardChain(i) for replica i of a sharded
	// estate. A state directory keeps one chain: a run refuses to continue
	// a chain under another id.
	Chain string
	// PartLimits bound each signed envelope: a run whose evidence exceeds
	// them is sealed as parts and a manifest, so that sealing stays flat in
	// memory however large the estate. Zero means bundle.DefaultPartLimits.
	PartLimits bundle.PartLimits
	Log        *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// Observer, when set, is told about every run, collector and export
	// (metrics); nil is off.
	Observer Observer
	// Tracer traces runs: a span per run, collector, seal and export. Nil
	// records nothing.
	Tracer trace.Tracer
}

// Summary describes one finished run.
type Summary struct {
	RunID    string
	Sequence uint64
	Path     string
	Digest   string
	Findings int
	Scopes   int
	// Parts is how many parts the run was sealed in (Path is then its
	// manifest); 0 for a single bundle.
	Parts int
	// Empty is true for a run that found no scope to assess (a shard that
	// owns none, include filters that match none): nothing is sealed,
	// Path is empty and Sequence is where the chain still stands.
	Empty        bool
	Duration     time.Duration
	Statuses     map[finding.Status]int
	NotAssessed  map[finding.Reason]int
	Requirements map[controls.RequirementStatus]int
}

func (a *Agent) now() time.Time {
	if a.Now != nil {
		return a.Now()
	}
	return time.Now()
}

// statePath is where the chain state lives.
func (a *Agent) statePath() string { return filepath.Join(a.StateDir, "chain.json") }

// ChainState reads the chain state the next run continues from: the last
// sealed bundle, zero before the first.
func (a *Agent) ChainState() (bundle.State, error) { return bundle.LoadState(a.statePath()) }

// runOnce is RunOnce without its span and Observer report.
func (a *Agent) runOnce(ctx context.Context) (*Summary, error) {
	if err := os.MkdirAll(a.StateDir, 0o750); err != nil {
		return nil, fmt.Errorf("create state directory: %w", err)
	}
	unlock, err := lockDir(a.StateDir)
	if err != nil {
		return nil, err
	}
	defer unlock()

	// The chain state is read before collecting, so that a state the run
	// could not continue costs no API calls.
	state, err := bundle.LoadState(a.statePath())
	if err != nil {
		return nil, err
	}
	if state.Sequence == 0 {
		state.Chain = a.Chain
	} else if state.Chain != a.Chain {
		return nil, fmt.Errorf("state directory %s keeps %s (at sequence %d), but this agent is configured for %s: "+
			"a replica keeps its state directory and shard index for life; give a new chain a new state directory",
			a.StateDir, chainName(state.Chain), state.Sequence, chainName(a.Chain))
	}

	started := a.now().UTC()
	runID := fmt.Sprintf("%s-%d", started.Format("20060102T150405Z"), os.Getpid())
	log := a.Log.With("run", runID)
	log.Info("run started", "collectors", len(a.Collectors), "level", a.Level)

	spool := filepath.Join(a.StateDir, "spool")
	if err := os.MkdirAll(spool, 0o750); err != nil {
		return nil, fmt.Errorf("create spool directory: %w", err)
	}
	// We hold the lock, so any spool file here is a crashed run's leftover:
	// it was never sealed and is not evidence.
	if stale, _ := filepath.Glob(filepath.Join(spool, "*.spool")); len(stale) > 0 {
		log.Warn("removing spool files of an interrupted run", "files", len(stale))
		for _, f := range stale {
			os.Remove(f)
		}
	}
	limits := a.PartLimits
	if limits == (bundle.PartLimits{}) {
		limits = bundle.DefaultPartLimits()
	}
	w, err := bundle.NewPartWriter(spool, limits)
	if err != nil {
		return nil, fmt.Errorf("start bundle: %w", err)
	}
	defer w.Close()

	tally := a.Set.NewTally(a.Level)
	counts := &counter{next: w, statuses: map[finding.Status]int{}, reasons: map[finding.Reason]int{}}
	sink := a.Set.NewMapper(tally, counts)

	g, gctx := errgroup.WithContext(ctx)
	for _, c := range a.Collectors {
		g.Go(func() error {
			cctx, span := a.startSpan(gctx, "eucs_agent.collect", attribute.String("collector", c.Name()))
			start := time.Now()
			err := c.Collect(cctx, sink)
			a.collected(span, c.Name(), time.Since(start), err)
			log.Info("collector finished", "collector", c.Name(), "duration", time.Since(start), "error", errString(err))
			if err != nil {
				return fmt.Errorf("collector %s: %w", c.Name(), err)
			}
			return nil
		})
	}
	if err := g.Wait(); err != nil {
		return nil, fmt.Errorf("run %s: %w", runID, err)
	}
	if counts.findings() == 0 {
		// Every assessed scope yields findings (not_assessed ones when the
		// cloud refuses), so none means no scope was this agent's: a
		// replica whose shard owns nothing, or filters that leave nothing.
		// That is not a failure, and there is no evidence to sign; the
		// chain stays where it is until there is.
		log.Warn("no scope to assess: nothing sealed", "chain", chainName(a.Chain), "sequence", state.Sequence)
		return &Summary{
			RunID: runID, Sequence: state.Sequence, Empty: true, Duration: a.now().Sub(started),
			Statuses: counts.statuses, NotAssessed: counts.reasons, Requirements: map[controls.RequirementStatus]int{},
		}, nil
	}

	results := tally.Results()
	meta := bundle.Meta{RunID: runID, Started: started, Finished: a.now().UTC(), AgentVersion: a.Version, Service: a.Service, Level: a.Level}
	// Parts are stored as they are signed, one in memory at a time; the
	// manifest that names them is stored last, and only then does the chain
	// advance.
	var parts []string
	sealCtx, sealSpan := a.startSpan(ctx, "eucs_agent.seal")
	b, err := w.SealParts(sealCtx, meta, results, state.Next(), a.Signer, limits, func(ctx context.Context, p *bundle.Part) error {
		if err := a.Evidence.ExportPart(ctx, p.Sequence, p.Index, p.Envelope); err != nil {
			return err
		}
		parts = append(parts, a.Evidence.PartPath(p.Sequence, p.Index))
		log.Debug("part sealed", "sequence", p.Sequence, "part", p.Index, "of", p.Count, "findings", p.Findings, "digest", p.PayloadDigest)
		return nil
	})
	endSpan(sealSpan, err)
	if err != nil {
		return nil, fmt.Errorf("seal run %s: %w", runID, err)
	}
	out := exporters.Bundle{Sequence: b.Sequence, Digest: b.PayloadDigest, Envelope: b.Envelope, Parts: parts}
	ectx, span := a.startSpan(ctx, "eucs_agent.export", attribute.String("exporter", a.Evidence.Name()))
	err = a.Evidence.Export(ectx, out)
	a.exported(span, a.Evidence.Name(), true, err)
	if err != nil {
		return nil, err
	}
	if err := bundle.SaveState(a.statePath(), b.State()); err != nil {
		return nil, fmt.Errorf("bundle %d is written but the chain state is not: %w", b.Sequence, err)
	}
	for _, e := range a.Exporters {
		ectx, span := a.startSpan(ctx, "eucs_agent.export", attribute.String("exporter", e.Name()))
		err := e.Export(ectx, out)
		_, queues := e.(exporters.Flusher)
		a.exported(span, e.Name(), !queues, err)
		if err != nil {
			log.Error("export failed; the bundle is kept in the evidence directory", "exporter", e.Name(), "sequence", b.Sequence, "error", err)
		}
	}
	s := &Summary{
		RunID: runID, Sequence: b.Sequence, Path: a.Evidence.Path(b.Sequence), Digest: b.PayloadDigest,
		Findings: b.Findings, Scopes: b.Scopes, Parts: b.Parts, Duration: a.now().Sub(started),
		Statuses: counts.statuses, NotAssessed: counts.reasons, Requirements: controls.Summary(results),
	}
	log.Info("run sealed", "sequence", s.Sequence, "findings", s.Findings, "scopes", s.Scopes, "parts", s.Parts,
		"path", s.Path, "digest", s.Digest, "duration", s.Duration)
	return s, nil
}

// Flush gives every exporter that queues bundles one bounded chance to
// deliver them; a one-shot agent calls it after its run. A failure is
// logged, not returned: the bundles stay queued for the next run.
func (a *Agent) Flush(ctx context.Context) {
	for _, e := range a.Exporters {
		f, ok := e.(exporters.Flusher)
		if !ok {
			continue
		}
		fctx, span := a.startSpan(ctx, "eucs_agent.flush", attribute.String("exporter", e.Name()))
		err := f.Flush(fctx)
		a.exported(span, e.Name(), true, err)
		if err != nil {
			a.Log.Warn("exporter could not deliver everything; the rest stays queued for the next run", "exporter", e.Name(), "error", err)
		}
	}
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// counter counts findings by status and reason on their way to the writer.
type counter struct {
	next     finding.Sink
	mu       sync.Mutex
	statuses map[finding.Status]int
	reasons  map[finding.Reason]int
}

func (c *counter) Finding(ctx context.Context, f finding.Finding) error {
	c.mu.Lock()
	c.statuses[f.Status]++
	if f.Reason != "" {
		c.reasons[f.Reason]++
	}
	c.mu.Unlock()
	return c.next.Finding(ctx, f)
}

// findings is how many findings went through.
func (c *counter) findings() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, v := range c.statuses {
		n += v
	}
	return n
}

func (c *counter) Coverage(ctx context.Context, cv finding.Coverage) error {
	return c.next.Coverage(ctx, cv)
}

// ErrLocked is returned when another agent holds the state directory.
var ErrLocked = errors.New("another eucs-agent is running with this state directory; two agents must never sign into one chain")

// lockDir takes an exclusive lock on the state directory for the run, so
// that two agents (or two runs) never extend the same chain at once.
func lockDir(dir string) (func(), error) {
	p := filepath.Join(dir, "lock")
	f, err := os.OpenFile(p, os.O_CREATE|os.O_RDWR, 0o640)
	if err != nil {
		return nil, fmt.Errorf("lock state directory: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%s: %w", dir, ErrLocked)
		}
		return nil, fmt.Errorf("lock state directory: %w", err)
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// SortedKeys returns m's keys sorted, for stable summaries.
func SortedKeys[K ~string, V any](m map[K]V) []K {
	keys := make([]K, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	return keys
}

// chainName is how errors name a chain id; the unsharded chain has none.
func chainName(id string) string {
	if id == "" {
		return "the unsharded chain"
	}
	return "chain " + id
}
