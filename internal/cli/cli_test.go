package cli

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
)

func testApp(ran *string) *App {
	cmd := func(name string) func(context.Context, []string, io.Writer, io.Writer) int {
		return func(_ context.Context, args []string, stdout, stderr io.Writer) int {
			fs := NewFlags("tool", name, name+" [--x]", stdout, stderr)
			fs.Bool("x", false, "an option")
			if code, ok := Parse(fs, args); !ok {
				return code
			}
			*ran = name
			return ExitOK
		}
	}
	return &App{
		Name: "tool", Tagline: "tool: does things.", Synopsis: "COMMAND [flags]",
		Commands: []Command{{"one", "the first", cmd("one")}, {"second", "the other", cmd("second")}},
		Default:  cmd("default"),
	}
}

func TestDispatchHelpAndExitCodes(t *testing.T) {
	tests := []struct {
		args     []string
		code     int
		ran      string
		inStdout string
		inStderr string
	}{
		{args: []string{"one"}, code: ExitOK, ran: "one"},
		{args: []string{"second", "-x"}, code: ExitOK, ran: "second"},
		{args: []string{"--x"}, code: ExitOK, ran: "default"},
		{args: nil, code: ExitBadUsage, inStdout: "  second  the other"},
		{args: []string{"help"}, code: ExitOK, inStdout: "Run 'tool COMMAND --help'"},
		{args: []string{"--help"}, code: ExitOK, inStdout: "Usage: tool COMMAND [flags]"},
		{args: []string{"one", "--help"}, code: ExitOK, inStdout: "Usage: tool one [--x]"},
		{args: []string{"one", "--nope"}, code: ExitBadUsage, inStderr: "flag provided but not defined: -nope"},
		{args: []string{"three"}, code: ExitBadUsage, inStderr: `tool: unknown command "three"`},
	}
	for _, tt := range tests {
		var ran string
		var stdout, stderr bytes.Buffer
		code := testApp(&ran).Run(context.Background(), tt.args, &stdout, &stderr)
		if code != tt.code || ran != tt.ran ||
			!strings.Contains(stdout.String(), tt.inStdout) || !strings.Contains(stderr.String(), tt.inStderr) {
			t.Errorf("%v: code %d ran %q\nstdout %q\nstderr %q", tt.args, code, ran, stdout.String(), stderr.String())
		}
	}
}
