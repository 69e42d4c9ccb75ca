// Command eucs-agent collects cloud configuration evidence, maps it to the
// EUCS requirements, signs it as a chained DSSE/in-toto bundle and delivers
// it. Run `eucs-agent help` for the commands.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	_ "time/tzdata" // the container image has no zoneinfo; schedules may name a time zone

	"github.com/eucs-agent/eucs-agent/internal/cli"
)

// version is stamped at build time: -ldflags "-X main.version=1.2.3".
var version = "dev"

// Exit codes, as every command documents them.
const (
	exitOK       = cli.ExitOK
	exitFailed   = cli.ExitFailed   // verification failed, or a run could not complete
	exitBadUsage = cli.ExitBadUsage // bad usage or bad config
)

func main() { app().Main() }

func app() *cli.App {
	return &cli.App{
		Name:     "eucs-agent",
		Tagline:  "eucs-agent: continuous EUCS evidence from AWS, Azure and GCP, signed and chained.",
		Synopsis: "COMMAND [flags]",
		Footer:   []string{"Exit codes: 0 the agent did its job (whatever the findings), 1 verification or the run failed, 2 bad usage or config."},
		Commands: commands(),
	}
}

func commands() []cli.Command {
	return []cli.Command{
		{Name: "demo", Summary: "run one collection against the built-in simulated estate (no cloud account needed)", Run: cmdDemo},
		{Name: "collect", Summary: "run one collection now, as configured, then exit", Run: cmdCollect},
		{Name: "run", Summary: "run as a daemon, collecting on the configured cron schedule", Run: cmdRun},
		{Name: "verify", Summary: "verify bundles: signatures, subject digests and the chain", Run: cmdVerify},
		{Name: "keygen", Summary: "create an ECDSA P-256 signing key pair", Run: cmdKeygen},
		{Name: "validate", Summary: "check a config file and report every problem at once", Run: cmdValidate},
		{Name: "catalog", Summary: "list the EUCS requirements and which ones are automated", Run: cmdCatalog},
		{Name: "bench", Summary: "benchmark a full run against a generated, rate-limited simulated estate", Run: cmdBench},
		{Name: "version", Summary: "print the agent's version", Run: cmdVersion},
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return app().Run(ctx, args, stdout, stderr)
}

// newFlags returns a flag set for one eucs-agent command.
func newFlags(name, synopsis string, stdout, stderr io.Writer) *flag.FlagSet {
	return cli.NewFlags("eucs-agent", name, synopsis, stdout, stderr)
}

// parse parses args; ok is false when the command should return code.
func parse(fs *flag.FlagSet, args []string) (code int, ok bool) { return cli.Parse(fs, args) }

func cmdVersion(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("version", "version", stdout, stderr)
	if code, ok := parse(fs, args); !ok {
		return code
	}
	fmt.Fprintln(stdout, "eucs-agent", version)
	return exitOK
}
