package main

import (
	"context"
	"crypto"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/eucs-agent/eucs-agent/controls"
	"github.com/eucs-agent/eucs-agent/internal/agent"
	"github.com/eucs-agent/eucs-agent/internal/bundle"
	"github.com/eucs-agent/eucs-agent/internal/config"
)

// loadAgent reads the config at path and wires an agent from it; problems
// are printed to stderr and ok is false.
func loadAgent(ctx context.Context, path string, stderr io.Writer) (a *agent.Agent, cfg *config.Config, log *slog.Logger, ok bool) {
	cfg, err := config.Load(path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return nil, nil, nil, false
	}
	log = newLogger(stderr, cfg.Log)
	a, err = buildAgent(ctx, cfg, sources{}, log)
	if err != nil {
		fmt.Fprintf(stderr, "config %s: %v\n", path, err)
		return nil, nil, nil, false
	}
	return a, cfg, log, true
}

func cmdCollect(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("collect", "collect --config agent.yaml", stdout, stderr)
	path := fs.String("config", "agent.yaml", "config file")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	a, _, log, ok := loadAgent(ctx, *path, stderr)
	if !ok {
		return exitBadUsage
	}
	s, err := a.RunOnce(ctx)
	// One bounded delivery pass for queueing exporters; what is left is
	// delivered by the next run.
	a.Flush(ctx)
	if err != nil {
		log.Error("run failed", "error", err)
		return exitFailed
	}
	printSummary(stdout, s, a.Level)
	return exitOK
}

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("run", "run --config agent.yaml", stdout, stderr)
	path := fs.String("config", "agent.yaml", "config file")
	grace := fs.Duration("grace", 30*time.Second, "on SIGTERM, how long the run in progress may take to finish before it is cancelled")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	a, cfg, log, ok := loadAgent(ctx, *path, stderr)
	if !ok {
		return exitBadUsage
	}
	sched, _ := cfg.Cron() // validated by Load
	if err := a.Serve(ctx, sched, *grace); err != nil {
		log.Error("daemon failed", "error", err)
		return exitFailed
	}
	return exitOK
}

func cmdValidate(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("validate", "validate --config agent.yaml", stdout, stderr)
	path := fs.String("config", "agent.yaml", "config file")
	if code, ok := parse(fs, args); !ok {
		return code
	}
	cfg, err := config.Load(*path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitBadUsage
	}
	if _, err := controls.Load(); err != nil {
		fmt.Fprintln(stderr, err)
		return exitBadUsage
	}
	if _, err := bundle.LoadFileSigner(cfg.KeyPath()); err != nil {
		fmt.Fprintf(stderr, "config %s: signing.key: %v\n", *path, err)
		return exitBadUsage
	}
	sched, _ := cfg.Cron()
	fmt.Fprintf(stdout, "config %s is valid: service %q at level %s, next run %s\n",
		*path, cfg.Service, cfg.TargetLevel(), sched.Next(time.Now()).Format(time.RFC3339))
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
		data, err := os.ReadFile(name)
		if err != nil {
			fmt.Fprintf(stderr, "verify: %v\n", err)
			return exitFailed
		}
		inputs = append(inputs, bundle.Input{Name: name, Data: data})
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
