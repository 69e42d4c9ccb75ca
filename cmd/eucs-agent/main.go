// Command eucs-agent collects cloud configuration evidence, maps it to the
// EUCS requirements, signs it as a chained DSSE/in-toto bundle and delivers
// it. Run `eucs-agent help` for the commands.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	_ "time/tzdata" // the container image has no zoneinfo; schedules may name a time zone
)

// version is stamped at build time: -ldflags "-X main.version=1.2.3".
var version = "dev"

// Exit codes.
const (
	exitOK       = 0
	exitFailed   = 1 // verification failed, or a run could not complete
	exitBadUsage = 2 // bad usage or bad config
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// command is one subcommand.
type command struct {
	name    string
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

func commands() []command {
	return []command{
		{"demo", "run one collection against the built-in simulated estate (no cloud account needed)", cmdDemo},
		{"collect", "run one collection now, as configured, then exit", cmdCollect},
		{"run", "run as a daemon, collecting on the configured cron schedule", cmdRun},
		{"verify", "verify bundles: signatures, subject digests and the chain", cmdVerify},
		{"keygen", "create an ECDSA P-256 signing key pair", cmdKeygen},
		{"validate", "check a config file and report every problem at once", cmdValidate},
		{"catalog", "list the EUCS requirements and which ones are automated", cmdCatalog},
		{"version", "print the agent's version", cmdVersion},
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 || args[0] == "help" || args[0] == "-h" || args[0] == "--help" {
		usage(stdout)
		if len(args) == 0 {
			return exitBadUsage
		}
		return exitOK
	}
	for _, c := range commands() {
		if c.name == args[0] {
			return c.run(ctx, args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "eucs-agent: unknown command %q\n\n", args[0])
	usage(stderr)
	return exitBadUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "eucs-agent: continuous EUCS evidence from AWS, signed and chained.")
	fmt.Fprintln(w, "\nUsage: eucs-agent COMMAND [flags]\n\nCommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-9s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'eucs-agent COMMAND --help' for a command's flags.")
	fmt.Fprintln(w, "Exit codes: 0 the agent did its job (whatever the findings), 1 verification or the run failed, 2 bad usage or config.")
}

// newFlags returns a flag set whose --help prints to stdout and whose
// errors print to stderr.
func newFlags(name, synopsis string, stdout, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stdout, "Usage: eucs-agent %s\n\n", synopsis)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		fs.SetOutput(stderr)
	}
	return fs
}

// parse parses args; ok is false when the command should return code.
func parse(fs *flag.FlagSet, args []string) (code int, ok bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return exitOK, false
		}
		return exitBadUsage, false
	}
	return 0, true
}

func cmdVersion(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("version", "version", stdout, stderr)
	if code, ok := parse(fs, args); !ok {
		return code
	}
	fmt.Fprintln(stdout, "eucs-agent", version)
	return exitOK
}
