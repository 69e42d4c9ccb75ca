package main

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/eucs-agent/eucs-agent/collectors"
	"github.com/eucs-agent/eucs-agent/controls"
	"github.com/eucs-agent/eucs-agent/internal/agent"
	"github.com/eucs-agent/eucs-agent/internal/bundle"
	"github.com/eucs-agent/eucs-agent/internal/config"
	"github.com/eucs-agent/eucs-agent/internal/signer"
	"github.com/eucs-agent/eucs-agent/internal/telemetry"
)

// loadAgent reads the config at path and wires an agent from it, with its
// telemetry (the caller shuts it down); problems are printed to stderr and
// ok is false.
func loadAgent(ctx context.Context, path string, o config.Overrides, stderr io.Writer) (a *agent.Agent, cfg *config.Config, tel *telemetry.Telemetry, log *slog.Logger, ok bool) {
	cfg, err := config.LoadWith(path, o)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return nil, nil, nil, nil, false
	}
	log = newLogger(stderr, cfg.Log)
	tel, err = telemetry.Setup(ctx, cfg.Telemetry, version, log)
	if err != nil {
		fmt.Fprintf(stderr, "config %s: telemetry: %v\n", path, err)
		return nil, nil, nil, nil, false
	}
	a, err = buildAgent(ctx, cfg, sources{tel: tel}, log)
	if err != nil {
		shutdownTelemetry(ctx, tel, log)
		fmt.Fprintf(stderr, "config %s: %v\n", path, err)
		return nil, nil, nil, nil, false
	}
	instrument(a, cfg, tel)
	return a, cfg, tel, log, true
}

func cmdCollect(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("collect", "collect --config agent.yaml [--shard-index I --shard-count N] [--metrics-file FILE] [--linger DURATION]", stdout, stderr)
	path := fs.String("config", "agent.yaml", "config file")
	shard := shardFlags(fs)
	metricsFile := fs.String("metrics-file", "", "after the run, write its eucs_agent_* metrics to `FILE` in the Prometheus text format (atomically; for node_exporter's textfile collector)")
	linger := fs.Duration("linger", 0, "serve /metrics, /healthz and /readyz on telemetry.listen during the run and for this long after it, so that Prometheus can scrape the run's figures")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	o, err := shard()
	if err != nil {
		fmt.Fprintf(stderr, "collect: %v\n", err)
		return exitBadUsage
	}
	a, _, tel, log, ok := loadAgent(ctx, *path, o, stderr)
	if !ok {
		return exitBadUsage
	}
	defer shutdownTelemetry(ctx, tel, log)
	if *linger > 0 {
		if err := tel.Start(); err != nil {
			log.Error("cannot serve metrics", "error", err)
			return exitFailed
		}
	}
	s, err := a.RunOnce(ctx)
	// One bounded delivery pass for queueing exporters; what is left is
	// delivered by the next run.
	a.Flush(ctx)
	if *metricsFile != "" {
		if werr := tel.WriteMetrics(*metricsFile); werr != nil {
			log.Error("metrics not written", "error", werr)
		}
	}
	if *linger > 0 {
		log.Info("serving the run's metrics before exiting", "address", tel.Addr(), "linger", linger.String())
		select {
		case <-time.After(*linger):
		case <-ctx.Done():
		}
	}
	if err != nil {
		log.Error("run failed", "error", err)
		return exitFailed
	}
	printSummary(stdout, s, a.Level)
	return exitOK
}

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("run", "run --config agent.yaml [--shard-index I --shard-count N]", stdout, stderr)
	path := fs.String("config", "agent.yaml", "config file")
	shard := shardFlags(fs)
	grace := fs.Duration("grace", 30*time.Second, "on SIGTERM, how long the run in progress may take to finish before it is cancelled")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	o, err := shard()
	if err != nil {
		fmt.Fprintf(stderr, "run: %v\n", err)
		return exitBadUsage
	}
	a, cfg, tel, log, ok := loadAgent(ctx, *path, o, stderr)
	if !ok {
		return exitBadUsage
	}
	// The probes and /metrics are up before the first run and stay up
	// until the last one has ended; then the last spans and metrics are
	// pushed.
	defer shutdownTelemetry(ctx, tel, log)
	if err := tel.Start(); err != nil {
		log.Error("cannot serve metrics and probes", "error", err)
		return exitFailed
	}
	sched, _ := cfg.Cron() // validated by Load
	if err := a.Serve(ctx, sched, *grace); err != nil {
		log.Error("daemon failed", "error", err)
		return exitFailed
	}
	return exitOK
}

func cmdValidate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("validate", "validate --config agent.yaml [--shard-index I --shard-count N]", stdout, stderr)
	path := fs.String("config", "agent.yaml", "config file")
	shard := shardFlags(fs)
	if code, ok := parse(fs, args); !ok {
		return code
	}
	o, err := shard()
	if err != nil {
		fmt.Fprintf(stderr, "validate: %v\n", err)
		return exitBadUsage
	}
	cfg, err := config.LoadWith(*path, o)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitBadUsage
	}
	if _, err := controls.Load(); err != nil {
		fmt.Fprintln(stderr, err)
		return exitBadUsage
	}
	// Opening a KMS key fetches its public key: validate proves the key
	// exists, is P-256 and is readable with the agent's credentials.
	if _, err := signer.Open(ctx, cfg.Signing.Key, signer.Options{}); err != nil {
		fmt.Fprintf(stderr, "config %s: signing.key: %v\n", *path, err)
		return exitBadUsage
	}
	sched, _ := cfg.Cron()
	chain := ""
	if id := cfg.Chain(); id != "" {
		chain = ", chain " + id
	}
	fmt.Fprintf(stdout, "config %s is valid: service %q at level %s%s, next run %s\n",
		*path, cfg.Service, cfg.TargetLevel(), chain, sched.Next(time.Now()).Format(time.RFC3339))
	return exitOK
}

func cmdKeygen(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("keygen", "keygen --out DIR", stdout, stderr)
	out := fs.String("out", ".", "directory to write key.pem (private, 0600) and key.pub to")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if err := os.MkdirAll(*out, 0o750); err != nil {
		fmt.Fprintf(stderr, "keygen: %v\n", err)
		return exitFailed
	}
	priv, pub, err := bundle.GenerateKey(*out)
	if err != nil {
		fmt.Fprintf(stderr, "keygen: %v\n", err)
		return exitFailed
	}
	fmt.Fprintf(stdout, "private key: %s (keep it secret; set signing.key to it)\npublic key:  %s (give it to your auditors)\n", priv, pub)
	return exitOK
}

func cmdVerify(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("verify", "verify --key agent.pub FILE...", stdout, stderr)
	keyPath := fs.String("key", "", "the agent's public key (PEM)")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	if *keyPath == "" || fs.NArg() == 0 {
		fmt.Fprintln(stderr, "verify: needs --key and at least one bundle file")
		return exitBadUsage
	}
	pub, err := bundle.LoadPublicKey(*keyPath)
	if err != nil {
		fmt.Fprintf(stderr, "verify: %v\n", err)
		return exitBadUsage
	}
	var inputs []bundle.Input
	for _, name := range fs.Args() {
		// Checked up front, read when verified: a run split into parts is
		// verified one part in memory at a time.
		f, err := os.Open(name)
		if err != nil {
			fmt.Fprintf(stderr, "verify: %v\n", err)
			return exitFailed
		}
		f.Close()
		inputs = append(inputs, bundle.Input{Name: name, Open: func() ([]byte, error) { return os.ReadFile(name) }})
	}
	rep, err := bundle.Verify(ctx, crypto.PublicKey(pub), inputs)
	if err != nil {
		fmt.Fprintf(stderr, "verification FAILED: %v\n", err)
		return exitFailed
	}
	fmt.Fprintf(stdout, "OK: %s\n", rep)
	return exitOK
}

func cmdCatalog(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("catalog", "catalog [--level high] [--format text|json]", stdout, stderr)
	levelFlag := fs.String("level", "high", "target assurance level: basic, substantial or high")
	format := fs.String("format", "text", "text or json")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	level, err := controls.ParseLevel(*levelFlag)
	if err != nil {
		fmt.Fprintf(stderr, "catalog: --level: %v\n", err)
		return exitBadUsage
	}
	if *format != "text" && *format != "json" {
		fmt.Fprintf(stderr, "catalog: --format: %q is not one of text, json\n", *format)
		return exitBadUsage
	}
	set, err := controls.Load()
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitFailed
	}
	type row struct {
		ID        string         `json:"id"`
		SourceID  string         `json:"source_id,omitempty"`
		Level     controls.Level `json:"level"`
		Control   string         `json:"control"`
		Title     string         `json:"control_title"`
		Status    string         `json:"automation"`
		Providers []string       `json:"providers,omitempty"`
		Checks    []string       `json:"checks,omitempty"`
	}
	var rows []row
	automated := map[string]int{}
	for _, r := range set.Catalog.Requirements() {
		if !r.Level.AppliesAt(level) {
			continue
		}
		ctl, _ := set.Catalog.Control(r.Control)
		rw := row{ID: r.ID, SourceID: r.SourceID, Level: r.Level, Control: r.Control, Title: ctl.Title,
			Status: "manual", Checks: set.ChecksFor(r.ID), Providers: set.Providers(r.ID)}
		if len(rw.Checks) > 0 {
			rw.Status = "automated"
			automated["any"]++
			for _, p := range rw.Providers {
				automated[p]++
			}
		}
		rows = append(rows, rw)
	}
	if *format == "json" {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rows); err != nil {
			fmt.Fprintln(stderr, err)
			return exitFailed
		}
		return exitOK
	}
	fmt.Fprintf(stdout, "EUCS requirements applicable at level %s: %d; automated: %d; manual: %d\n",
		level, len(rows), automated["any"], len(rows)-automated["any"])
	var per []string
	for _, p := range sortedStrings(providerNames(automated)) {
		per = append(per, fmt.Sprintf("%s %d", p, automated[p]))
	}
	if len(per) > 0 {
		fmt.Fprintf(stdout, "automated per cloud: %s\n", strings.Join(per, ", "))
	}
	fmt.Fprintln(stdout)
	fmt.Fprintf(stdout, "%-10s %-11s %-9s %s\n", "ID", "LEVEL", "STATUS", "CHECKS / CONTROL")
	for _, r := range rows {
		what := r.Title
		if len(r.Checks) > 0 {
			what = strings.Join(r.Checks, ", ")
		}
		fmt.Fprintf(stdout, "%-10s %-11s %-9s %s\n", r.ID, r.Level, r.Status, what)
	}
	return exitOK
}

func providerNames(m map[string]int) []string {
	var out []string
	for k := range m {
		if k != "any" {
			out = append(out, k)
		}
	}
	return out
}

// shardFlags declares --shard-index and --shard-count on fs. The returned
// function, called after parsing, gives the config overrides they make: a
// StatefulSet passes each pod's ordinal this way while all pods share one
// config file.
func shardFlags(fs *flag.FlagSet) func() (config.Overrides, error) {
	index := fs.Int("shard-index", -1, "this replica's shard `index`, from 0; overrides the config's shard blocks for every collector (with --shard-count)")
	count := fs.Int("shard-count", -1, "how many replicas share the estate (with --shard-index)")
	return func() (config.Overrides, error) {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		switch {
		case !set["shard-index"] && !set["shard-count"]:
			return config.Overrides{}, nil
		case !set["shard-index"] || !set["shard-count"]:
			return config.Overrides{}, errors.New("--shard-index and --shard-count must be given together")
		}
		s := &collectors.Shard{Index: *index, Count: *count}
		if err := s.Validate(); err != nil {
			var errs []error
			for _, line := range strings.Split(err.Error(), "\n") {
				errs = append(errs, errors.New("--shard-"+line))
			}
			return config.Overrides{}, errors.Join(errs...)
		}
		return config.Overrides{Shard: s}, nil
	}
}
