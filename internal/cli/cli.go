// Package cli is the small command-line frame the project's binaries share:
// subcommands with their own flag sets, --help on each, and the exit codes
// every command documents (0 done, 1 failed, 2 bad usage or config).
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// Exit codes shared by every command.
const (
	ExitOK       = 0
	ExitFailed   = 1 // verification failed, or the work could not complete
	ExitBadUsage = 2 // bad usage or bad config
)

// Command is one subcommand.
type Command struct {
	Name    string
	Summary string
	Run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

// App is a binary made of subcommands.
type App struct {
	// Name is the binary's name, as users type it.
	Name string
	// Tagline is the first line of the usage text.
	Tagline string
	// Synopsis follows "Usage: NAME " in the usage text.
	Synopsis string
	// Footer lines end the usage text.
	Footer   []string
	Commands []Command
	// Default, when set, runs for arguments that name no command but start
	// with a flag (eucs-receiver --data DIR serves).
	Default func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

// Main runs the app on the process's arguments until SIGINT or SIGTERM
// cancels its context, then exits with its code.
func (a *App) Main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := a.Run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func isHelp(arg string) bool { return arg == "help" || arg == "-h" || arg == "--help" }

// Run dispatches args to the named command.
func (a *App) Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if a.Default != nil && len(args) > 0 && len(args[0]) > 0 && args[0][0] == '-' && !isHelp(args[0]) {
		return a.Default(ctx, args, stdout, stderr)
	}
	if len(args) == 0 || isHelp(args[0]) {
		a.Usage(stdout)
		if len(args) == 0 {
			return ExitBadUsage
		}
		return ExitOK
	}
	for _, c := range a.Commands {
		if c.Name == args[0] {
			return c.Run(ctx, args[1:], stdout, stderr)
		}
	}
	fmt.Fprintf(stderr, "%s: unknown command %q\n\n", a.Name, args[0])
	a.Usage(stderr)
	return ExitBadUsage
}

// Usage writes the list of commands.
func (a *App) Usage(w io.Writer) {
	width := 0
	for _, c := range a.Commands {
		width = max(width, len(c.Name))
	}
	fmt.Fprintln(w, a.Tagline)
	fmt.Fprintf(w, "\nUsage: %s %s\n\nCommands:\n", a.Name, a.Synopsis)
	for _, c := range a.Commands {
		fmt.Fprintf(w, "  %-*s  %s\n", width, c.Name, c.Summary)
	}
	fmt.Fprintf(w, "\nRun '%s COMMAND --help' for a command's flags.\n", a.Name)
	for _, l := range a.Footer {
		fmt.Fprintln(w, l)
	}
}

// NewFlags returns a flag set for one command of the binary named bin:
// --help prints the synopsis and flags to stdout, errors go to stderr.
func NewFlags(bin, name, synopsis string, stdout, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stdout, "Usage: %s %s\n\n", bin, synopsis)
		fs.SetOutput(stdout)
		fs.PrintDefaults()
		fs.SetOutput(stderr)
	}
	return fs
}

// Parse parses args; ok is false when the command should return code at
// once (0 after --help, 2 after a bad flag, already reported).
func Parse(fs *flag.FlagSet, args []string) (code int, ok bool) {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ExitOK, false
		}
		return ExitBadUsage, false
	}
	return 0, true
}
