// Command eucs-receiver is a certification body's end of the eucs-agent
// evidence feed: an HTTPS service with mutual TLS that accepts each
// tenant's signed evidence bundles, checks and stores them, answers with
// signed receipts and serves the CAB's auditors. Run `eucs-receiver help`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"

	"github.com/eucs-agent/eucs-agent/internal/cli"
)

// version is stamped at build time: -ldflags "-X main.version=1.2.3".
var version = "dev"

// Exit codes, as eucs-agent's.
const (
	exitOK       = cli.ExitOK
	exitFailed   = cli.ExitFailed
	exitBadUsage = cli.ExitBadUsage
)

func main() { app().Main() }

func app() *cli.App {
	return &cli.App{
		Name:     "eucs-receiver",
		Tagline:  "eucs-receiver: receives, checks and keeps eucs-agent evidence for a certification body.",
		Synopsis: "COMMAND [flags]   (or: eucs-receiver --data DIR to serve)",
		Commands: commands(),
		Default:  cmdServe,
	}
}

func commands() []cli.Command {
	return []cli.Command{
		{Name: "serve", Summary: "run the receiver (the default when the first argument is a flag)", Run: cmdServe},
		{Name: "init", Summary: "create a data directory: a CA, a server certificate and the receipt key (for trying it out)", Run: cmdInit},
		{Name: "client-cert", Summary: "issue a client certificate from the init CA for an agent or auditor (for trying it out)", Run: cmdClientCert},
		{Name: "tenant", Summary: "register cloud services and their agents' keys: add, add-key, revoke-key, list", Run: cmdTenant},
		{Name: "auditor", Summary: "register the CAB's auditors, who may read every tenant: add, list", Run: cmdAuditor},
		{Name: "version", Summary: "print the receiver's version", Run: cmdVersion},
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return app().Run(ctx, args, stdout, stderr)
}

// newFlags returns a flag set for one eucs-receiver command.
func newFlags(name, synopsis string, stdout, stderr io.Writer) *flag.FlagSet {
	return cli.NewFlags("eucs-receiver", name, synopsis, stdout, stderr)
}

// parse parses flags that may come before or after positional arguments
// (`tenant add NAME --key k.pub` as well as `tenant add --key k.pub NAME`).
func parse(fs *flag.FlagSet, args []string) (positional []string, code int, ok bool) {
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, exitOK, false
			}
			return nil, exitBadUsage, false
		}
		if fs.NArg() == 0 {
			return positional, 0, true
		}
		positional = append(positional, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %q is not one of debug, info, warn, error", level)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	switch format {
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format: %q is not one of json, text", format)
}

func cmdVersion(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("version", "version", stdout, stderr)
	if _, code, ok := parse(fs, args); !ok {
		return code
	}
	fmt.Fprintln(stdout, "eucs-receiver", version)
	return exitOK
}
