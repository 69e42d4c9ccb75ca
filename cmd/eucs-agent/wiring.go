package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/arm"
	awssdk "github.com/aws/aws-sdk-go-v2/aws"
	"google.golang.org/api/option"

	"github.com/eucs-agent/eucs-agent/collectors"
	"github.com/eucs-agent/eucs-agent/collectors/aws"
	"github.com/eucs-agent/eucs-agent/collectors/azure"
	"github.com/eucs-agent/eucs-agent/collectors/gcp"
	"github.com/eucs-agent/eucs-agent/controls"
	"github.com/eucs-agent/eucs-agent/exporters"
	"github.com/eucs-agent/eucs-agent/exporters/cab"
	"github.com/eucs-agent/eucs-agent/exporters/directory"
	"github.com/eucs-agent/eucs-agent/internal/agent"
	"github.com/eucs-agent/eucs-agent/internal/config"
	"github.com/eucs-agent/eucs-agent/internal/signer"
	"github.com/eucs-agent/eucs-agent/internal/telemetry"
)

// newLogger builds the agent's slog logger from the config.
func newLogger(w io.Writer, cfg config.Log) *slog.Logger {
	var lvl slog.Level
	lvl.UnmarshalText([]byte(cfg.Level)) // validated already
	opts := &slog.HandlerOptions{Level: lvl}
	if cfg.Format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// sources carries what the wiring takes from outside the config: SDK base
// configuration and credentials (nil: the ambient ones; the demo passes its
// simulators').
type sources struct {
	awsBase   *awssdk.Config
	azureCred azcore.TokenCredential
	azureOpts *arm.ClientOptions
	// gcpOptions are extra client options; nil means Application Default
	// Credentials against Google's endpoints.
	gcpOptions []option.ClientOption
	// tel, when set, counts the collectors' API calls.
	tel *telemetry.Telemetry
}

// buildAgent wires an agent from a validated config: explicit, one line per
// component.
func buildAgent(ctx context.Context, cfg *config.Config, src sources, log *slog.Logger) (*agent.Agent, error) {
	set, err := controls.Load()
	if err != nil {
		return nil, err
	}
	key, err := signer.Open(ctx, cfg.Signing.Key, signer.Options{})
	if err != nil {
		return nil, fmt.Errorf("signing.key: %w", err)
	}
	evidence, err := directory.New(*cfg.Exporters.Directory)
	if err != nil {
		return nil, fmt.Errorf("exporters.directory: %w", err)
	}
	var exps []exporters.Exporter
	if cfg.Exporters.CertificationBody != nil {
		e, err := cab.New(*cfg.Exporters.CertificationBody, cfg.Exporters.Directory.Path, log)
		if err != nil {
			return nil, fmt.Errorf("exporters.certification_body: %w", err)
		}
		exps = append(exps, e)
	}
	var cs []collectors.Collector
	if cfg.Collectors.AWS != nil {
		base := src.awsBase
		if base == nil {
			b, err := aws.LoadBase(ctx, *cfg.Collectors.AWS)
			if err != nil {
				return nil, fmt.Errorf("collectors.aws: %w", err)
			}
			base = &b
		}
		cs = append(cs, aws.New(*cfg.Collectors.AWS, src.countAWSCalls(*base), log))
	}
	if cfg.Collectors.Azure != nil {
		cred := src.azureCred
		if cred == nil {
			if cred, err = azure.NewCredential(*cfg.Collectors.Azure); err != nil {
				return nil, fmt.Errorf("collectors.azure: %w", err)
			}
		}
		c, err := azure.New(*cfg.Collectors.Azure, cred, src.countAzureCalls(src.azureOpts), log)
		if err != nil {
			return nil, fmt.Errorf("collectors.azure: %w", err)
		}
		cs = append(cs, c)
	}
	if cfg.Collectors.GCP != nil {
		g, err := gcp.New(ctx, *cfg.Collectors.GCP, src.gcpOptions, log)
		if err != nil {
			return nil, fmt.Errorf("collectors.gcp: %w", err)
		}
		cs = append(cs, g)
	}
	return &agent.Agent{
		Service:    cfg.Service,
		Level:      cfg.TargetLevel(),
		Version:    version,
		Collectors: cs,
		Set:        set,
		Signer:     key,
		Evidence:   evidence,
		Exporters:  exps,
		StateDir:   cfg.StateDir,
		Chain:      cfg.Chain(),
		PartLimits: cfg.Parts.Limits(),
		Log:        log,
	}, nil
}

// printSummary writes what a person wants to know after a run.
func printSummary(w io.Writer, s *agent.Summary, level controls.Level) {
	if s.Empty {
		fmt.Fprintf(w, "Nothing sealed: no scope belongs to this agent (its shard owns none, or its filters leave none); the chain stays at sequence %d\n", s.Sequence)
		return
	}
	fmt.Fprintf(w, "Bundle %d sealed: %s\n", s.Sequence, s.Path)
	fmt.Fprintf(w, "  %d findings over %d scopes in %s\n", s.Findings, s.Scopes, s.Duration.Round(time.Millisecond))
	var parts []string
	for _, st := range agent.SortedKeys(s.Statuses) {
		parts = append(parts, fmt.Sprintf("%s %d", st, s.Statuses[st]))
	}
	fmt.Fprintf(w, "  findings: %s\n", strings.Join(parts, ", "))
	if len(s.NotAssessed) > 0 {
		parts = parts[:0]
		for _, r := range agent.SortedKeys(s.NotAssessed) {
			parts = append(parts, fmt.Sprintf("%s %d", r, s.NotAssessed[r]))
		}
		fmt.Fprintf(w, "  not assessed because: %s\n", strings.Join(parts, ", "))
	}
	total := 0
	for _, n := range s.Requirements {
		total += n
	}
	r := s.Requirements
	fmt.Fprintf(w, "EUCS requirements at level %s (%d apply):\n", level, total)
	rows := []struct {
		label string
		st    controls.RequirementStatus
	}{
		{"passed (satisfied)", controls.Satisfied},
		{"failed (not satisfied)", controls.NotSatisfied},
		{"not assessed", controls.NotAssessedReq},
		{"manual (no automated check)", controls.Manual},
	}
	for _, row := range rows {
		fmt.Fprintf(w, "  %-28s %4d\n", row.label, r[row.st])
	}
}

// sortedStrings returns a sorted copy.
func sortedStrings(in []string) []string {
	out := append([]string(nil), in...)
	sort.Strings(out)
	return out
}
